"""The alert use cases: trigger, update, resolve, cancel (reading is
`server.services.alert_reads`; what a trigger may ask is checked in
`server.services.trigger_requests`).

Each one checks permissions (`server.core.permissions`), lets `server.core.alerts` decide,
writes through the repositories (`server.storage.alerts`: the alert's rows, its event with the
organization's next `seq`, an audit entry), commits ONCE, and then tells the post-commit sink
about every event it appended. When a concurrent writer won a race (the unique index on
active sites, or the alert changed between reading and writing) it rolls back and decides
again. HTTP, CLI and WebSocket paths all call these functions, so they share one check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import EventType, Kind, Mode
from server.core import alerts as core
from server.core.errors import Forbidden
from server.core.permissions import (
    Action,
    can,
    require,
    sites_where,
)
from server.core.templates import Texts, template_for
from server.errors import ServiceError
from server.services import trigger_requests as requests
from server.services.alert_reads import readable_alert
from server.services.sink import EventSink, events_committed
from server.storage import alerts as rows
from server.storage import audit
from server.storage.alerts import AlertChanged
from server.storage.callers import Caller
from server.storage.tables import Alert, Organization

# Attempts of one trigger/change when a concurrent writer won a race (unique index, or the
# alert changed between reading and writing); the next attempt sees the winner's result.
ATTEMPTS = 5
T = TypeVar("T")
TextsIn = Mapping[str, str | None]
# Why leaders got an `escalation_requested` (the `reason` of the request's `changes`).
OTHER_KIND_ACTIVE = "other_kind_active"  # a trigger of another, not more severe, kind
MULTI_SITE_UPDATE = "multi_site_update"  # an update by a leader of only some of its sites


@dataclass(frozen=True)
class TriggerResult:
    """`event` is None when an existing alert is returned unchanged; when the trigger
    escalated it (`escalated`) it is the `updated` event. `events` holds every event the
    trigger appended in seq order (escalations, escalation requests, cancelled drills/tests
    it superseded, then `triggered`). `other_kind`: the existing alert is of another kind
    and stays so; `trigger` then raises alert.other_kind_active after telling the sink."""

    alert: dict[str, Any]
    event: dict[str, Any] | None
    created: bool
    events: tuple[dict[str, Any], ...] = ()
    escalated: bool = False
    other_kind: bool = False


async def _retrying(
    session: AsyncSession,
    attempt: Callable[[], Awaitable[T]],
    *,
    races: tuple[type[Exception], ...] = (AlertChanged,),
) -> T:
    """Run `attempt`; when a concurrent writer won a race, roll back and decide again."""
    for number in range(ATTEMPTS):
        try:
            return await attempt()
        except races:
            await session.rollback()
            if number == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _texts(value: TextsIn | None) -> Texts | None:
    """Texts from a partial mapping: one language given serves both (better than a wrong
    text); nothing given (or only blanks) means "not given"."""
    if value is None:
        return None
    sv = (value.get("sv") or "").strip()
    en = (value.get("en") or "").strip()
    if not sv and not en:
        return None
    return Texts(sv=sv or en, en=en or sv)


# -- trigger -----------------------------------------------------------------------------


async def trigger(
    *,
    session: AsyncSession,
    sink: EventSink,
    caller: Caller,
    kind: Kind | None,
    mode: Mode,
    site_ids: Collection[int] | None,
    order: TextsIn | None = None,
    instructions: TextsIn | None = None,
    idempotency_key: str | None = None,
    now: datetime,
) -> TriggerResult:
    """Trigger an alert on `site_ids`, or return the alert that already covers them.

    Devices and API keys default to their own site; API keys trigger only `actual` alerts
    of their own kind with the organization's texts. A refusal of the caller's rights is
    audited (`alert.trigger_refused`) in its own transaction. Raises NoSites, Forbidden, core
    text errors, or ServiceError (site.not_found, alert.idempotency_conflict,
    request.invalid, api_key.kind_mismatch, api_key.text_not_allowed, and
    alert.other_kind_active after the leaders were told).
    """
    try:
        request = await requests.checked_request(
            session=session,
            caller=caller,
            kind=kind,
            mode=mode,
            site_ids=site_ids,
            order=_texts(order),
            instructions=_texts(instructions),
            idempotency_key=idempotency_key,
        )
    except (Forbidden, ServiceError) as refusal:
        if isinstance(refusal, Forbidden) or refusal.code.startswith("api_key."):
            await requests.record_refused(
                session=session,
                caller=caller,
                kind=kind,
                mode=mode,
                site_ids=site_ids,
                reason=refusal,
                now=now,
            )
        raise
    result = await _retrying(
        session,
        lambda: _trigger_once(
            session=session,
            caller=caller,
            request=request,
            idempotency_key=idempotency_key,
            now=now,
        ),
        races=(IntegrityError, AlertChanged),
    )
    await events_committed(sink, caller.organization_id, result.events)
    if result.other_kind:
        raise ServiceError(
            "alert.other_kind_active", f"alert {result.alert['id']}", extra={"alert": result.alert}
        )
    return result


async def _trigger_once(
    *,
    session: AsyncSession,
    caller: Caller,
    request: core.TriggerRequest,
    idempotency_key: str | None,
    now: datetime,
) -> TriggerResult:
    organization_id = request.organization_id
    if idempotency_key is not None:
        earlier = await requests.by_idempotency_key(
            session=session, caller=caller, request=request, key=idempotency_key
        )
        if earlier is not None:
            return TriggerResult(alert=earlier, event=None, created=False)
    organization = await session.get_one(Organization, organization_id)
    active = await rows.active_rows(session, organization_id=organization_id)
    active_sites = await rows.site_ids_of(session, alert_ids=[a.id for a in active])
    decision = core.decide_trigger(
        request,
        active=[rows.alert_view(a, site_ids=active_sites[a.id]) for a in active],
        template=template_for(request.kind, overrides=organization.templates),
    )
    by_id = {a.id: (a, active_sites[a.id]) for a in active}
    told = await _escalate_and_request(
        session=session, caller=caller, request=request, decision=decision, by_id=by_id, now=now
    )
    if isinstance(decision, core.ExistingAlert):
        result = await _existing(
            session=session,
            caller=caller,
            request=request,
            decision=decision,
            row=by_id[decision.alert.id],
            told=told,
            now=now,
        )
    else:
        result = await _write_new(
            session=session,
            caller=caller,
            request=request,
            decision=decision,
            superseded=[by_id[v.id] for v in decision.superseded],
            idempotency_key=idempotency_key,
            now=now,
        )
        result = TriggerResult(
            alert=result.alert,
            event=result.event,
            created=True,
            events=(*told.values(), *result.events),
        )
    await session.commit()
    return result


async def _escalate_and_request(
    *,
    session: AsyncSession,
    caller: Caller,
    request: core.TriggerRequest,
    decision: core.NewAlert | core.ExistingAlert,
    by_id: Mapping[int, tuple[Alert, list[int]]],
    now: datetime,
) -> dict[int, dict[str, Any]]:
    """Escalate the alerts the trigger escalates, tell the leaders of the alerts it asked to
    change; returns the appended events by alert id."""
    appended: dict[int, dict[str, Any]] = {}
    for escalation in decision.escalations:
        row, site_ids = by_id[escalation.alert.id]
        change = core.escalate_alert(escalation, now=now)
        await rows.apply_change(session, row, change=change, now=now)
        appended[row.id] = await rows.record_event(
            session,
            actor=caller.ref,
            alert=row,
            site_ids=site_ids,
            event=change.event,
            changes=change.changes,
            now=now,
            details={"requested_sites": sorted(request.site_ids)},
        )
    asked = {
        "kind": request.kind.value,
        "sites": sorted(request.site_ids),
        **({} if request.order is None else {"order": request.order.as_dict()}),
    }
    for view in decision.change_requested:
        row, site_ids = by_id[view.id]
        appended[row.id] = await _request_escalation(
            session=session,
            caller=caller,
            row=row,
            site_ids=site_ids,
            asked=asked,
            reason=OTHER_KIND_ACTIVE,
            now=now,
        )
    return appended


async def _request_escalation(
    *,
    session: AsyncSession,
    caller: Caller,
    row: Alert,
    site_ids: Collection[int],
    asked: Mapping[str, Any],
    reason: str,
    now: datetime,
) -> dict[str, Any]:
    """Tell the alert's leaders that the caller asked for a change that did not go out: an
    `updated` event that changes nothing but says `escalation_requested` (audited as
    `alert.escalation_requested`)."""
    return await rows.record_event(
        session,
        actor=caller.ref,
        alert=row,
        site_ids=site_ids,
        event=EventType.UPDATED,
        changes={"escalation_requested": {**asked, "reason": reason}},
        now=now,
        action="alert.escalation_requested",
    )


async def _existing(
    *,
    session: AsyncSession,
    caller: Caller,
    request: core.TriggerRequest,
    decision: core.ExistingAlert,
    row: tuple[Alert, list[int]],
    told: Mapping[int, dict[str, Any]],
    now: datetime,
) -> TriggerResult:
    """The answer when every requested site was covered: the alert, escalated or not."""
    alert, site_ids = row
    if alert.id not in told:
        await _record_repeated(
            session=session, caller=caller, request=request, alert=alert, now=now
        )
    document = rows.alert_document(alert, site_ids=site_ids)
    escalated = any(e.alert.id == alert.id for e in decision.escalations)
    return TriggerResult(
        alert=document,
        event=told.get(alert.id) if escalated or decision.other_kind else None,
        created=False,
        events=tuple(told.values()),
        escalated=escalated,
        other_kind=decision.other_kind,
    )


async def _record_repeated(
    *,
    session: AsyncSession,
    caller: Caller,
    request: core.TriggerRequest,
    alert: Alert,
    now: datetime,
) -> None:
    """Audit a trigger that found its sites already covered (no event: nothing changed)."""
    await audit.record(
        session,
        organization_id=request.organization_id,
        actor=caller.ref,
        action="alert.trigger_repeated",
        at=now,
        target=f"alert:{alert.id}",
        details={
            "kind": request.kind.value,
            "mode": request.mode.value,
            "requested_sites": sorted(request.site_ids),
        },
    )


async def _write_new(
    *,
    session: AsyncSession,
    caller: Caller,
    request: core.TriggerRequest,
    decision: core.NewAlert,
    superseded: list[tuple[Alert, list[int]]],
    idempotency_key: str | None,
    now: datetime,
) -> TriggerResult:
    """Cancel the drills/tests the new alert supersedes (freeing their sites first, so the
    unique index sees one active alert per site), then write the new alert."""
    ended: list[tuple[Alert, list[int], core.AlertChange]] = []
    for row, site_ids in superseded:
        change = core.cancel_alert(rows.alert_view(row, site_ids=site_ids), now=now)
        await rows.apply_change(session, row, change=change, now=now)
        ended.append((row, site_ids, change))
    alert = await rows.insert(
        session,
        organization_id=request.organization_id,
        decision=decision,
        created_by=caller.ref,
        idempotency_key=idempotency_key,
        now=now,
    )
    appended = [
        await rows.record_event(
            session,
            actor=caller.ref,
            alert=row,
            site_ids=site_ids,
            event=change.event,
            changes={**change.changes, "superseded_by": alert.id},
            now=now,
        )
        for row, site_ids, change in ended
    ]
    triggered = await rows.record_event(
        session,
        actor=caller.ref,
        alert=alert,
        site_ids=decision.site_ids,
        event=EventType.TRIGGERED,
        changes={},
        now=now,
        details={
            "kind": decision.kind.value,
            "mode": decision.mode.value,
            "sites": sorted(decision.site_ids),
            "requested_sites": sorted(request.site_ids),
            "idempotency_key": idempotency_key,
            "already_active": [a.id for a in decision.already_active],
            "superseded": [a.id for a in decision.superseded],
        },
    )
    appended.append(triggered)
    document = rows.alert_document(alert, site_ids=sorted(decision.site_ids))
    return TriggerResult(alert=document, event=triggered, created=True, events=tuple(appended))


# -- update, resolve, cancel -------------------------------------------------------------

Decide = Callable[[core.AlertView, Organization], core.AlertChange]


async def _change(
    *,
    session: AsyncSession,
    sink: EventSink,
    caller: Caller,
    alert_id: int,
    action: Action,
    decide: Decide,
    now: datetime,
    asked: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Lock the alert, check `action` on all its sites, let core decide, write, commit once
    (retried on a race), then tell the sink; returns the event.

    With `asked` (an update), a leader of only some of the alert's sites does not change it
    but tells its leaders (`escalation_requested`) and gets alert.led_by_security_chief."""

    async def attempt() -> tuple[dict[str, Any], bool]:
        alert, site_ids = await readable_alert(
            session=session, caller=caller, alert_id=alert_id, lock=True
        )
        if asked and _leads_only_some(caller, action, site_ids=site_ids):
            document = await _request_escalation(
                session=session,
                caller=caller,
                row=alert,
                site_ids=site_ids,
                asked=asked,
                reason=MULTI_SITE_UPDATE,
                now=now,
            )
            await session.commit()
            return document, False
        require(caller.actor, action, organization_id=caller.organization_id, site_ids=site_ids)
        organization = await session.get_one(Organization, caller.organization_id)
        change = decide(rows.alert_view(alert, site_ids=site_ids), organization)
        await rows.apply_change(session, alert, change=change, now=now)
        document = await rows.record_event(
            session,
            actor=caller.ref,
            alert=alert,
            site_ids=site_ids,
            event=change.event,
            changes=change.changes,
            now=now,
        )
        await session.commit()
        return document, True

    event, changed = await _retrying(session, attempt)
    await events_committed(sink, caller.organization_id, [event])
    if not changed:
        raise ServiceError(
            "alert.led_by_security_chief",
            f"alert {alert_id} covers sites the caller does not lead",
            extra={"alert": event["alert"]},
        )
    return event


