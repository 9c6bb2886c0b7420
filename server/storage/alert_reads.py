"""Reading lists of alerts as documents. A repository: no permission checks (the caller
passes the sites to read; `server.services.alert_reads` decides them). Rows, writes and the
document shapes are `server.storage.alerts`; the event stream is `server.storage.events`."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import AlertState
from server.storage.alerts import active_rows, documents
from server.storage.tables import Alert, AlertSite

StateFilter = Literal["active", "ended", "all"]
_ENDED = (AlertState.RESOLVED.value, AlertState.CANCELLED.value)


async def list_alerts(
    session: AsyncSession,
    *,
    organization_id: int,
    site_ids: Collection[int],
    state: StateFilter = "active",
    limit: int = 50,
    before_id: int | None = None,
    mode: str | None = None,
) -> list[dict[str, Any]]:
    """The organization's alerts touching any of `site_ids`, newest first, of `mode` when
    given; page with `before_id`."""
    if not site_ids:
        return []
    query = select(Alert).where(
        Alert.organization_id == organization_id,
        exists().where(AlertSite.alert_id == Alert.id, AlertSite.site_id.in_(site_ids)),
    )
    if state == "active":
        query = query.where(Alert.state == AlertState.ACTIVE.value)
    elif state == "ended":
        query = query.where(Alert.state.in_(_ENDED))
    if mode is not None:
        query = query.where(Alert.mode == mode)
    if before_id is not None:
        query = query.where(Alert.id < before_id)
    alerts = (await session.scalars(query.order_by(Alert.id.desc()).limit(limit))).all()
    return await documents(session, alerts=alerts)


async def active_alerts(
    session: AsyncSession, *, organization_id: int, site_ids: Collection[int] | None = None
) -> list[dict[str, Any]]:
    """The organization's active alerts, oldest first, optionally only those touching
    `site_ids` (for the realtime snapshot)."""
    alerts = await active_rows(session, organization_id=organization_id)
    found = await documents(session, alerts=alerts)
    if site_ids is None:
        return found
    wanted = set(site_ids)
    return [d for d in found if wanted.intersection(d["sites"])]
