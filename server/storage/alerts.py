"""The alert lifecycle on the database: trigger, update, resolve, cancel (reading is
`server.storage.alert_reads`). `server.core.alerts` decides; this module loads the state it
needs, checks permissions with `server.core.permissions`, and writes each change as ONE
transaction: the alert's rows, its event (next `seq`, the full alert document) and an audit
entry.

HTTP, CLI and WebSocket paths all call these functions, so they share one permission check.
The documents (wire shapes) are described in `server.storage.alert_reads`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import AlertState, EventType, Kind, Mode
from server.core import alerts as core
from server.core.errors import Forbidden, NoSites
from server.core.permissions import Action, ActorKind, require, trigger_actions
from server.core.templates import Texts, template_for
from server.errors import ServiceError
from server.storage import audit, events
from server.storage.alert_reads import active_rows, alert_document, readable_alert, site_ids_of
from server.storage.callers import Caller
from server.storage.sites import staff_trigger_policy
from server.storage.tables import Alert, AlertSite, Organization

# Attempts of one trigger/change when a concurrent writer won a race (unique index, or the
# alert changed between reading and writing); the next attempt sees the winner's result.
ATTEMPTS = 5
MAX_IDEMPOTENCY_KEY = 200
T = TypeVar("T")


class _Raced(Exception):
    """A concurrent transaction changed what this one decided on: roll back and decide again."""


async def _retrying(
    session: AsyncSession,
    attempt: Callable[[], Awaitable[T]],
    *,
    races: tuple[type[Exception], ...] = (_Raced,),
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


@dataclass(frozen=True)
class TriggerResult:
    """`event` is None when an existing alert is returned; `events` holds every event the
    trigger appended in seq order (cancelled drills/tests it superseded, then `triggered`)."""

    alert: dict[str, Any]
    event: dict[str, Any] | None
    created: bool
    events: tuple[dict[str, Any], ...] = ()


# -- events ------------------------------------------------------------------------------


async def _record(
    session: AsyncSession,
    *,
    caller: Caller,
    alert: Alert,
    site_ids: Collection[int],
    event: EventType,
    changes: Mapping[str, Any],
    now: datetime,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Append the alert's event (its document as it is now) and the matching audit entry
    (`alert.<event>`); returns the event document. The caller commits."""
    row = await events.append(
        session,
        organization_id=alert.organization_id,
        alert_id=alert.id,
        type=event.value,
        actor=caller.ref,
        at=now,
        alert=alert_document(alert, site_ids=sorted(site_ids)),
        changes=changes,
    )
    await audit.record(
        session,
        organization_id=alert.organization_id,
        actor=caller.ref,
        action=f"alert.{event.value}",
        at=now,
        target=f"alert:{alert.id}",
        details={"seq": row.seq, "changes": dict(changes), **(details or {})},
    )
    return events.event_document(row)


# -- loading -----------------------------------------------------------------------------


def _texts(value: Mapping[str, str | None] | None) -> Texts | None:
    """Texts from a partial mapping: one language given serves both (better than a wrong
    text); nothing given (or only blanks) means "not given"."""
    if value is None:
        return None
    sv = (value.get("sv") or "").strip()
    en = (value.get("en") or "").strip()
    if not sv and not en:
        return None
    return Texts(sv=sv or en, en=en or sv)


def _view(alert: Alert, site_ids: Collection[int]) -> core.AlertView:
    return core.AlertView(
        id=alert.id,
        organization_id=alert.organization_id,
        kind=Kind(alert.kind),
        mode=Mode(alert.mode),
        state=AlertState(alert.state),
        site_ids=frozenset(site_ids),
        order=Texts(sv=alert.order_sv, en=alert.order_en),
        instructions=Texts(sv=alert.instructions_sv, en=alert.instructions_en),
        created_at=alert.created_at,
        updated_at=alert.updated_at,
    )


# -- trigger -----------------------------------------------------------------------------


