"""The one batch writer: a bad item is split out and reported while every good one is
stored; an outage is retried until it ends; a full queue refuses and says so. The write
here is the test's own (the boundary); the writers built on it are tested against real
databases in test_receipts.py and below."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from protocol.messages import MAX_ID
from server.realtime.batches import BatchWriter, is_data_error, retry_delay
from server.realtime.presence import DeviceLink, PresenceWriter
from server.realtime.tokens import DeviceTokens
from server.storage.database import Database
from server.storage.tables import Device
from tests import factories
from tests.server.realtime.conftest import WAIT
from tests.server.realtime.outages import Outage


class Store:
    """A write that stores ints, refuses the `bad` ones (a constraint) and is unreachable
    while `down` is set."""

    def __init__(self, bad: frozenset[int] = frozenset()) -> None:
        self.bad = bad
        self.rows: list[int] = []
        self.down = False
        self.attempts = 0
        self.attempted = asyncio.Condition()

    async def write(self, batch: list[int]) -> list[int]:
        async with self.attempted:
            self.attempts += 1
            self.attempted.notify_all()
        if self.down:
            raise sa_exc.OperationalError("INSERT", {}, ConnectionRefusedError(111, "refused"))
        for item in batch:
            if item in self.bad:
                raise sa_exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("FOREIGN KEY"))
        self.rows += batch
        return batch

    async def until(self, condition: Callable[[], bool]) -> None:
        async with self.attempted:
            await asyncio.wait_for(self.attempted.wait_for(condition), timeout=10)


def writer(store: Store, **options: object) -> BatchWriter[int]:
    values: dict[str, object] = dict(
        name="test", write=store.write, batch_limit=100, retry_initial=0.01, retry_max=0.05
    )
    values.update(options)
    return BatchWriter(**values)  # type: ignore[arg-type]


async def test_bad_items_are_split_out_and_every_good_one_is_stored() -> None:
    """Two bad items in a batch of 20: 18 stored, each bad one reported exactly once."""
    store = Store(bad=frozenset({3, 17}))
    reported: list[int] = []
    batch_writer = writer(store, on_failed=lambda item, error: reported.append(item))
    for item in range(20):
        assert batch_writer.put(item)
    async with batch_writer:
        await batch_writer.flush()
    assert sorted(store.rows) == [i for i in range(20) if i not in (3, 17)]
    assert sorted(reported) == [3, 17]
    assert (batch_writer.written, batch_writer.failed, batch_writer.outages) == (18, 2, 0)


async def test_an_outage_is_retried_until_it_ends_and_nothing_is_lost() -> None:
    """While the store is down the batch stays and new items queue; all are written once."""
    store = Store()
    store.down = True
    batch_writer = writer(store)
    async with batch_writer:
        batch_writer.put(1)
        await store.until(lambda: store.attempts >= 3)  # retried, not dropped
        batch_writer.put(2)  # queues meanwhile
        store.down = False
        await batch_writer.flush()
    assert sorted(store.rows) == [1, 2]
    assert batch_writer.failed == 0 and batch_writer.outages >= 3


async def test_a_full_queue_refuses_and_loses_nothing_it_accepted() -> None:
    """put returns False beyond queue_limit; the accepted items are all written."""
    store = Store()
    batch_writer = writer(store, queue_limit=2)
    assert [batch_writer.put(i) for i in range(3)] == [True, True, False]
    assert batch_writer.refused == 1
    async with batch_writer:
        await batch_writer.flush()
    assert store.rows == [0, 1]


async def test_a_failing_after_write_callback_does_not_rewrite() -> None:
    """on_written raising is logged; the batch is neither retried nor counted as failed."""
    store = Store()

    async def broken(stored: list[int]) -> None:
        raise RuntimeError("feed down")

    batch_writer = writer(store, on_written=broken)
    batch_writer.put(1)
    async with batch_writer:
        await batch_writer.flush()
    assert store.rows == [1] and store.attempts == 1 and batch_writer.failed == 0


def _wrapped(driver_error: BaseException) -> sa_exc.DBAPIError:
    """An error as SQLAlchemy raises it: the driver's error as `orig`, its cause chained."""
    adapted = Exception("adapted")
    adapted.__cause__ = driver_error
    return sa_exc.DBAPIError("SELECT", {}, adapted)  # type: ignore[arg-type]


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "data"),
    [
        (sa_exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE")), True),
        (_wrapped(ValueError("value out of int32 range")), True),  # asyncpg's DataError
        (OverflowError("Python int too large to convert to SQLite INTEGER"), True),
        (_wrapped(_PgError("23503")), True),  # foreign key violation
        (_wrapped(_PgError("22003")), True),  # numeric value out of range
        (_wrapped(_PgError("57P01")), False),  # admin shutdown
        (_wrapped(_PgError("55000")), False),  # database not accepting connections
        (sa_exc.OperationalError("INSERT", {}, sqlite3.OperationalError("locked")), False),
        (_wrapped(ConnectionRefusedError(111, "refused")), False),
        (TimeoutError(), False),
        (RuntimeError("unknown"), False),  # unknown: keep the rows and retry
    ],
)
def test_data_errors_are_told_from_outages(error: BaseException, data: bool) -> None:
    """Errors of the rows split the batch; outages and unknown errors are retried."""
    assert is_data_error(error) is data


