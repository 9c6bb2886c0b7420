"""Presence. `PresenceTicker`: every heartbeat, this node writes `last_seen_at = now` for the
devices connected to it, so every node (and GET /api/v1/presence) sees who is reachable now.
(`PresenceFeed`, the `presence` frames to dashboards, is in server/realtime/presence_feed.py.)

    async with PresenceTicker(database=db, connected_devices=lambda: gateway_devices,
                              interval=settings.heartbeat_seconds) as ticker:
        await ticker.mark_seen([device_id])    # at once, e.g. right after a hello
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass

from server.clock import utcnow
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
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None


@dataclass(frozen=True, slots=True)
class DeviceLink:
    """A device's connection state change on this node, queued for the presence writer."""

    device_id: int
    organization_id: int
    site_id: int
    connected: bool
    client_version: str = ""


class PresenceWriter:
    """Group commit for connects and disconnects: a hello never waits for a presence write,
    and a reconnect storm of thousands costs a few transactions. After each batch the sites
    whose presence changed are reported to `on_changed` (the feed and the bus)."""

    def __init__(
        self,
        *,
        database: Database,
        node_id: str,
        on_changed: Callable[[int, int], Awaitable[None]] | None = None,
    ) -> None:
        self.database = database
        self.node_id = node_id
        self.on_changed = on_changed
        self._queue: asyncio.Queue[DeviceLink] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0

    def put(self, link: DeviceLink) -> None:
        self._queue.put_nowait(link)

    async def flush(self) -> None:
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception:
                log.exception("writing %d presence changes failed", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[DeviceLink]) -> None:
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
        self.batches += 1
        if self.on_changed is not None:
            for organization_id, site_id in {(x.organization_id, x.site_id) for x in batch}:
                await self.on_changed(organization_id, site_id)

    async def __aenter__(self) -> PresenceWriter:
        self._task = asyncio.create_task(self._run(), name="presence-writer")
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await asyncio.wait_for(self.flush(), timeout=5)
        except TimeoutError:
            log.error("shutdown with %d presence changes unwritten", self._queue.qsize())
        if self._task is not None:
            self._task.cancel()
        # Whatever is still marked as connected here is not: this node is going away.
        async with self.database.session() as session:
            await presence.release_node(session, node=self.node_id, now=utcnow())
            await session.commit()
