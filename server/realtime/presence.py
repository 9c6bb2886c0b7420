"""The presence ticker: every heartbeat, this node writes `last_seen_at = now` for the devices
connected to it, so every node (and GET /api/v1/presence) sees who is reachable now.

    async with PresenceTicker(database=db, connected_devices=lambda: gateway_devices,
                              interval=settings.heartbeat_seconds) as ticker:
        await ticker.mark_seen([device_id])    # at once, e.g. right after a hello
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Iterable

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
