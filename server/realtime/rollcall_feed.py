"""The live roll call: after each group commit of receipts, the affected alerts' roll calls
are recomputed and pushed to the organization's dashboards on this node.

Throttled per alert (server/realtime/feeds.py): the first change is pushed at once, later
ones at most once per `min_interval`, and the last change is always pushed (trailing edge).
Each dashboard gets the roll call over the alert's sites it leads
(`Subscriber.rollcall_site_ids`), as a complete `rollcall` frame (the `RollCall` message
server/core/rollcall.py computes): a dashboard that missed one is right again with the next.
A frame is only sent when it differs from the last one that audience got
(`core.unchanged`), so resent receipts cost nothing. Frames reach only live connections,
so a dashboard opens its socket, waits for the welcome, then reads GET
/api/v1/alerts/{id}/rollcall; every later change is pushed.

Receipts written on another node, and push states recorded by the dispatcher (here or on
another node), reach this one through `alerts_changed` (a bus signal, or
`Realtime.push_states_changed`).

    async with RollCallFeed(database=db, hub=hub) as feed:
        writer.on_written = feed.receipts_written
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

from protocol.messages import RollCall
from server.clock import utcnow
from server.core import rollcall as core
from server.realtime.feeds import ThrottledFeed
from server.realtime.hub import Hub, Subscriber
from server.storage import rollcall
from server.storage.database import Database
from server.storage.receipts import ReceiptUpdate

AlertKey = tuple[int, int]  # (organization_id, alert_id)
SENT_CACHE = 1000


class RollCallFeed:
    def __init__(self, *, database: Database, hub: Hub, min_interval: float = 0.25) -> None:
        self.database = database
        self.hub = hub
        self.feed: ThrottledFeed[AlertKey] = ThrottledFeed(
            self._push, min_interval=min_interval, name="rollcall"
        )
        # The last frame sent per alert and audience, the most recent SENT_CACHE of them.
        self._sent: OrderedDict[tuple[AlertKey, frozenset[int]], RollCall] = OrderedDict()
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
        self.feed.mark_dirty((organization_id, alert_id))

    # -- pushing -------------------------------------------------------------------------
    async def _push(self, key: AlertKey) -> None:
        organization_id, alert_id = key
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
            message = data.compute(at=now, site_ids=sites).message
            if self._changed(key, sites, message):
                self.pushes += self.hub.send_to(subscribers, message)

    def _changed(self, key: AlertKey, sites: frozenset[int], message: RollCall) -> bool:
        """Whether `message` differs from the last frame this audience got (and remember it)."""
        cache_key = (key, sites)
        previous = self._sent.pop(cache_key, None)
        self._sent[cache_key] = message
        while len(self._sent) > SENT_CACHE:
            self._sent.popitem(last=False)
        return not core.unchanged(previous, message)

    # -- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> RollCallFeed:
        await self.feed.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.feed.__aexit__(*exc)
        self._sent.clear()
