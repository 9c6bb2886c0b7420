"""Alerts: trigger, read, update, resolve, cancel, and the event stream since a seq.

    POST  /alerts                {kind, mode?, site_ids?, order?, instructions?}
                                 + optional Idempotency-Key header
                                 → 201 {"alert", "created": true, "event"}
                                 | 200 {"alert", "created": false}
    GET   /alerts?state=active|ended|all&limit=&before_id=  → {"alerts": [alert…]}
    GET   /alerts/events?after_seq=&limit=                  → {"epoch", "seq", "events": […]}
    GET   /alerts/{id}                                      → alert
    PATCH /alerts/{id}           {kind?, order?, instructions?}  → event
    POST  /alerts/{id}/resolve                              → event
    POST  /alerts/{id}/cancel                               → event

Documents are described in `server.storage.alert_reads`. The service functions check permissions;
after each commit that appended an event the router hands it to `app.state.on_event` (the
realtime hub) when the app has one.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import StrictInt

from protocol.messages import MAX_SEQ
from protocol.vocabulary import Kind, Mode
from server.api.base import Body, PathId, QueryId
from server.api.deps import CurrentCaller, SessionDep
from server.clock import utcnow
from server.storage import alert_reads, alerts

log = logging.getLogger(__name__)

router = APIRouter(prefix="/alerts", tags=["alerts"])


class TextsIn(Body):
    """A text in Swedish and/or English; one language alone is used for both."""

    sv: str | None = None
    en: str | None = None


class TriggerIn(Body):
    kind: Kind | None = None  # API keys: defaults to the key's kind
    mode: Mode = Mode.ACTUAL
    site_ids: list[StrictInt] | None = None  # devices and API keys: defaults to their site
    order: TextsIn | None = None
    instructions: TextsIn | None = None


class UpdateIn(Body):
    kind: Kind | None = None
    order: TextsIn | None = None
    instructions: TextsIn | None = None


def _texts(value: TextsIn | None) -> dict[str, str | None] | None:
    return None if value is None else value.model_dump()


async def publish(request: Request, documents: list[dict[str, Any]], organization_id: int) -> None:
    """Hand committed events to the realtime hub, if the app has one. The database is the
    record: a failing hub is logged, and clients catch up by seq."""
    on_event = getattr(request.app.state, "on_event", None)
    if on_event is None:
        return
    for document in documents:
        try:
            await on_event(document, organization_id)
        except Exception:
            log.exception("on_event failed for seq %s", document.get("seq"))


@router.post("", status_code=201)
async def trigger_alert(
    body: TriggerIn,
    request: Request,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
    ] = None,
) -> dict[str, Any]:
    """Trigger an alert; a second trigger on covered sites returns the existing alert (200)."""
    result = await alerts.trigger(
        session,
        caller=caller,
        kind=body.kind,
        mode=body.mode,
        site_ids=None if body.site_ids is None else set(body.site_ids),
        order=_texts(body.order),
        instructions=_texts(body.instructions),
        idempotency_key=idempotency_key.strip() if idempotency_key else None,
        now=utcnow(),
    )
    if not result.created:
        response.status_code = 200
        return {"alert": result.alert, "created": False}
    await publish(request, list(result.events), caller.organization_id)
    return {"alert": result.alert, "created": True, "event": result.event}


@router.get("")
async def list_alerts(
    session: SessionDep,
    caller: CurrentCaller,
    state: Literal["active", "ended", "all"] = "active",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: QueryId = None,
) -> dict[str, Any]:
    """The alerts the caller receives, newest first; page with `before_id`."""
    found = await alert_reads.list_alerts(
        session, caller=caller, state=state, limit=limit, before_id=before_id
    )
    return {"alerts": found}


@router.get("/events")
async def alert_events(
    session: SessionDep,
    caller: CurrentCaller,
    after_seq: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> dict[str, Any]:
    """Events after `after_seq` the caller receives; continue from the returned `seq`."""
    epoch, seq, found = await alert_reads.events_since(
        session, caller=caller, after_seq=after_seq, limit=limit
    )
    return {"epoch": epoch, "seq": seq, "events": found}


@router.get("/{alert_id}")
async def get_alert(alert_id: PathId, session: SessionDep, caller: CurrentCaller) -> dict:
    """One alert."""
    return await alert_reads.get_alert(session, caller=caller, alert_id=alert_id)


@router.patch("/{alert_id}")
async def update_alert(
    alert_id: PathId, body: UpdateIn, request: Request, session: SessionDep, caller: CurrentCaller
) -> dict[str, Any]:
    """Replace the kind and/or the single current order; returns the `updated` event."""
    event = await alerts.update(
        session,
        caller=caller,
        alert_id=alert_id,
        kind=body.kind,
        order=_texts(body.order),
        instructions=_texts(body.instructions),
        now=utcnow(),
    )
    await publish(request, [event], caller.organization_id)
    return event


@router.post("/{alert_id}/resolve")
async def resolve_alert(
    alert_id: PathId, request: Request, session: SessionDep, caller: CurrentCaller
) -> dict[str, Any]:
    """Faran över: end the alert; returns the `resolved` event."""
    event = await alerts.resolve(session, caller=caller, alert_id=alert_id, now=utcnow())
    await publish(request, [event], caller.organization_id)
    return event


@router.post("/{alert_id}/cancel")
async def cancel_alert(
    alert_id: PathId, request: Request, session: SessionDep, caller: CurrentCaller
) -> dict[str, Any]:
    """False alarm: withdraw the alert; returns the `cancelled` event."""
    event = await alerts.cancel(session, caller=caller, alert_id=alert_id, now=utcnow())
    await publish(request, [event], caller.organization_id)
    return event