async def trigger(
    session: AsyncSession,
    *,
    caller: Caller,
    kind: Kind | None,
    mode: Mode,
    site_ids: Collection[int] | None,
    order: Mapping[str, str | None] | None = None,
    instructions: Mapping[str, str | None] | None = None,
    idempotency_key: str | None = None,
    now: datetime,
) -> TriggerResult:
    """Trigger an alert on `site_ids`, or return the alert that already covers them.

    Devices and API keys default to their own site; API keys trigger only `actual` alerts,
    of their configured kind unless `kind` is given. Raises NoSites, Forbidden, core text
    errors, or ServiceError (site.not_found, alert.idempotency_conflict, request.invalid).
    """
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
    request = core.TriggerRequest(
        organization_id=organization_id,
        kind=kind,
        mode=mode,
        site_ids=requested,
        order=_texts(order),
        instructions=_texts(instructions),
    )
    return await _retrying(
        session,
        lambda: _trigger_once(
            session, caller=caller, request=request, idempotency_key=idempotency_key, now=now
        ),
        races=(IntegrityError, _Raced),
    )


async def _by_idempotency_key(
    session: AsyncSession, *, request: core.TriggerRequest, key: str
) -> dict[str, Any] | None:
    """The alert triggered earlier with `key`, or None; a different request → conflict."""
    alert = await session.scalar(
        select(Alert).where(
            Alert.organization_id == request.organization_id, Alert.idempotency_key == key
        )
    )
    if alert is None:
        return None
    sites = (await site_ids_of(session, [alert.id]))[alert.id]
    entries = await audit.search(
        session,
        organization_id=request.organization_id,
        action="alert.triggered",
        target=f"alert:{alert.id}",
        limit=1,
    )
    original = entries[0].details if entries else {}
    same = (
        original.get("kind", alert.kind) == request.kind.value
        and original.get("mode", alert.mode) == request.mode.value
        and sorted(original.get("requested_sites", sites)) == sorted(request.site_ids)
    )
    if not same:
        raise ServiceError("alert.idempotency_conflict", f"key used for alert {alert.id}")
    return alert_document(alert, site_ids=sites)


