"""Alerts: trigger, read, update, resolve, cancel, and the event stream since a seq.

    POST  /alerts                {kind, mode?, site_ids?, order?, instructions?}
                                 + optional Idempotency-Key header
                                 → 201 TriggerOut {"alert", "created": true, "event"}
                                 | 200 ExistingAlertOut {"alert", "created": false}
                                 | 200 EscalatedOut {"alert", "created": false,
                                       "escalated": true, "event"}
                                 | 409 alert.other_kind_active {"error", "alert"}
    GET   /alerts?state=active|ended|all&mode=&limit=&before_id=  → AlertListOut {"alerts"}
    GET   /alerts/events?after_seq=&limit=                  → EventsOut {"epoch", "seq", "events"}
    GET   /alerts/{id}                                      → AlertOut
    GET   /alerts/{id}/events                               → EventsOut, that alert's only
    PATCH /alerts/{id}           {kind?, order?, instructions?}  → EventOut
    POST  /alerts/{id}/resolve                              → EventOut
    POST  /alerts/{id}/cancel                               → EventOut

The routes only translate HTTP to `server.services.alerts` / `alert_reads` and back; the
services check permissions, commit, and tell the post-commit sink (`SinkDep`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, Field

from protocol.messages import MAX_SEQ
from protocol.vocabulary import AlertState, EventType, Kind, Mode
from server.api.base import Body, BodyId, PathId, QueryId
from server.api.deps import CurrentCaller, SessionDep, SinkDep
from server.clock import utcnow
from server.services import alert_reads, alerts
from server.services.trigger_requests import MAX_IDEMPOTENCY_KEY

router = APIRouter(prefix="/alerts", tags=["alerts"])

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class TextsIn(Body):
    """A text in Swedish and/or English; one language alone is used for both."""

    sv: str | None = None
    en: str | None = None


class TriggerIn(Body):
    kind: Kind | None = None  # API keys: defaults to the key's kind
    mode: Mode = Mode.ACTUAL
    site_ids: list[BodyId] | None = None  # devices and API keys: defaults to their site
    order: TextsIn | None = None
    instructions: TextsIn | None = None


class UpdateIn(Body):
    kind: Kind | None = None
    order: TextsIn | None = None
    instructions: TextsIn | None = None


class TextsOut(BaseModel):
    sv: str
    en: str


class AlertOut(BaseModel):
    """One alert as it is now (also each event's `alert`: as it was right after it)."""

    id: int
    kind: Kind
    mode: Mode
    state: AlertState
    sites: list[int]
    order: TextsOut
    instructions: TextsOut
    created_at: Timestamp
    updated_at: Timestamp
    ended_at: Timestamp | None
    created_by: str  # who triggered it, e.g. person:12, device:3, api_key:1


class EventOut(BaseModel):
    """One change of an alert, numbered by the organization's `seq`."""

    seq: int
    event: EventType
    at: Timestamp
    actor: str
    changes: dict[str, Any]
    alert: AlertOut


class TriggerOut(BaseModel):
    """A new alert (201) and its `triggered` event."""

    alert: AlertOut
    created: Literal[True]
    event: EventOut


class ExistingAlertOut(BaseModel):
    """An alert already covered the sites (200): it is returned, nothing was triggered."""

    alert: AlertOut
    created: Literal[False]


class EscalatedOut(BaseModel):
    """A more severe trigger (inrymning) escalated the alert that covered the sites (200):
    `event` is its `updated` event (`changes.escalated` is true)."""

    alert: AlertOut
    created: Literal[False]
    escalated: Literal[True]
    event: EventOut


class AlertListOut(BaseModel):
    alerts: list[AlertOut]


class EventsOut(BaseModel):
    """Events after `after_seq` the caller receives; continue from `seq` (same `epoch`)."""

    epoch: str
    seq: int
    events: list[EventOut]


def _texts(value: TextsIn | None) -> dict[str, str | None] | None:
    return None if value is None else value.model_dump()


@router.post(
    "",
    status_code=201,
    responses={
        200: {
            "model": ExistingAlertOut | EscalatedOut,
            "description": "An alert already covers them (escalated when the trigger was "
            "more severe)",
        }
    },
)
async def trigger_alert(
    body: TriggerIn,
    response: Response,
    session: SessionDep,
    sink: SinkDep,
    caller: CurrentCaller,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=MAX_IDEMPOTENCY_KEY),
    ] = None,
) -> TriggerOut | EscalatedOut | ExistingAlertOut:
    """Trigger an alert; a second trigger on covered sites returns the existing alert (200),
    escalated when the trigger is more severe; another kind answers 409."""
    result = await alerts.trigger(
        session=session,
        sink=sink,
        caller=caller,
        kind=body.kind,
        mode=body.mode,
        site_ids=None if body.site_ids is None else set(body.site_ids),
        order=_texts(body.order),
        instructions=_texts(body.instructions),
        idempotency_key=idempotency_key.strip() if idempotency_key else None,
        now=utcnow(),
    )
    if result.escalated:
        response.status_code = 200
        return EscalatedOut.model_validate(
            {"alert": result.alert, "created": False, "escalated": True, "event": result.event}
        )
    if not result.created:
        response.status_code = 200
        return ExistingAlertOut.model_validate({"alert": result.alert, "created": False})
    return TriggerOut.model_validate(
        {"alert": result.alert, "created": True, "event": result.event}
    )


