"""Device presence: every node writes `last_seen_at` of the devices connected to it (see
server/realtime/presence.py), so the database holds every node's view. A device is
reachable now when it is not revoked and either it is connected (a node holds its live
connection, `connected_node`, and saw it within `stale_after`: 2.5 heartbeats, so a crashed
node's devices go stale) or push reaches it (it has a push registration and its latest push,
of any alert, got through: `server.core.delivery.reached`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.messages import PushCounts
from server.core import delivery
from server.storage.push_states import PUSH_KINDS, latest_pushes
from server.storage.tables import Device, PushRegistration, Site

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


async def sites_gone_stale(
    session: AsyncSession, *, seen_from: datetime, seen_before: datetime
) -> list[tuple[int, int]]:
    """(organization, site) of the non-revoked devices still marked connected to a node
    whose last sighting lies in [seen_from, seen_before): the node that held them stopped
    seeing them (it died), so they have just become unreachable. Reads only."""
    rows = await session.execute(
        select(Device.organization_id, Device.site_id)
        .where(
            Device.connected_node.is_not(None),
            Device.revoked_at.is_(None),
            Device.last_seen_at >= seen_from,
            Device.last_seen_at < seen_before,
        )
        .distinct()
    )
    return sorted((row.organization_id, row.site_id) for row in rows)


async def site_names(session: AsyncSession, *, organization_id: int) -> dict[int, str]:
    """Every site of the organization: id → name."""
    rows = await session.execute(
        select(Site.id, Site.name).where(Site.organization_id == organization_id)
    )
    return {row.id: row.name for row in rows}


@dataclass
class SitePresence:
    """One site's non-revoked devices, reachable now and not, each by name, and the site's
    devices by the state of their latest push."""

    reachable: list[dict[str, Any]] = field(default_factory=list)
    unreachable: list[dict[str, Any]] = field(default_factory=list)
    push: PushCounts = field(default_factory=lambda: delivery.counts(()))


async def site_presence(
    session: AsyncSession,
    *,
    organization_id: int,
    site_ids: Collection[int],
    now: datetime,
    stale_after: timedelta,
) -> dict[int, SitePresence]:
    """For each of `site_ids` (every one present, possibly empty), its non-revoked devices,
    split into `reachable` and `unreachable` (see the module docstring), each by name:
    `{"id", "name", "kind", "zone_id", "person_id", "last_seen_at"` (a datetime or None),
    `"connected"` (a live connection now), `"push"` (`server.core.delivery.document` over
    the device's latest push of any alert, or None)`}`."""
    result = {site_id: SitePresence() for site_id in site_ids}
    if not result:
        return result
    threshold = now - stale_after
    rows = (
        await session.execute(
            select(
                Device.id,
                Device.name,
                Device.kind,
                Device.site_id,
                Device.zone_id,
                Device.person_id,
                Device.last_seen_at,
                Device.connected_node,
                PushRegistration.type.label("push"),
            )
            .outerjoin(PushRegistration, PushRegistration.device_id == Device.id)
            .where(
                Device.organization_id == organization_id,
                Device.site_id.in_(list(result)),
                Device.revoked_at.is_(None),
            )
            .order_by(Device.name, Device.id)
        )
    ).all()
    pushes = {
        push.device_id: push
        for push in await latest_pushes(
            session,
            organization_id=organization_id,
            device_ids=[row.id for row in rows if row.kind in PUSH_KINDS],
        )
    }
    by_site: dict[int, list[delivery.PushRow | None]] = {site_id: [] for site_id in result}
    for row in rows:
        seen = row.last_seen_at
        connected = row.connected_node is not None and seen is not None and seen > threshold
        push = pushes.get(row.id)
        by_site[row.site_id].append(push)
        site = result[row.site_id]
        live = connected or delivery.reached(registered=row.push is not None, push=push)
        (site.reachable if live else site.unreachable).append(
            {
                "id": row.id,
                "name": row.name,
                "kind": row.kind,
                "zone_id": row.zone_id,
                "person_id": row.person_id,
                "last_seen_at": seen,
                "connected": connected,
                "push": delivery.document(registration=row.push, push=push),
            }
        )
    for site_id, site_pushes in by_site.items():
        result[site_id].push = delivery.counts(site_pushes)
    return result
