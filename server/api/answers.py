"""Receipts and acks over HTTP, for clients without a WebSocket open (a service worker woken
by a push, a native app) and for a person answering from the dashboard.

    POST /alerts/{id}/receipts  {seq, state: delivered|displayed}   device token
    POST /alerts/{id}/ack       {response, note?, location?}        device token, or a
                                                                     person's session (themself)

Each body may also carry the WebSocket message's `alert_id` (a client can send the same
object either way); it must then name the path's alert (else 422 `request.invalid`).
    → 200 AnswersOut {"alert_id", "receipts": [receipt…]}: what is stored now

Both are idempotent and stored before the answer (server/services/answers.py).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from protocol.messages import MAX_SEQ
from protocol.vocabulary import ReceiptState, Response
from server.api.base import Body, BodyId, PathId
from server.api.deps import CurrentCaller, SessionDep, SinkDep
from server.clock import utcnow
from server.errors import ServiceError
from server.services import answers
from server.storage.tables import Receipt

router = APIRouter(prefix="/alerts", tags=["answers"])


class ReceiptIn(Body):
    seq: StrictInt = Field(ge=1, le=MAX_SEQ, description="the event received or shown")
    state: ReceiptState
    alert_id: BodyId | None = None  # optional; the path's alert when given


class AckIn(Body):
    """The WebSocket `ack`'s fields, checked as the WebSocket checks them (not stripped)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    response: Response
    note: StrictStr = ""  # ≤ 500 characters, may hold line breaks and tabs
    location: StrictStr = ""  # ≤ 200 characters, one line
    alert_id: BodyId | None = None  # optional; the path's alert when given


def _same_alert(path_id: int, body_id: int | None) -> None:
    if body_id is not None and body_id != path_id:
        raise ServiceError("request.invalid", f"alert_id {body_id} is not the path's {path_id}")


class ReceiptOut(BaseModel):
    """One device's receipt of the alert, as stored."""

    device_id: int
    delivered_at: datetime | None
    displayed_at: datetime | None
    acked_at: datetime | None
    response: Response | None
    note: str
    location: str
    seq: int | None  # the highest event seq this device receipted over HTTP


class AnswersOut(BaseModel):
    alert_id: int
    receipts: list[ReceiptOut]  # one for a device; a person's: one per device of theirs


def _answers_out(alert_id: int, rows: list[Receipt]) -> AnswersOut:
    return AnswersOut(
        alert_id=alert_id,
        receipts=[
            ReceiptOut(
                device_id=row.device_id,
                delivered_at=row.delivered_at,
                displayed_at=row.displayed_at,
                acked_at=row.acked_at,
                response=Response(row.response) if row.response else None,
                note=row.note,
                location=row.location,
                seq=row.seq,
            )
            for row in rows
        ],
    )


@router.post("/{alert_id}/receipts")
async def post_receipt(
    alert_id: PathId, body: ReceiptIn, session: SessionDep, sink: SinkDep, caller: CurrentCaller
) -> AnswersOut:
    """The calling device received (`delivered`) or shows (`displayed`) event `seq` of the
    alert (device tokens only). Idempotent; the receipt's `seq` never goes down."""
    _same_alert(alert_id, body.alert_id)
    rows = await answers.record_receipt(
        session=session,
        sink=sink,
        caller=caller,
        alert_id=alert_id,
        seq=body.seq,
        state=body.state,
        now=utcnow(),
    )
    return _answers_out(alert_id, rows)


@router.post("/{alert_id}/ack")
async def post_ack(
    alert_id: PathId, body: AckIn, session: SessionDep, sink: SinkDep, caller: CurrentCaller
) -> AnswersOut:
    """Answer the alert: a device for itself, or a person (login session) for themself — kept
    on each of their devices at the alert's sites. A later ack replaces the response."""
    _same_alert(alert_id, body.alert_id)
    rows = await answers.record_ack(
        session=session,
        sink=sink,
        caller=caller,
        alert_id=alert_id,
        response=body.response.value,
        note=body.note,
        location=body.location,
        now=utcnow(),
    )
    return _answers_out(alert_id, rows)
