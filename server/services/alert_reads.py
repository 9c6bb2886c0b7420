"""Reading alerts and the event stream, as the caller may: only alerts and events of sites
where the caller receives alerts (`Action.RECEIVE`); anything else is `alert.not_found`, so
another organization's ids or another site's alerts reveal nothing. Documents are described
in `server.storage.alerts`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.core.permissions import Action, can, sites_where
from server.errors import ServiceError
from server.storage import alert_reads, events
from server.storage import alerts as rows
from server.storage.alert_reads import StateFilter
from server.storage.callers import Caller
from server.storage.sites import staff_trigger_policy
from server.storage.tables import Alert


async def visible_sites(*, session: AsyncSession, caller: Caller) -> frozenset[int]:
    """The caller's organization's sites where the caller receives alerts."""
    policy = await staff_trigger_policy(session, organization_id=caller.organization_id)
    return sites_where(caller.actor, Action.RECEIVE, all_site_ids=policy, staff_may_trigger=policy)


async def readable_alert(
    *, session: AsyncSession, caller: Caller, alert_id: int, lock: bool = False
) -> tuple[Alert, list[int]]:
    """The alert and all its site ids, when the caller receives it at one of them; else
    alert.not_found. `lock`: write-lock the row and reload it (for a change)."""
    organization_id = caller.organization_id
    alert = await rows.get_row(
        session, organization_id=organization_id, alert_id=alert_id, lock=lock
    )
    if alert is None:
        raise ServiceError("alert.not_found", f"alert {alert_id}")
    site_ids = (await rows.site_ids_of(session, alert_ids=[alert.id]))[alert.id]
    if not any(
        can(caller.actor, Action.RECEIVE, organization_id=organization_id, site_ids=[site])
        for site in site_ids
    ):
        raise ServiceError("alert.not_found", f"alert {alert_id}")
    return alert, site_ids


async def get_alert(*, session: AsyncSession, caller: Caller, alert_id: int) -> dict[str, Any]:
    """One alert the caller receives; others (or another organization's) → alert.not_found."""
    alert, site_ids = await readable_alert(session=session, caller=caller, alert_id=alert_id)
    return rows.alert_document(alert, site_ids=site_ids)


async def list_alerts(
    *,
    session: AsyncSession,
    caller: Caller,
    state: StateFilter = "active",
    limit: int = 50,
    before_id: int | None = None,
    mode: str | None = None,
) -> list[dict[str, Any]]:
    """The alerts the caller receives, newest first, of `mode` when given (the dashboard's
    list of drills to report on); page with `before_id`."""
    return await alert_reads.list_alerts(
        session,
        organization_id=caller.organization_id,
        site_ids=await visible_sites(session=session, caller=caller),
        state=state,
        limit=limit,
        before_id=before_id,
        mode=mode,
    )


async def events_since(
    *, session: AsyncSession, caller: Caller, after_seq: int, limit: int = 500
) -> tuple[str, int, list[dict[str, Any]]]:
    """(epoch, seq, events after `after_seq` the caller receives, oldest first).

    `seq` is where the caller continues from: the stream's last seq, or the last event read
    when `limit` cut the page short (events of other sites are skipped, not lost)."""
    organization_id = caller.organization_id
    epoch, last_seq = await events.stream_position(session, organization_id=organization_id)
    found = await events.since(
        session, organization_id=organization_id, after_seq=after_seq, limit=limit
    )
    if found:
        last_seq = int(found[-1].seq) if len(found) >= limit else max(last_seq, int(found[-1].seq))
    visible = await visible_sites(session=session, caller=caller)
    documents = [
        events.event_document(row)
        for row in found
        if visible.intersection((row.alert or {}).get("sites", ()))
    ]
    return epoch, last_seq, documents


async def alert_events(
    *, session: AsyncSession, caller: Caller, alert_id: int
) -> tuple[str, int, list[dict[str, Any]]]:
    """(epoch, seq, every event of one alert the caller receives, oldest first): the alert's
    history for a dashboard, readable by whoever may read the alert (no audit-log right
    needed). `seq` is the stream's last seq, where a live view continues from."""
    alert, _ = await readable_alert(session=session, caller=caller, alert_id=alert_id)
    epoch, last_seq = await events.stream_position(session, organization_id=caller.organization_id)
    found = await events.of_alert(
        session, organization_id=caller.organization_id, alert_id=alert.id
    )
    return epoch, last_seq, [events.event_document(row) for row in found]