async def _trigger_once(
    session: AsyncSession,
    *,
    caller: Caller,
    request: core.TriggerRequest,
    idempotency_key: str | None,
    now: datetime,
) -> TriggerResult:
    organization_id = request.organization_id
    if idempotency_key is not None:
        earlier = await _by_idempotency_key(session, request=request, key=idempotency_key)
        if earlier is not None:
            return TriggerResult(alert=earlier, event=None, created=False)
    organization = await session.get_one(Organization, organization_id)
    active = await active_rows(session, organization_id=organization_id)
    active_sites = await site_ids_of(session, [a.id for a in active])
    rows = {a.id: a for a in active}
    decision = core.decide_trigger(
        request,
        active=[_view(a, active_sites[a.id]) for a in active],
        template=template_for(request.kind, overrides=organization.templates),
    )
    if isinstance(decision, core.ExistingAlert):
        existing = rows[decision.alert.id]
        await audit.record(
            session,
            organization_id=organization_id,
            actor=caller.ref,
            action="alert.trigger_repeated",
            at=now,
            target=f"alert:{existing.id}",
            details={
                "kind": request.kind.value,
                "mode": request.mode.value,
                "requested_sites": sorted(request.site_ids),
            },
        )
        await session.commit()
        document = alert_document(existing, site_ids=active_sites[existing.id])
        return TriggerResult(alert=document, event=None, created=False)

    # Superseded drills/tests free their sites first: the unique index sees one active alert.
    ended: list[tuple[Alert, core.AlertChange]] = []
    for view in decision.superseded:
        change = core.cancel_alert(view, now=now)
        row = rows[view.id]
        await _claim(session, row, now=now)
        _apply(row, change, now=now)
        await _end_sites(session, alert_id=row.id)
        ended.append((row, change))

    alert = Alert(
        organization_id=organization_id,
        kind=decision.kind.value,
        mode=decision.mode.value,
        state=AlertState.ACTIVE.value,
        order_sv=decision.order.sv,
        order_en=decision.order.en,
        instructions_sv=decision.instructions.sv,
        instructions_en=decision.instructions.en,
        created_by=caller.ref,
        idempotency_key=idempotency_key,
        created_at=now,
        updated_at=now,
        ended_at=None,
    )
    session.add(alert)
    await session.flush()
    for site_id in sorted(decision.site_ids):
        session.add(
            AlertSite(
                alert_id=alert.id, site_id=site_id, organization_id=organization_id, active=True
            )
        )
    await session.flush()

    appended = [
        await _record(
            session,
            caller=caller,
            alert=row,
            site_ids=active_sites[row.id],
            event=change.event,
            changes={**change.changes, "superseded_by": alert.id},
            now=now,
        )
        for row, change in ended
    ]
    document = alert_document(alert, site_ids=sorted(decision.site_ids))
    triggered = await _record(
        session,
        caller=caller,
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
    await session.commit()
    appended.append(triggered)
    return TriggerResult(alert=document, event=triggered, created=True, events=tuple(appended))


# -- update, resolve, cancel -------------------------------------------------------------


async def _claim(session: AsyncSession, alert: Alert, *, now: datetime) -> None:
    """Write-lock the alert if it is still as read (active, same `updated_at`), else _Raced.
    On PostgreSQL the row is already locked; on SQLite this write takes the database lock."""
    result = await session.execute(
        sql_update(Alert)
        .where(
            Alert.id == alert.id,
            Alert.state == AlertState.ACTIVE.value,
            Alert.updated_at == alert.updated_at,
        )
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _Raced(f"alert {alert.id} changed concurrently")


def _apply(alert: Alert, change: core.AlertChange, *, now: datetime) -> None:
    alert.kind = change.kind.value
    alert.state = change.state.value
    alert.order_sv, alert.order_en = change.order.sv, change.order.en
    alert.instructions_sv = change.instructions.sv
    alert.instructions_en = change.instructions.en
    alert.updated_at = change.updated_at
    if change.state != AlertState.ACTIVE:
        alert.ended_at = now


async def _end_sites(session: AsyncSession, *, alert_id: int) -> None:
    await session.execute(
        sql_update(AlertSite)
        .where(AlertSite.alert_id == alert_id, AlertSite.active.is_(True))
        .values(active=False)
        .execution_options(synchronize_session=False)
    )


Decide = Callable[[core.AlertView, Organization], core.AlertChange]


async def _change(
    session: AsyncSession,
    *,
    caller: Caller,
    alert_id: int,
    action: Action,
    decide: Decide,
    now: datetime,
) -> dict[str, Any]:
    """Lock the alert, check `action` on all its sites, let core decide, write, commit."""
    organization_id = caller.organization_id
    alert, site_ids = await readable_alert(session, caller=caller, alert_id=alert_id, lock=True)
    require(caller.actor, action, organization_id=organization_id, site_ids=site_ids)
    organization = await session.get_one(Organization, organization_id)
    change = decide(_view(alert, site_ids), organization)
    await _claim(session, alert, now=now)
    _apply(alert, change, now=now)
    if change.state != AlertState.ACTIVE:
        await _end_sites(session, alert_id=alert.id)
    document = await _record(
        session,
        caller=caller,
        alert=alert,
        site_ids=site_ids,
        event=change.event,
        changes=change.changes,
        now=now,
    )
    await session.commit()
    return document


async def update(
    session: AsyncSession,
    *,
    caller: Caller,
    alert_id: int,
    kind: Kind | None = None,
    order: Mapping[str, str | None] | None = None,
    instructions: Mapping[str, str | None] | None = None,
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

    return await _retrying(
        session,
        lambda: _change(
            session, caller=caller, alert_id=alert_id, action=Action.UPDATE, decide=decide, now=now
        ),
    )


async def resolve(
    session: AsyncSession, *, caller: Caller, alert_id: int, now: datetime
) -> dict[str, Any]:
    """End the alert: the danger is over (Faran över); returns the event."""

    def decide(view: core.AlertView, _organization: Organization) -> core.AlertChange:
        return core.resolve_alert(view, now=now)

    return await _retrying(
        session,
        lambda: _change(
            session, caller=caller, alert_id=alert_id, action=Action.RESOLVE, decide=decide, now=now
        ),
    )


async def cancel(
    session: AsyncSession, *, caller: Caller, alert_id: int, now: datetime
) -> dict[str, Any]:
    """Withdraw the alert as a false alarm; returns the event."""

    def decide(view: core.AlertView, _organization: Organization) -> core.AlertChange:
        return core.cancel_alert(view, now=now)

    return await _retrying(
        session,
        lambda: _change(
            session, caller=caller, alert_id=alert_id, action=Action.CANCEL, decide=decide, now=now
        ),
    )
