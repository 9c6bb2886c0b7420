"""The alert lifecycle on the database: trigger, update, resolve, cancel, and reading alerts
and their events. `server.core.alerts` decides; this module loads the state it needs, checks
permissions with `server.core.permissions`, and writes each change as ONE transaction: the
alert's rows, its event (next `seq`, the full alert document) and an audit entry.

HTTP, CLI and WebSocket paths all call these functions, so they share one permission check.
Documents (the wire shapes):

    alert  {"id", "kind", "mode", "state", "sites": [site ids sorted], "order": {"sv", "en"},
            "instructions": {"sv", "en"}, "created_at", "updated_at", "ended_at" | None,
            "created_by"}
    event  {"seq", "event": "triggered|updated|resolved|cancelled", "at", "actor",
            "changes": {...}, "alert": <alert document right after the event>}
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import exists, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import AlertState, EventType, Kind, Mode
from server.core import alerts as core
from server.core.errors import Forbidden, NoSites
from server.core.permissions import Action, ActorKind, can, require, sites_where, trigger_actions
from server.core.templates import Texts, template_for
from server.errors import ServiceError
from server.storage import audit, events
from server.storage.callers import Caller
from server.storage.tables import Alert, AlertSite, Organization, Site

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


# -- documents ---------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def alert_document(alert: Alert, *, site_ids: Sequence[int]) -> dict[str, Any]:
    """The alert's wire shape (API responses and each event's `alert`)."""
    return {
        "id": alert.id,
        "kind": alert.kind,
        "mode": alert.mode,
        "state": alert.state,
        "sites": sorted(set(site_ids)),
        "order": {"sv": alert.order_sv, "en": alert.order_en},
        "instructions": {"sv": alert.instructions_sv, "en": alert.instructions_en},
        "created_at": _iso(alert.created_at),
        "updated_at": _iso(alert.updated_at),
        "ended_at": _iso(alert.ended_at),
        "created_by": alert.created_by,
    }


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


async def _site_ids_of(session: AsyncSession, alert_ids: Collection[int]) -> dict[int, list[int]]:
    """Every site (active or not) of each alert."""
    result: dict[int, list[int]] = {alert_id: [] for alert_id in alert_ids}
    if not alert_ids:
        return result
    rows = await session.execute(
        select(AlertSite.alert_id, AlertSite.site_id).where(AlertSite.alert_id.in_(alert_ids))
    )
    for alert_id, site_id in rows:
        result[alert_id].append(site_id)
    return result


async def _documents(session: AsyncSession, alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    sites = await _site_ids_of(session, [a.id for a in alerts])
    return [alert_document(a, site_ids=sites[a.id]) for a in alerts]


async def _active(session: AsyncSession, *, organization_id: int) -> list[Alert]:
    result = await session.scalars(
        select(Alert)
        .where(Alert.organization_id == organization_id, Alert.state == AlertState.ACTIVE.value)
        .order_by(Alert.id)
        .execution_options(populate_existing=True)
    )
    return list(result.all())


async def _organization_sites(session: AsyncSession, *, organization_id: int) -> dict[int, bool]:
    """site id -> staff_may_trigger, for every site of the organization."""
    rows = await session.execute(
        select(Site.id, Site.staff_may_trigger).where(Site.organization_id == organization_id)
    )
    return {site_id: bool(policy) for site_id, policy in rows}


async def _visible_sites(session: AsyncSession, *, caller: Caller) -> frozenset[int]:
    """The caller's organization's sites where the caller receives alerts."""
    policy = await _organization_sites(session, organization_id=caller.organization_id)
    return sites_where(caller.actor, Action.RECEIVE, all_site_ids=policy, staff_may_trigger=policy)


def _may_read(caller: Caller, *, organization_id: int, site_ids: Collection[int]) -> bool:
    return any(
        can(caller.actor, Action.RECEIVE, organization_id=organization_id, site_ids=[site])
        for site in site_ids
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
    policy = await _organization_sites(session, organization_id=organization_id)
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
    sites = (await _site_ids_of(session, [alert.id]))[alert.id]
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
    active = await _active(session, organization_id=organization_id)
    active_sites = await _site_ids_of(session, [a.id for a in active])
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
    alert = await session.scalar(
        select(Alert)
        .where(Alert.id == alert_id, Alert.organization_id == organization_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if alert is None:
        raise ServiceError("alert.not_found", f"alert {alert_id}")
    site_ids = (await _site_ids_of(session, [alert.id]))[alert.id]
    if not _may_read(caller, organization_id=organization_id, site_ids=site_ids):
        raise ServiceError("alert.not_found", f"alert {alert_id}")
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


# -- reading -----------------------------------------------------------------------------


async def get_alert(session: AsyncSession, *, caller: Caller, alert_id: int) -> dict[str, Any]:
    """One alert the caller receives; others (or another organization's) → alert.not_found."""
    organization_id = caller.organization_id
    alert = await session.scalar(
        select(Alert).where(Alert.id == alert_id, Alert.organization_id == organization_id)
    )
    if alert is None:
        raise ServiceError("alert.not_found", f"alert {alert_id}")
    site_ids = (await _site_ids_of(session, [alert.id]))[alert.id]
    if not _may_read(caller, organization_id=organization_id, site_ids=site_ids):
        raise ServiceError("alert.not_found", f"alert {alert_id}")
    return alert_document(alert, site_ids=site_ids)


_ENDED = (AlertState.RESOLVED.value, AlertState.CANCELLED.value)


async def list_alerts(
    session: AsyncSession,
    *,
    caller: Caller,
    state: Literal["active", "ended", "all"] = "active",
    limit: int = 50,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """The alerts the caller receives, newest first; page with `before_id`."""
    visible = await _visible_sites(session, caller=caller)
    if not visible:
        return []
    query = select(Alert).where(
        Alert.organization_id == caller.organization_id,
        exists().where(AlertSite.alert_id == Alert.id, AlertSite.site_id.in_(visible)),
    )
    if state == "active":
        query = query.where(Alert.state == AlertState.ACTIVE.value)
    elif state == "ended":
        query = query.where(Alert.state.in_(_ENDED))
    if before_id is not None:
        query = query.where(Alert.id < before_id)
    alerts = (await session.scalars(query.order_by(Alert.id.desc()).limit(limit))).all()
    return await _documents(session, alerts)


async def active_alerts(
    session: AsyncSession, *, organization_id: int, site_ids: Collection[int] | None = None
) -> list[dict[str, Any]]:
    """The organization's active alerts, oldest first, optionally only those touching
    `site_ids` (for the realtime snapshot; no permission check)."""
    alerts = await _active(session, organization_id=organization_id)
    documents = await _documents(session, alerts)
    if site_ids is None:
        return documents
    wanted = set(site_ids)
    return [d for d in documents if wanted.intersection(d["sites"])]


async def events_since(
    session: AsyncSession, *, caller: Caller, after_seq: int, limit: int = 500
) -> tuple[str, int, list[dict[str, Any]]]:
    """(epoch, seq, events after `after_seq` the caller receives, oldest first).

    `seq` is where the caller continues from: the stream's last seq, or the last event read
    when `limit` cut the page short (events of other sites are skipped, not lost)."""
    epoch, last_seq = await events.stream_position(session, organization_id=caller.organization_id)
    rows = await events.since(
        session, organization_id=caller.organization_id, after_seq=after_seq, limit=limit
    )
    if rows:
        last_seq = int(rows[-1].seq) if len(rows) >= limit else max(last_seq, int(rows[-1].seq))
    visible = await _visible_sites(session, caller=caller)
    documents = [
        events.event_document(row)
        for row in rows
        if visible.intersection((row.alert or {}).get("sites", ()))
    ]
    return epoch, last_seq, documents
