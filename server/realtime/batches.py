"""One batch writer: callers queue items without waiting, a single task turns everything that
arrived meanwhile into one batch (group commit), and a batch never dies of one bad item.

When a batch fails, the error decides what happens (`is_data_error`):
- a data error (a constraint, a value out of range, …) is in the rows: the batch is split in
  halves until every good row is stored and each bad row, alone, is reported once to
  `on_failed` and dropped;
- anything else is an outage (connection refused, database unavailable or locked): the same
  batch is retried with backoff (0.1 s doubling, at most 5 s) until the database is back.
  New items keep queueing meanwhile, up to `queue_limit`; beyond it `put` returns False.

    async with BatchWriter(name="receipts", write=write_rows, batch_limit=2000) as writer:
        writer.put(row)          # False: the queue is full (the caller's client resends)
        await writer.flush()     # everything queued so far is written or reported
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import exc as orm_exc

from server.realtime.tasks import stop

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_INITIAL_S = 0.1
RETRY_MAX_S = 5.0
SHUTDOWN_S = 5.0

# Errors caused by the rows themselves: retrying the same rows can never succeed.
_DATA_ERRORS = (
    sa_exc.IntegrityError,
    sa_exc.DataError,
    orm_exc.StaleDataError,  # an UPDATE by primary key found no row (e.g. a deleted device)
    sqlite3.IntegrityError,
    sqlite3.DataError,
    ValueError,  # also asyncpg's DataError: a parameter out of its column's range
    TypeError,
    OverflowError,  # sqlite3: an integer beyond 64 bits
)
# SQLSTATE classes of PostgreSQL errors caused by the data: 22 data exception, 23 integrity.
_DATA_SQLSTATE_CLASSES = ("22", "23")


def _causes(error: BaseException) -> list[BaseException]:
    """The error, the driver's error it wraps, and their causes."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        pending += [getattr(current, "orig", None), current.__cause__]
    return seen


def is_data_error(error: BaseException) -> bool:
    """True when the rows caused the error (split the batch, report the bad row); False for
    an outage or anything unknown (keep the rows and retry: answers are never dropped
    because the database was away)."""
    for cause in _causes(error):
        if isinstance(cause, _DATA_ERRORS):
            return True
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in _DATA_SQLSTATE_CLASSES:
            return True
    return False


def retry_delay(
    attempt: int, *, initial: float = RETRY_INITIAL_S, cap: float = RETRY_MAX_S
) -> float:
    """Seconds before retry number `attempt` (0-based) of a batch that met an outage."""
    return float(min(cap, initial * 2 ** min(attempt, 32)))


class BatchWriter(Generic[T]):
    """`write(batch)` stores a batch in one transaction and returns the items it stored (a
    writer may skip items it deems invalid); it raises when the transaction fails.
    `on_written(stored)` follows each successful write (its errors are logged, never
    retried); `on_failed(item, error)` reports each bad item once."""

    def __init__(
        self,
        *,
        name: str,
        write: Callable[[list[T]], Awaitable[Sequence[T]]],
        batch_limit: int,
        queue_limit: int = 0,
        on_written: Callable[[list[T]], Awaitable[None]] | None = None,
        on_failed: Callable[[T, BaseException], None] | None = None,
        retry_initial: float = RETRY_INITIAL_S,
        retry_max: float = RETRY_MAX_S,
    ) -> None:
        if batch_limit < 1:
            raise ValueError("batch_limit must be positive")
        self.name = name
        self.write = write
        self.batch_limit = batch_limit
        self.on_written = on_written
        self.on_failed = on_failed
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._queue: asyncio.Queue[T] = asyncio.Queue(queue_limit)
        self._task: asyncio.Task[None] | None = None
        # observability and tests
        self.batches = 0  # successful transactions
        self.written = 0  # items the write stored
        self.failed = 0  # bad items reported and dropped
        self.refused = 0  # items `put` refused because the queue was full
        self.outages = 0  # failed attempts retried as an outage

    def put(self, item: T) -> bool:
        """Queue an item without waiting; False (and logged) when the queue is full."""
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.refused += 1
            log.error("%s: queue full (%d); one item refused", self.name, self._queue.maxsize)
            return False
        return True

    def qsize(self) -> int:
        return self._queue.qsize()

    async def flush(self) -> None:
        """Wait until everything queued so far is written or reported."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.batch_limit and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._store(batch)
            except Exception:  # a bug here must not stop the writer
                log.exception("%s: a batch of %d was lost", self.name, len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _store(self, batch: list[T]) -> None:
        """Store every good item of the batch; split on data errors, retry outages."""
        pending = [batch]
        while pending:
            chunk = pending.pop()
            error = await self._attempt(chunk)
            if error is None:
                continue
            if len(chunk) == 1:
                self._report(chunk[0], error)
            else:
                middle = len(chunk) // 2
                pending += [chunk[middle:], chunk[:middle]]  # the first half goes first

    async def _attempt(self, chunk: list[T]) -> BaseException | None:
        """Write the chunk, retrying through an outage; the data error if the rows are bad."""
        attempt = 0
        while True:
            try:
                stored = list(await self.write(chunk))
            except Exception as error:
                if is_data_error(error):
                    return error
                self._outage(error, attempt, len(chunk))
                await asyncio.sleep(
                    retry_delay(attempt, initial=self.retry_initial, cap=self.retry_max)
                )
                attempt += 1
                continue
            if attempt:
                log.warning("%s: database back after %d failed attempts", self.name, attempt)
            self.batches += 1
            self.written += len(stored)
            await self._written(stored)
            return None

    def _outage(self, error: BaseException, attempt: int, size: int) -> None:
        self.outages += 1
        if attempt == 0:
            log.error(
                "%s: writing %d failed; retrying until it succeeds", self.name, size, exc_info=error
            )
        else:
            log.warning("%s: still failing (attempt %d): %s", self.name, attempt + 1, error)

    async def _written(self, stored: list[T]) -> None:
        if self.on_written is None or not stored:
            return
        try:
            await self.on_written(stored)
        except Exception:
            log.exception("%s: after-write callback failed", self.name)

    def _report(self, item: T, error: BaseException) -> None:
        self.failed += 1
        log.error("%s: dropped a bad item %r: %s", self.name, item, error)
        if self.on_failed is not None:
            self.on_failed(item, error)

    async def __aenter__(self) -> BatchWriter[T]:
        self._task = asyncio.create_task(self._run(), name=self.name)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await asyncio.wait_for(self.flush(), timeout=SHUTDOWN_S)
        except TimeoutError:
            log.error("%s: shutdown with %d items unwritten", self.name, self._queue.qsize())
        await stop(self._task)
        self._task = None