def test_retry_delay_doubles_from_a_tenth_to_five_seconds() -> None:
    """0.1, 0.2, 0.4 … capped at 5 s, also for absurd attempt counts."""
    assert [retry_delay(n) for n in range(4)] == [0.1, 0.2, 0.4, 0.8]
    assert retry_delay(6) == 5.0 and retry_delay(10_000) == 5.0


# -- the writers built on it, against real databases --------------------------------------


async def _until_outages(batch_writer: BatchWriter[Any], count: int) -> None:
    """Poll until the writer has met `count` failed attempts (WAIT only bounds a hang)."""
    for _ in range(int(WAIT / 0.01)):
        if batch_writer.outages >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the writer never failed {count} times")


async def _nodes(database: Database) -> dict[int, str | None]:
    async with database.session() as session:
        rows = await session.execute(select(Device.id, Device.connected_node))
        return {row.id: row.connected_node for row in rows}


async def test_presence_writer_splits_out_bad_links(database: Database) -> None:
    """A link of a device id beyond the column is reported (on SQLite also that of a vanished
    device; PostgreSQL's bulk update skips it harmlessly); the good links of the same batch
    are recorded."""
    world = await factories.organization(database, sites=("A",))
    good = [await factories.device(world, name, site="A") for name in ("d1", "d2")]
    org, site = world.organization_id, world.sites["A"]
    writer = PresenceWriter(database=database, node_id="node-1")
    for device_id in (good[0], MAX_ID + 1, good[1], good[1] + 1000):
        writer.put(
            DeviceLink(device_id=device_id, organization_id=org, site_id=site, connected=True)
        )
    async with writer:
        await writer.flush()
        nodes = await _nodes(database)
        assert (nodes[good[0]], nodes[good[1]]) == ("node-1", "node-1")
        assert writer.writer.written + writer.writer.failed == 4
        assert writer.writer.failed == (1 if database.dialect == "postgresql" else 2)


async def test_presence_writer_waits_out_an_outage(database: Database) -> None:
    """A connect queued while the database is away is recorded when it is back."""
    world = await factories.organization(database, sites=("A",))
    device_id = await factories.device(world, "d1", site="A")
    outage = Outage(database)
    writer = PresenceWriter(database=database, node_id="node-1")
    async with writer:
        await outage.start()
        try:
            writer.put(
                DeviceLink(
                    device_id=device_id,
                    organization_id=world.organization_id,
                    site_id=world.sites["A"],
                    connected=True,
                )
            )
            await _until_outages(writer.writer, 2)
        finally:
            await outage.restore()
        await asyncio.wait_for(writer.flush(), timeout=WAIT)
        assert (await _nodes(database))[device_id] == "node-1"
        assert writer.writer.failed == 0


async def test_token_lookups_wait_out_an_outage(database: Database) -> None:
    """A hello's token lookup during an outage is retried and resolves when it is back."""
    world = await factories.organization(database, sites=("A",))
    device_id = await factories.device(world, "d1", site="A")
    outage = Outage(database)
    async with DeviceTokens(database) as tokens:
        await outage.start()
        try:
            lookup = asyncio.create_task(tokens.resolve(world.tokens["d1"]))
            await _until_outages(tokens.writer, 2)
            assert not lookup.done()
        finally:
            await outage.restore()
        caller = await asyncio.wait_for(lookup, timeout=WAIT)
        assert caller is not None and caller.device is not None
        assert caller.device.id == device_id
        assert await tokens.resolve("pdvd_unknown") is None
