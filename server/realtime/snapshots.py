"""What a `welcome` is made of, kept in memory so a reconnect storm does not become one
database read per client: per organization the stream position (epoch, seq) and the active
alerts, re-read when the hub's stream has moved past them or they are `max_age` old."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from protocol.codec import alert_doc_from_dict
from protocol.messages import AlertDoc
from server.realtime.hub import Hub
from server.storage import alert_reads, events
from server.storage.database import Database


@dataclass(frozen=True)
class Snapshot:
    epoch: str
    seq: int
    active: list[AlertDoc]  # every active alert of the organization, all sites
    taken: float  # time.monotonic()


class Snapshots:
    def __init__(self, *, database: Database, hub: Hub, max_age: float = 5.0) -> None:
        self.database = database
        self.hub = hub
        self.max_age = max_age
        self._cache: dict[int, Snapshot] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self.reads = 0  # database reads (observability, tests)

    def _fresh(self, snapshot: Snapshot | None, organization_id: int) -> bool:
        if snapshot is None or time.monotonic() - snapshot.taken > self.max_age:
            return False
        seq = self.hub.stream_seq(organization_id)
        return seq is None or seq == snapshot.seq

    async def get(self, organization_id: int) -> Snapshot:
        snapshot = self._cache.get(organization_id)
        if self._fresh(snapshot, organization_id):
            assert snapshot is not None
            return snapshot
        async with self._locks.setdefault(organization_id, asyncio.Lock()):
            snapshot = self._cache.get(organization_id)
            if self._fresh(snapshot, organization_id):
                assert snapshot is not None
                return snapshot
            async with self.database.session() as session:
                epoch, seq = await events.stream_position(session, organization_id=organization_id)
                active = await alert_reads.active_alerts(session, organization_id=organization_id)
            self.reads += 1
            snapshot = Snapshot(
                epoch=epoch,
                seq=seq,
                active=[alert_doc_from_dict(alert) for alert in active],  # read once, sent often
                taken=time.monotonic(),
            )
            self._cache[organization_id] = snapshot
            return snapshot
