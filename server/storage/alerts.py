"""Alert rows: loading, writing, and their documents (wire shapes). A repository: no
permission checks and no commits (the use cases are `server.services.alerts`); reading lists
of alerts is `server.storage.alert_reads`.

    alert  {"id", "kind", "mode", "state", "sites": [site ids sorted], "order": {"sv", "en"},
            "instructions": {"sv", "en"}, "created_at", "updated_at", "ended_at" | None,
            "created_by"}
    event  {"seq", "event": "triggered|updated|resolved|cancelled", "at", "actor",
            "changes": {...}, "alert": <alert document right after the event>}
            (`server.storage.events.event_document`)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import AlertState, EventType, Kind, Mode
from server.core import alerts as core
from server.core.templates import Texts
from server.storage import audit, events
from server.storage.tables import Alert, AlertSite


class AlertChanged(Exception):
    """The alert is no longer as it was read (a concurrent transaction changed it)."""


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


def alert_view(alert: Alert, *, site_ids: Collection[int]) -> core.AlertView:
    """The row as `server.core.alerts` sees it."""
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


# -- reading rows ------------------------------------------------------------------------


async def site_ids_of(session: AsyncSession, *, alert_ids: Collection[int]) -> dict[int, list[int]]:
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


async def documents(session: AsyncSession, *, alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    """The documents of `alerts`, in the same order."""
    sites = await site_ids_of(session, alert_ids=[a.id for a in alerts])
    return [alert_document(a, site_ids=sites[a.id]) for a in alerts]


async def active_rows(session: AsyncSession, *, organization_id: int) -> list[Alert]:
    """The organization's active alerts, oldest first, freshly loaded."""
    result = await session.scalars(
        select(Alert)
        .where(Alert.organization_id == organization_id, Alert.state == AlertState.ACTIVE.value)
        .order_by(Alert.id)
        .execution_options(populate_existing=True)
    )
    return list(result.all())


async def get_row(
    session: AsyncSession, *, organization_id: int, alert_id: int, lock: bool = False
) -> Alert | None:
    """The organization's alert, or None. `lock`: write-lock the row and reload it."""
    query = select(Alert).where(Alert.id == alert_id, Alert.organization_id == organization_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def by_idempotency_key(
    session: AsyncSession, *, organization_id: int, created_by: str, key: str, active_only: bool
) -> Alert | None:
    """The newest alert `created_by` triggered with `key` (only an active one when
    `active_only`), or None. Keys are the caller's own: another caller's key never matches."""
    query = select(Alert).where(
        Alert.organization_id == organization_id,
        Alert.created_by == created_by,
        Alert.idempotency_key == key,
    )
    if active_only:
        query = query.where(Alert.state == AlertState.ACTIVE.value)
    return await session.scalar(query.order_by(Alert.id.desc()).limit(1))


async def trigger_details(
    session: AsyncSession, *, organization_id: int, alert_id: int
) -> Mapping[str, Any]:
    """What the `alert.triggered` audit entry of the alert recorded ({} when there is none)."""
    entries = await audit.search(
        session,
        organization_id=organization_id,
        action="alert.triggered",
        target=f"alert:{alert_id}",
        limit=1,
    )
    return entries[0].details if entries else {}


# -- writing -----------------------------------------------------------------------------


async def insert(
    session: AsyncSession,
    *,
    organization_id: int,
    decision: core.NewAlert,
    created_by: str,
    idempotency_key: str | None,
    now: datetime,
) -> Alert:
    """Add the new alert and its active `alert_sites` (the unique index on active sites
    raises IntegrityError when a concurrent trigger took one of them)."""
    alert = Alert(
        organization_id=organization_id,
        kind=decision.kind.value,
        mode=decision.mode.value,
        state=AlertState.ACTIVE.value,
        order_sv=decision.order.sv,
        order_en=decision.order.en,
        instructions_sv=decision.instructions.sv,
        instructions_en=decision.instructions.en,
        created_by=created_by,
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
    return alert


async def apply_change(
    session: AsyncSession, alert: Alert, *, change: core.AlertChange, now: datetime
) -> None:
    """Apply core's change to the alert as read, or raise AlertChanged when it is no longer
    active with the same `updated_at`. The guarded write locks the row (PostgreSQL already
    holds it; on SQLite it takes the database lock); an ended alert frees its sites."""
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
        raise AlertChanged(f"alert {alert.id} changed concurrently")
    alert.kind = change.kind.value
    alert.state = change.state.value
    alert.order_sv, alert.order_en = change.order.sv, change.order.en
    alert.instructions_sv = change.instructions.sv
    alert.instructions_en = change.instructions.en
    alert.updated_at = change.updated_at
    if change.state != AlertState.ACTIVE:
        alert.ended_at = now
        await session.execute(
            sql_update(AlertSite)
            .where(AlertSite.alert_id == alert.id, AlertSite.active.is_(True))
            .values(active=False)
            .execution_options(synchronize_session=False)
        )


async def record_event(
    session: AsyncSession,
    *,
    actor: str,
    alert: Alert,
    site_ids: Collection[int],
    event: EventType,
    changes: Mapping[str, Any],
    now: datetime,
    details: Mapping[str, Any] | None = None,
    action: str | None = None,
) -> dict[str, Any]:
    """Append the alert's event (its document as it is now) and the matching audit entry
    (`action`, by default `alert.<event>`); returns the event document."""
    row = await events.append(
        session,
        organization_id=alert.organization_id,
        alert_id=alert.id,
        type=event.value,
        actor=actor,
        at=now,
        alert=alert_document(alert, site_ids=sorted(site_ids)),
        changes=changes,
    )
    await audit.record(
        session,
        organization_id=alert.organization_id,
        actor=actor,
        action=action or f"alert.{event.value}",
        at=now,
        target=f"alert:{alert.id}",
        details={"seq": row.seq, "changes": dict(changes), **(details or {})},
    )
    return events.event_document(row)
