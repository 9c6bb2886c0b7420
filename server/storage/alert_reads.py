"""Reading alerts and their events, and the documents (wire shapes) both sides build.
The write side (trigger, update, resolve, cancel) is `server.storage.alerts`.

    alert  {"id", "kind", "mode", "state", "sites": [site ids sorted], "order": {"sv", "en"},
            "instructions": {"sv", "en"}, "created_at", "updated_at", "ended_at" | None,
            "created_by"}
    event  {"seq", "event": "triggered|updated|resolved|cancelled", "at", "actor",
            "changes": {...}, "alert": <alert document right after the event>}
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import AlertState
from server.core.permissions import Action, can, sites_where
from server.errors import ServiceError
from server.storage import events
from server.storage.callers import Caller
from server.storage.sites import staff_trigger_policy
from server.storage.tables import Alert, AlertSite

_ENDED = (AlertState.RESOLVED.value, AlertState.CANCELLED.value)


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


async def site_ids_of(session: AsyncSession, alert_ids: Collection[int]) -> dict[int, list[int]]:
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
    sites = await site_ids_of(session, [a.id for a in alerts])
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


async def _visible_sites(session: AsyncSession, *, caller: Caller) -> frozenset[int]:
    """The caller's organization's sites where the caller receives alerts."""
    policy = await staff_trigger_policy(session, organization_id=caller.organization_id)
    return sites_where(caller.actor, Action.RECEIVE, all_site_ids=policy, staff_may_trigger=policy)


async def readable_alert(
    session: AsyncSession, *, caller: Caller, alert_id: int, lock: bool = False
) -> tuple[Alert, list[int]]:
    """The alert and all its site ids, when the caller receives it; others (or another
    organization's) → alert.not_found. `lock`: write-lock the row and reload it."""
    organization_id = caller.organization_id
    query = select(Alert).where(Alert.id == alert_id, Alert.organization_id == organization_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    alert = await session.scalar(query)
    if alert is None:
        raise ServiceError("alert.not_found", f"alert {alert_id}")
    site_ids = (await site_ids_of(session, [alert.id]))[alert.id]
    if not any(
        can(caller.actor, Action.RECEIVE, organization_id=organization_id, site_ids=[site])
        for site in site_ids
    ):
        raise ServiceError("alert.not_found", f"alert {alert_id}")
    return alert, site_ids


async def get_alert(session: AsyncSession, *, caller: Caller, alert_id: int) -> dict[str, Any]:
    """One alert the caller receives; others (or another organization's) → alert.not_found."""
    alert, site_ids = await readable_alert(session, caller=caller, alert_id=alert_id)
    return alert_document(alert, site_ids=site_ids)


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
    alerts = await active_rows(session, organization_id=organization_id)
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