@router.get("")
async def list_alerts(
    session: SessionDep,
    caller: CurrentCaller,
    state: Literal["active", "ended", "all"] = "active",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: QueryId = None,
    mode: Mode | None = None,
) -> AlertListOut:
    """The alerts the caller receives, newest first (only `mode`'s when given); page with
    `before_id`."""
    found = await alert_reads.list_alerts(
        session=session,
        caller=caller,
        state=state,
        limit=limit,
        before_id=before_id,
        mode=None if mode is None else mode.value,
    )
    return AlertListOut.model_validate({"alerts": found})


@router.get("/events")
async def alert_events(
    session: SessionDep,
    caller: CurrentCaller,
    after_seq: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> EventsOut:
    """Events after `after_seq` the caller receives; continue from the returned `seq`."""
    epoch, seq, found = await alert_reads.events_since(
        session=session, caller=caller, after_seq=after_seq, limit=limit
    )
    return EventsOut.model_validate({"epoch": epoch, "seq": seq, "events": found})


@router.get("/{alert_id}")
async def get_alert(alert_id: PathId, session: SessionDep, caller: CurrentCaller) -> AlertOut:
    """One alert."""
    found = await alert_reads.get_alert(session=session, caller=caller, alert_id=alert_id)
    return AlertOut.model_validate(found)


@router.get("/{alert_id}/events")
async def one_alert_events(
    alert_id: PathId, session: SessionDep, caller: CurrentCaller
) -> EventsOut:
    """Every event of one alert, oldest first: its history, for whoever may read the alert."""
    epoch, seq, found = await alert_reads.alert_events(
        session=session, caller=caller, alert_id=alert_id
    )
    return EventsOut.model_validate({"epoch": epoch, "seq": seq, "events": found})


@router.patch("/{alert_id}")
async def update_alert(
    alert_id: PathId, body: UpdateIn, session: SessionDep, sink: SinkDep, caller: CurrentCaller
) -> EventOut:
    """Replace the kind and/or the single current order; returns the `updated` event."""
    event = await alerts.update(
        session=session,
        sink=sink,
        caller=caller,
        alert_id=alert_id,
        kind=body.kind,
        order=_texts(body.order),
        instructions=_texts(body.instructions),
        now=utcnow(),
    )
    return EventOut.model_validate(event)


@router.post("/{alert_id}/resolve")
async def resolve_alert(
    alert_id: PathId, session: SessionDep, sink: SinkDep, caller: CurrentCaller
) -> EventOut:
    """Faran över: end the alert; returns the `resolved` event."""
    event = await alerts.resolve(
        session=session, sink=sink, caller=caller, alert_id=alert_id, now=utcnow()
    )
    return EventOut.model_validate(event)


@router.post("/{alert_id}/cancel")
async def cancel_alert(
    alert_id: PathId, session: SessionDep, sink: SinkDep, caller: CurrentCaller
) -> EventOut:
    """False alarm: withdraw the alert; returns the `cancelled` event."""
    event = await alerts.cancel(
        session=session, sink=sink, caller=caller, alert_id=alert_id, now=utcnow()
    )
    return EventOut.model_validate(event)
