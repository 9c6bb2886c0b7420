"""The alert use cases: trigger, update, resolve, cancel (reading is
`server.services.alert_reads`).

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
from server.core.errors import Forbidden, NoSites
from server.core.permissions import Action, ActorKind, require, trigger_actions
from server.core.templates import Texts, template_for
from server.errors import ServiceError
from server.services.alert_reads import readable_alert
from server.services.sink import EventSink, events_committed
from server.storage import alerts as rows
from server.storage import audit
from server.storage.alerts import AlertChanged
from server.storage.callers import Caller
from server.storage.sites import staff_trigger_policy
from server.storage.tables import Alert, Organization

# Attempts of one trigger/change when a concurrent writer won a race (unique index, or the
# alert changed between reading and writing); the next attempt sees the winner's result.
ATTEMPTS = 5
MAX_IDEMPOTENCY_KEY = 200
T = TypeVar("T")
TextsIn = Mapping[str, str | None]


@dataclass(frozen=True)
class TriggerResult:
    """`event` is None when an existing alert is returned; `events` holds every event the
    trigger appended in seq order (cancelled drills/tests it superseded, then `triggered`)."""

    alert: dict[str, Any]
    event: dict[str, Any] | None
    created: bool
    events: tuple[dict[str, Any], ...] = ()


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

    Devices and API keys default to their own site; API keys trigger only `actual` alerts,
    of their configured kind unless `kind` is given. Raises NoSites, Forbidden, core text
    errors, or ServiceError (site.not_found, alert.idempotency_conflict, request.invalid).
    """
    request = await _checked_request(
        session=session,
        caller=caller,
        kind=kind,
        mode=mode,
        site_ids=site_ids,
        order=_texts(order),
        instructions=_texts(instructions),
        idempotency_key=idempotency_key,
    )
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
    return result


async def _checked_request(
    *,
    session: AsyncSession,
    caller: Caller,
    kind: Kind | None,
    mode: Mode,
    site_ids: Collection[int] | None,
    order: Texts | None,
    instructions: Texts | None,
    idempotency_key: str | None,
) -> core.TriggerRequest:
    """The trigger request once its sites exist and the caller may trigger on all of them."""
    organization_id = caller.organization_id
    actor = caller.actor
    if caller.api_key is not None:
        if mode != Mode.ACTUAL:
            raise Forbidden(detail="an API key triggers only actual alerts")
        kind = Kind(caller.api_key.kind) if kind is None else kind
    if kind is None:
        raise ServiceError("request.invalid", "kind is required")
    if site_ids is None and actor.kind != ActorKind.PERSON:
        site_ids = actor.site_ids
    requested = frozenset(site_ids or ())
    if not requested:
        raise NoSites()
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise ServiceError("request.invalid", "Idempotency-Key must be 1-200 characters")
    policy = await staff_trigger_policy(session, organization_id=organization_id)
    unknown = requested - policy.keys()
    if unknown:
        raise ServiceError("site.not_found", f"unknown site ids {sorted(unknown)}")
    for action in trigger_actions(mode):
        require(
            actor,
            action,
            organization_id=organization_id,
            site_ids=requested,
            staff_may_trigger={site: policy[site] for site in requested},
        )
    return core.TriggerRequest(
        organization_id=organization_id,
        kind=kind,
        mode=mode,
        site_ids=requested,
        order=order,
        instructions=instructions,
    )


async def _by_idempotency_key(
    *, session: AsyncSession, request: core.TriggerRequest, key: str
) -> dict[str, Any] | None:
    """The alert triggered earlier with `key`, or None; a different request → conflict."""
    organization_id = request.organization_id
    alert = await rows.by_idempotency_key(session, organization_id=organization_id, key=key)
    if alert is None:
        return None
    sites = (await rows.site_ids_of(session, alert_ids=[alert.id]))[alert.id]
    original = await rows.trigger_details(
        session, organization_id=organization_id, alert_id=alert.id
    )
    same = (
        original.get("kind", alert.kind) == request.kind.value
        and original.get("mode", alert.mode) == request.mode.value
        and sorted(original.get("requested_sites", sites)) == sorted(request.site_ids)
    )
    if not same:
        raise ServiceError("alert.idempotency_conflict", f"key used for alert {alert.id}")
    return rows.alert_document(alert, site_ids=sites)


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
        earlier = await _by_idempotency_key(session=session, request=request, key=idempotency_key)
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
    by_id = {a.id: a for a in active}
    if isinstance(decision, core.ExistingAlert):
        existing = by_id[decision.alert.id]
        await _record_repeated(
            session=session, caller=caller, request=request, alert=existing, now=now
        )
        await session.commit()
        document = rows.alert_document(existing, site_ids=active_sites[existing.id])
        return TriggerResult(alert=document, event=None, created=False)
    result = await _write_new(
        session=session,
        caller=caller,
        request=request,
        decision=decision,
        superseded=[(by_id[v.id], active_sites[v.id]) for v in decision.superseded],
        idempotency_key=idempotency_key,
        now=now,
    )
    await session.commit()
    return result


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
) -> dict[str, Any]:
    """Lock the alert, check `action` on all its sites, let core decide, write, commit once
    (retried on a race), then tell the sink; returns the event."""

    async def attempt() -> dict[str, Any]:
        alert, site_ids = await readable_alert(
            session=session, caller=caller, alert_id=alert_id, lock=True
        )
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
        return document

    event = await _retrying(session, attempt)
    await events_committed(sink, caller.organization_id, [event])
    return event


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
    """Replace the alert's kind and/or its single current order; returns the event."""
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

    return await _change(
        session=session,
        sink=sink,
        caller=caller,
        alert_id=alert_id,
        action=Action.UPDATE,
        decide=decide,
        now=now,
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
