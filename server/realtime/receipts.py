"""Group commit for receipts and acks: the gateway queues updates without waiting, a single
writer task turns everything that arrived meanwhile into one transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from server.storage import receipts
from server.storage.database import Database
from server.storage.receipts import ReceiptUpdate

log = logging.getLogger(__name__)

BATCH_LIMIT = 2000
QUEUE_LIMIT = 100_000


class ReceiptWriter:
    """`async with ReceiptWriter(db) as writer:`; `writer.put(update)` never blocks."""

    def __init__(
        self,
        database: Database,
        *,
        on_written: Callable[[list[ReceiptUpdate]], Awaitable[None]] | None = None,
    ) -> None:
        self.database = database
        self.on_written = on_written
        self._queue: asyncio.Queue[ReceiptUpdate] = asyncio.Queue(QUEUE_LIMIT)
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed (observability, bench)
        self.written = 0

    def put(self, update: ReceiptUpdate) -> bool:
        """Queue an update; False when the queue is full (the client will resend)."""
        try:
            self._queue.put_nowait(update)
        except asyncio.QueueFull:
            log.error("receipt queue full: dropping one update for alert %s", update.alert_id)
            return False
        return True

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH_LIMIT and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception:
                log.exception("writing %d receipts failed; retrying once", len(batch))
                try:
                    await asyncio.sleep(0.5)
                    await self._write(batch)
                except Exception:
                    log.exception("writing %d receipts failed again; dropped", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[ReceiptUpdate]) -> None:
        async with self.database.session() as session:
            batch = await _targeted(session, batch)
            await receipts.upsert_many(session, updates=batch)
            await session.commit()
        self.batches += 1
        self.written += len(batch)
        if self.on_written is not None:
            await self.on_written(batch)

    async def __aenter__(self) -> ReceiptWriter:
        self._task = asyncio.create_task(self._run(), name="receipt-writer")
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await asyncio.wait_for(self.flush(), timeout=5)
        except TimeoutError:
            log.error("shutdown with %d receipts unwritten", self._queue.qsize())
        if self._task is not None:
            self._task.cancel()


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
    kept = [u for u in batch if (u.organization_id, u.alert_id, u.site_id) in valid]
    if len(kept) < len(batch):
        log.warning(
            "ignored %d receipts for alerts not targeting the device", len(batch) - len(kept)
        )
    return kept
