"""Presence. `PresenceTicker`: every heartbeat, this node writes `last_seen_at = now` for the
devices connected to it, so every node (and GET /api/v1/presence) sees who is reachable now.
(`PresenceFeed`, the `presence` frames to dashboards, is in server/realtime/presence_feed.py.)
`PresenceSweep`: on the one node that leads (server/realtime/leadership.py), every heartbeat
finds the sites whose devices just went stale because the node holding them died, and
reports them, so every dashboard shows those devices unreachable without waiting for some
other change at the site.

    async with PresenceTicker(database=db, connected_devices=lambda: gateway_devices,
                              interval=settings.heartbeat_seconds) as ticker:
        await ticker.mark_seen([device_id])    # at once, e.g. right after a hello
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import timedelta

from server.clock import utcnow
from server.realtime.batches import BatchWriter
from server.realtime.leadership import Leadership
from server.realtime.tasks import stop
from server.storage import presence
from server.storage.database import Database

log = logging.getLogger(__name__)


class PresenceTicker:
    def __init__(
        self,
        *,
        database: Database,
        connected_devices: Callable[[], Collection[int]],
        interval: float,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.database = database
        self.connected_devices = connected_devices
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0  # completed writes (observability, tests)

    async def mark_seen(self, device_ids: Iterable[int]) -> int:
        """Write `last_seen_at = now` for these devices now; returns the rows updated."""
        ids = list(device_ids)
        if not ids:
            return 0
        async with self.database.session() as session:
            updated = await presence.mark_seen(session, device_ids=ids, now=utcnow())
            await session.commit()
        return updated

    async def tick(self) -> int:
        """One heartbeat's write for every device connected to this node."""
        updated = await self.mark_seen(list(self.connected_devices()))
        self.ticks += 1
        return updated

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.tick()
            except Exception:
                log.exception("presence tick failed; the next one retries")

    async def __aenter__(self) -> PresenceTicker:
        self._task = asyncio.create_task(self._run(), name="presence")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await stop(self._task)
        self._task = None


class PresenceSweep:
    """Every `interval`, while `leadership` leads: the sites of devices whose last sighting
    passed `stale_after` within the last two intervals (their node stopped writing) go to
    `on_stale(organization_id, site_id)`. A site reported twice is harmless."""

    def __init__(
        self,
        *,
        database: Database,
        leadership: Leadership,
        interval: float,
        stale_after: timedelta,
        on_stale: Callable[[int, int], Awaitable[None]],
    ) -> None:
        self.database = database
        self.leadership = leadership
        self.interval = interval
        self.stale_after = stale_after
        self.on_stale = on_stale
        self._task: asyncio.Task[None] | None = None
        self.sweeps = 0  # completed sweeps on this node (observability, tests)

    async def sweep(self) -> list[tuple[int, int]]:
        """One sweep, whoever leads; the (organization, site) pairs reported."""
        now = utcnow()
        seen_before = now - self.stale_after
        async with self.database.session() as session:
            stale = await presence.sites_gone_stale(
                session,
                seen_from=seen_before - timedelta(seconds=2 * self.interval),
                seen_before=seen_before,
            )
        for organization_id, site_id in stale:
            await self.on_stale(organization_id, site_id)
        self.sweeps += 1
        return stale

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self.leadership.leading:
                continue
            try:
                await self.sweep()
            except Exception:
                log.exception("presence sweep failed; the next one retries")

    async def __aenter__(self) -> PresenceSweep:
        self._task = asyncio.create_task(self._run(), name="presence-sweep")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await stop(self._task)
        self._task = None


@dataclass(frozen=True, slots=True)
class DeviceLink:
    """A device's connection state change on this node, queued for the presence writer."""

    device_id: int
    organization_id: int
    site_id: int
    connected: bool
    client_version: str = ""


PRESENCE_BATCH_LIMIT = 5000
PRESENCE_QUEUE_LIMIT = 100_000


class PresenceWriter:
    """Group commit for connects and disconnects: a hello never waits for a presence write,
    and a reconnect storm of thousands costs a few transactions. After each batch the sites
    whose presence changed are reported to `on_changed` (the feed and the bus). The writing
    is the one batch writer's (server/realtime/batches.py): outages are retried, a bad change
    is reported alone."""

    def __init__(
        self,
        *,
        database: Database,
        node_id: str,
        on_changed: Callable[[int, int], Awaitable[None]] | None = None,
        queue_limit: int = PRESENCE_QUEUE_LIMIT,
    ) -> None:
        self.database = database
        self.node_id = node_id
        self.on_changed = on_changed
        self.writer: BatchWriter[DeviceLink] = BatchWriter(
            name="presence-writer",
            write=self._write,
            batch_limit=PRESENCE_BATCH_LIMIT,
            queue_limit=queue_limit,
            on_written=self._changed,
        )

    @property
    def batches(self) -> int:
        """Transactions committed (observability, tests)."""
        return self.writer.batches

    def put(self, link: DeviceLink) -> bool:
        """Queue a change without waiting; False when the queue is full."""
        return self.writer.put(link)

    async def flush(self) -> None:
        await self.writer.flush()

    async def _write(self, batch: list[DeviceLink]) -> list[DeviceLink]:
        latest = {link.device_id: link for link in batch}  # the last state of each device wins
        now = utcnow()
        async with self.database.session() as session:
            await presence.record_links(
                session,
                node=self.node_id,
                now=now,
                connected={d: link.client_version for d, link in latest.items() if link.connected},
                disconnected=[d for d, link in latest.items() if not link.connected],
            )
            await session.commit()
        return batch

    async def _changed(self, batch: list[DeviceLink]) -> None:
        if self.on_changed is not None:
            for organization_id, site_id in {(x.organization_id, x.site_id) for x in batch}:
                await self.on_changed(organization_id, site_id)

    async def __aenter__(self) -> PresenceWriter:
        await self.writer.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.writer.__aexit__(*exc)
        # Whatever is still marked as connected here is not: this node is going away.
        async with self.database.session() as session:
            await presence.release_node(session, node=self.node_id, now=utcnow())
            await session.commit()
