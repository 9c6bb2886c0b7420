"""The live roll call: after each group commit of receipts, the affected alerts' roll calls
are recomputed and pushed to the organization's dashboards on this node.

Throttled per alert: the first change is pushed at once, later ones at most once per
`min_interval`, and the last change is always pushed (trailing edge). Each dashboard gets
the roll call over the alert's sites it leads (`Subscriber.rollcall_site_ids`), as a
complete `rollcall` frame (server/core/rollcall.py `frame`): a dashboard that missed one is
right again with the next. A frame is only sent when it differs from the last one that
audience got (`delta`), so resent receipts cost nothing. Frames reach only live connections,
so a dashboard opens its socket, waits for the welcome, then reads GET
/api/v1/alerts/{id}/rollcall; every later change is pushed.

Receipts written on another node reach this one through `alerts_changed` (a bus signal).

    async with RollCallFeed(database=db, hub=hub) as feed:
        writer.on_written = feed.receipts_written
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from server.clock import utcnow
from server.core import rollcall as core
from server.realtime.hub import Hub, Subscriber
from server.storage import rollcall
from server.storage.database import Database
from server.storage.receipts import ReceiptUpdate

log = logging.getLogger(__name__)

AlertKey = tuple[int, int]  # (organization_id, alert_id)
SENT_CACHE = 1000


class RollCallFeed:
    def __init__(self, *, database: Database, hub: Hub, min_interval: float = 0.25) -> None:
        if min_interval < 0:
            raise ValueError("min_interval must not be negative")
        self.database = database
        self.hub = hub
        self.min_interval = min_interval
        self._dirty: set[AlertKey] = set()
        self._tasks: dict[AlertKey, asyncio.Task[None]] = {}
        # The last frame sent per alert and audience, the most recent SENT_CACHE of them.
        self._sent: OrderedDict[tuple[AlertKey, frozenset[int]], dict[str, Any]] = OrderedDict()
        self._closed = False
        self.pushes = 0  # frames written (observability, tests)

    # -- input ---------------------------------------------------------------------------
    async def receipts_written(self, batch: Sequence[ReceiptUpdate]) -> None:
        """The receipt writer's `on_written`: the alerts of `batch` changed."""
        keys = {(update.organization_id, update.alert_id) for update in batch}
        for organization_id, alert_id in keys:
            self.mark_dirty(organization_id, alert_id)

    async def alerts_changed(self, organization_id: int, alert_ids: Iterable[int]) -> None:
        """Another node wrote receipts of these alerts (a bus signal)."""
        for alert_id in alert_ids:
            self.mark_dirty(organization_id, alert_id)

    def mark_dirty(self, organization_id: int, alert_id: int) -> None:
        if self._closed:
            return
        key = (organization_id, alert_id)
        self._dirty.add(key)
        if key not in self._tasks:
            task = asyncio.create_task(self._run(key), name=f"rollcall-{alert_id}")
            self._tasks[key] = task

    # -- pushing -------------------------------------------------------------------------
    async def _run(self, key: AlertKey) -> None:
        """Push while the alert is dirty: at once, then at most once per `min_interval`."""
        try:
            while key in self._dirty:
                self._dirty.discard(key)  # before reading: a later change marks it again
                try:
                    await self._push(*key)
                except Exception:
                    log.exception("roll call push of alert %s failed", key[1])
                await asyncio.sleep(self.min_interval)
        finally:
            self._tasks.pop(key, None)

    async def _push(self, organization_id: int, alert_id: int) -> None:
        dashboards = [s for s in self.hub.subscribers(organization_id) if s.dashboard]
        if not dashboards:
            return
        async with self.database.session() as session:
            alert = await rollcall.alert_facts(
                session, organization_id=organization_id, alert_id=alert_id
            )
            if alert is None:
                return
            data = await rollcall.load(session, alert=alert)
        audiences: dict[frozenset[int], list[Subscriber]] = {}
        for subscriber in dashboards:
            sites = subscriber.rollcall_site_ids & alert.site_ids
            if sites:
                audiences.setdefault(sites, []).append(subscriber)
        now = utcnow()
        for sites, subscribers in audiences.items():
            message = core.frame(data.compute(at=now, site_ids=sites))
            if not self._changed((organization_id, alert_id), sites, message):
                continue
            for subscriber in subscribers:
                self.hub.send_to(subscriber, message)
                self.pushes += 1

    def _changed(self, key: AlertKey, sites: frozenset[int], message: dict[str, Any]) -> bool:
        """Whether `message` differs from the last frame this audience got (and remember it)."""
        cache_key = (key, sites)
        previous = self._sent.pop(cache_key, None)
        self._sent[cache_key] = message
        while len(self._sent) > SENT_CACHE:
            self._sent.popitem(last=False)
        return bool(core.delta(previous, message))

    # -- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> RollCallFeed:
        self._closed = False
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closed = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()  # a task cancelled before its first step never ran its finally
        self._dirty.clear()
        self._sent.clear()
