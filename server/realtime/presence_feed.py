"""The presence feed: `presence` frames ({site_id, reachable, unreachable, push}) to the
dashboards that lead a site whenever a device of it connects or disconnects, or a push to
one of its devices changes state, on any node. Throttled per site
(server/realtime/feeds.py): the first change at once, then at most one per `min_interval`,
the last always.

    async with PresenceFeed(database=db, hub=hub, stale_after=stale) as feed:
        feed.site_changed(organization_id, site_id)
"""

from __future__ import annotations

from datetime import timedelta

from protocol.messages import Presence
from server.clock import utcnow
from server.realtime.feeds import ThrottledFeed
from server.realtime.hub import Hub
from server.storage import presence
from server.storage.database import Database

SiteKey = tuple[int, int]  # (organization_id, site_id)


class PresenceFeed:
    def __init__(
        self, *, database: Database, hub: Hub, stale_after: timedelta, min_interval: float = 1.0
    ) -> None:
        self.database = database
        self.hub = hub
        self.stale_after = stale_after
        self.feed: ThrottledFeed[SiteKey] = ThrottledFeed(
            self._push, min_interval=min_interval, name="presence"
        )
        self.pushes = 0  # frames written (observability, tests)

    def site_changed(self, organization_id: int, site_id: int) -> None:
        """A device of the site connected or its last connection closed, or a push to one
        of its devices changed state (here or elsewhere)."""
        self.feed.mark_dirty((organization_id, site_id))

    async def _push(self, key: SiteKey) -> None:
        organization_id, site_id = key
        audience = [
            subscriber
            for subscriber in self.hub.subscribers(organization_id)
            if subscriber.dashboard and site_id in subscriber.rollcall_site_ids
        ]
        if not audience:
            return
        async with self.database.session() as session:
            sites = await presence.site_presence(
                session,
                organization_id=organization_id,
                site_ids=[site_id],
                now=utcnow(),
                stale_after=self.stale_after,
            )
        split = sites[site_id]
        message = Presence(
            site_id=site_id,
            reachable=len(split.reachable),
            unreachable=len(split.unreachable),
            push=split.push,
        )
        self.pushes += self.hub.send_to(audience, message)

    async def __aenter__(self) -> PresenceFeed:
        await self.feed.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.feed.__aexit__(*exc)