def _leads_only_some(caller: Caller, action: Action, *, site_ids: Collection[int]) -> bool:
    """Whether the caller may `action` at some of the sites but not at all of them."""
    organization_id = caller.organization_id
    if can(caller.actor, action, organization_id=organization_id, site_ids=site_ids):
        return False
    return bool(sites_where(caller.actor, action, all_site_ids=site_ids))


async def update(
    *,
    session: AsyncSession,
    sink: EventSink,
    caller: Caller,
    alert_id: int,
    kind: Kind | None = None,
    order: TextsIn | None = None,
    instructions: TextsIn | None = None,
    now: datetime,
) -> dict[str, Any]:
    """Replace the alert's kind and/or its single current order; returns the event.

    An alert over several sites has ONE current order, led by whoever leads all of them: a
    principal of only some of them is refused (alert.led_by_security_chief) and the
    leaders are told what was asked (`escalation_requested`)."""
    new_order, new_instructions = _texts(order), _texts(instructions)

    def decide(view: core.AlertView, organization: Organization) -> core.AlertChange:
        template = None
        if kind is not None and kind != view.kind:
            template = template_for(kind, overrides=organization.templates)
        return core.update_alert(
            view,
            now=now,
            kind=kind,
            order=new_order,
            instructions=new_instructions,
            template=template,
        )

    asked: dict[str, Any] = {
        name: value
        for name, value in (
            ("kind", None if kind is None else kind.value),
            ("order", None if new_order is None else new_order.as_dict()),
            ("instructions", None if new_instructions is None else new_instructions.as_dict()),
        )
        if value is not None
    }
    return await _change(
        session=session,
        sink=sink,
        caller=caller,
        alert_id=alert_id,
        action=Action.UPDATE,
        decide=decide,
        now=now,
        asked=asked,
    )


async def resolve(
    *, session: AsyncSession, sink: EventSink, caller: Caller, alert_id: int, now: datetime
) -> dict[str, Any]:
    """End the alert: the danger is over (Faran över); returns the event."""

    def decide(view: core.AlertView, _organization: Organization) -> core.AlertChange:
        return core.resolve_alert(view, now=now)

    return await _change(
        session=session,
        sink=sink,
        caller=caller,
        alert_id=alert_id,
        action=Action.RESOLVE,
        decide=decide,
        now=now,
    )


async def cancel(
    *, session: AsyncSession, sink: EventSink, caller: Caller, alert_id: int, now: datetime
) -> dict[str, Any]:
    """Withdraw the alert as a false alarm; returns the event."""

    def decide(view: core.AlertView, _organization: Organization) -> core.AlertChange:
        return core.cancel_alert(view, now=now)

    return await _change(
        session=session,
        sink=sink,
        caller=caller,
        alert_id=alert_id,
        action=Action.CANCEL,
        decide=decide,
        now=now,
    )
