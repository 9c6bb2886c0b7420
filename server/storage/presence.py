"""Device presence: every node writes `last_seen_at` of the devices connected to it (see
server/realtime/presence.py), so the database holds every node's view; a device is
reachable now when it is not revoked, a node holds its live connection (`connected_node`),
and it was seen within `stale_after` (2.5 heartbeats: a crashed node's devices go stale)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage.tables import Device, Site

CHUNK = 1000
STALE_HEARTBEATS = 2.5


def stale_after(heartbeat_seconds: float) -> timedelta:
    """How long a device counts as reachable after it was last seen."""
    return timedelta(seconds=STALE_HEARTBEATS * heartbeat_seconds)


async def mark_seen(session: AsyncSession, *, device_ids: Collection[int], now: datetime) -> int:
    """Set `last_seen_at = now` for the given non-revoked devices, one UPDATE per 1000 ids
    (never moving it backwards). Devices of every organization: the ids come from this node's
    authenticated connections. The caller commits. Returns the number of rows updated."""
    ids = sorted(set(device_ids))
    updated = 0
    for start in range(0, len(ids), CHUNK):
        result = await session.execute(
            update(Device)
            .where(
                Device.id.in_(ids[start : start + CHUNK]),
                Device.revoked_at.is_(None),
                or_(Device.last_seen_at.is_(None), Device.last_seen_at < now),
            )
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
        updated += int(getattr(result, "rowcount", 0) or 0)
    return updated


async def record_links(
    session: AsyncSession,
    *,
    node: str,
    now: datetime,
    connected: Mapping[int, str],
    disconnected: Collection[int],
) -> None:
    """Devices that connected to `node` (id → client version) and devices whose last
    connection on `node` closed (cleared only where no other node has taken them over).
    The caller commits."""
    ids = sorted(connected)
    for start in range(0, len(ids), CHUNK):
        await session.execute(
            update(Device)
            .where(Device.id.in_(ids[start : start + CHUNK]))
            .values(connected_node=node, last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
    if connected:
        await session.execute(  # ORM bulk UPDATE by primary key: one executemany
            update(Device),
            [{"id": d, "client_version": v[:100]} for d, v in connected.items()],
        )
    gone = sorted(disconnected)
    for start in range(0, len(gone), CHUNK):
        await session.execute(
            update(Device)
            .where(Device.id.in_(gone[start : start + CHUNK]), Device.connected_node == node)
            .values(connected_node=None, last_seen_at=now)
            .execution_options(synchronize_session=False)
        )


async def release_node(session: AsyncSession, *, node: str, now: datetime) -> None:
    """The node stops: none of its devices is connected there any more. The caller commits."""
    await session.execute(
        update(Device)
        .where(Device.connected_node == node)
        .values(connected_node=None, last_seen_at=now)
        .execution_options(synchronize_session=False)
    )


async def site_names(session: AsyncSession, *, organization_id: int) -> dict[int, str]:
    """Every site of the organization: id → name."""
    rows = await session.execute(
        select(Site.id, Site.name).where(Site.organization_id == organization_id)
    )
    return {row.id: row.name for row in rows}


async def site_presence(
    session: AsyncSession,
    *,
    organization_id: int,
    site_ids: Collection[int],
    now: datetime,
    stale_after: timedelta,
) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """For each of `site_ids` (every one present, possibly empty), its non-revoked devices,
    split into `reachable` (seen after `now - stale_after`) and `unreachable`, each by name:
    `{"id", "name", "kind", "zone_id", "person_id", "last_seen_at"}` (a datetime or None)."""
    result: dict[int, dict[str, list[dict[str, Any]]]] = {
        site_id: {"reachable": [], "unreachable": []} for site_id in site_ids
    }
    if not result:
        return result
    threshold = now - stale_after
    rows = await session.execute(
        select(
            Device.id,
            Device.name,
            Device.kind,
            Device.site_id,
            Device.zone_id,
            Device.person_id,
            Device.last_seen_at,
            Device.connected_node,
        )
        .where(
            Device.organization_id == organization_id,
            Device.site_id.in_(list(result)),
            Device.revoked_at.is_(None),
        )
        .order_by(Device.name, Device.id)
    )
    for row in rows:
        seen = row.last_seen_at
        live = row.connected_node is not None and seen is not None and seen > threshold
        bucket = "reachable" if live else "unreachable"
        result[row.site_id][bucket].append(
            {
                "id": row.id,
                "name": row.name,
                "kind": row.kind,
                "zone_id": row.zone_id,
                "person_id": row.person_id,
                "last_seen_at": seen,
            }
        )
    return result
