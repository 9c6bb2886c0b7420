"""Group commit for receipts and acks: the gateway queues updates without waiting, one writer
(server/realtime/batches.py) turns everything that arrived meanwhile into one transaction. A
bad update (an alert id beyond the columns, a vanished device) is reported and dropped alone;
every other answer in its batch is stored. An outage is retried until the database is back."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from server import metrics
from server.realtime.batches import BatchWriter
from server.storage import receipts
from server.storage.database import Database
from server.storage.receipts import ReceiptUpdate

log = logging.getLogger(__name__)

BATCH_LIMIT = 2000
QUEUE_LIMIT = 100_000


class ReceiptWriter:
    """`async with ReceiptWriter(db) as writer:`; `writer.put(update)` never blocks.
    `on_written(updates)` gets the stored updates after each commit (the roll-call feed)."""

    def __init__(
        self,
        database: Database,
        *,
        on_written: Callable[[list[ReceiptUpdate]], Awaitable[None]] | None = None,
        queue_limit: int = QUEUE_LIMIT,
    ) -> None:
        self.database = database
        self.on_written = on_written
        self.ignored = 0  # updates for alerts not targeting the device's site
        self.writer: BatchWriter[ReceiptUpdate] = BatchWriter(
            name="receipt-writer",
            write=self._write,
            batch_limit=BATCH_LIMIT,
            queue_limit=queue_limit,
            on_written=self._notify,
        )

    @property
    def batches(self) -> int:
        """Transactions committed (observability, bench)."""
        return self.writer.batches

    @property
    def written(self) -> int:
        """Updates stored."""
        return self.writer.written

    @property
    def failed(self) -> int:
        """Bad updates reported and dropped."""
        return self.writer.failed

    def put(self, update: ReceiptUpdate) -> bool:
        """Queue an update; False when the queue is full (the client will resend)."""
        return self.writer.put(update)

    async def flush(self) -> None:
        """Wait until everything queued so far is committed or reported."""
        await self.writer.flush()

    async def _write(self, batch: list[ReceiptUpdate]) -> list[ReceiptUpdate]:
        async with self.database.session() as session:
            kept = await _targeted(session, batch)
            await receipts.upsert_many(session, updates=kept)
            await session.commit()
        if len(kept) < len(batch):
            self.ignored += len(batch) - len(kept)
            log.warning(
                "ignored %d receipts for alerts not targeting the device", len(batch) - len(kept)
            )
        return kept

    async def _notify(self, stored: list[ReceiptUpdate]) -> None:
        metrics.count_answers(stored)
        if self.on_written is not None:
            await self.on_written(stored)

    async def __aenter__(self) -> ReceiptWriter:
        await self.writer.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.writer.__aexit__(*exc)


async def _targeted(session: AsyncSession, batch: list[ReceiptUpdate]) -> list[ReceiptUpdate]:
    """Keep only updates for alerts that target the device's site (a device can't receipt
    another site's or organization's alert)."""
    by_org: dict[int, set[tuple[int, int]]] = {}
    for update in batch:
        by_org.setdefault(update.organization_id, set()).add((update.alert_id, update.site_id))
    valid: set[tuple[int, int, int]] = set()
    for org, pairs in by_org.items():
        found = await receipts.valid_targets(session, organization_id=org, pairs=pairs)
        valid.update((org, alert_id, site_id) for alert_id, site_id in found)
    return [u for u in batch if (u.organization_id, u.alert_id, u.site_id) in valid]
