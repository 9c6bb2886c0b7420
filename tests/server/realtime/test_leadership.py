"""One node at a time (server/realtime/leadership.py) on the real PostgreSQL, with two
engines as two nodes: one leads, the other takes over when the leader stops or dies (its
session killed, as after kill -9), and the dead one does not lead again while the other
does. On SQLite the one node leads. Nodes that migrate an empty database together wait
for each other. The presence sweep reports the sites of devices whose node died."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import asyncpg
from sqlalchemy import text, update

from server.clock import utcnow
from server.realtime.leadership import Leadership
from server.realtime.presence import PresenceSweep
from server.storage.database import Database
from server.storage.locks import LOCKS
from server.storage.presence import stale_after
from server.storage.tables import Device
from tests import factories
from tests.conftest import POSTGRES_URL, fresh_postgres

RETRY = 0.05
WAIT = 30.0


async def _until(condition: Callable[[], bool], *leaderships: Leadership) -> None:
    """Wait until `condition()` holds, re-checking whenever one of them changes."""
    async with asyncio.timeout(WAIT):
        while not condition():
            for leadership in leaderships:
                leadership.changed.clear()
            waits = [asyncio.ensure_future(x.changed.wait()) for x in leaderships]
            if condition():  # changed between the check and the clearing
                for wait in waits:
                    wait.cancel()
                return
            _done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for wait in pending:
                wait.cancel()


async def _holder_pid(database: Database, name: str) -> int | None:
    """The backend that holds the named advisory lock, if any."""
    async with database.engine.connect() as connection:
        pid = await connection.scalar(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND ((classid::bigint << 32) | objid::bigint) = :key"
            ),
            {"key": LOCKS[name]},
        )
    return None if pid is None else int(pid)


async def test_one_engine_leads_and_the_other_takes_over_when_it_stops(
    postgres_database: Database,
) -> None:
    """Of two nodes, exactly one leads; when it stops (releasing the lock) the other leads
    within a retry."""
    async with Database(postgres_database.url) as other:
        first = Leadership(postgres_database, "presence_sweep", retry_seconds=RETRY)
        second = Leadership(other, "presence_sweep", retry_seconds=RETRY)
        async with first, second:
            await _until(lambda: first.leading or second.leading, first, second)
            await asyncio.sleep(10 * RETRY)  # both have tried many times by now
            assert first.leading != second.leading
            leader, follower = (first, second) if first.leading else (second, first)
            await leader.__aexit__(None, None, None)
            await _until(lambda: follower.leading, follower)
            assert not leader.leading


async def test_the_other_takes_over_when_the_leader_dies(postgres_database: Database) -> None:
    """The leader's database session is killed (as when its node is killed -9 or cut off):
    the other node leads within a retry, and the old leader notices, stops leading and
    does not lead again while the new one holds the lock."""
    async with Database(postgres_database.url) as other:
        first = Leadership(postgres_database, "presence_sweep", retry_seconds=RETRY)
        async with first:
            await _until(lambda: first.leading, first)
            second = Leadership(other, "presence_sweep", retry_seconds=RETRY)
            async with second:
                pid = await _holder_pid(other, "presence_sweep")
                assert pid is not None
                admin = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
                try:
                    await admin.execute("SELECT pg_terminate_backend($1)", pid)
                finally:
                    await admin.close()
                await _until(lambda: second.leading, second)
                await _until(lambda: not first.leading, first)
                await asyncio.sleep(10 * RETRY)
                assert second.leading and not first.leading
                assert await _holder_pid(other, "presence_sweep") != pid


async def test_on_sqlite_the_one_node_leads(sqlite_database: Database) -> None:
    """SQLite has one node: it leads at once, and stops leading when it stops."""
    leadership = Leadership(sqlite_database, "presence_sweep", retry_seconds=RETRY)
    async with leadership:
        assert leadership.leading
    assert not leadership.leading


async def test_nodes_that_migrate_an_empty_database_together_both_succeed() -> None:
    """Three nodes start at once on an empty PostgreSQL database and each migrates: the
    migrate lock makes them take turns, so none fails and the schema is at head once."""
    async with fresh_postgres(None) as url:
        databases = [Database(url) for _ in range(3)]
        try:
            await asyncio.gather(*(database.migrate() for database in databases))
            async with databases[0].engine.connect() as connection:
                versions = (await connection.execute(text("SELECT * FROM alembic_version"))).all()
            assert len(versions) == 1
        finally:
            for database in databases:
                await database.close()


async def test_the_sweep_reports_sites_whose_devices_went_stale(database: Database) -> None:
    """A device still marked connected to a node that stopped seeing it a little more than
    2.5 heartbeats ago is reported with its site; a device seen just now, one released by
    its node, and one stale for long (reported before) are not."""
    world = await factories.organization(database, sites=("A", "B", "C"))
    heartbeat = 20.0
    now = utcnow()
    gone = now - stale_after(heartbeat) - timedelta(seconds=1)
    rows = {
        "dead": ("A", "node-dead", gone),
        "live": ("B", "node-live", now),
        "released": ("C", None, gone),
        "old": ("C", "node-dead", gone - timedelta(hours=1)),
    }
    for key, (site, node, seen) in rows.items():
        device_id = await factories.device(world, key, site=site)
        async with database.session() as session:
            await session.execute(
                update(Device)
                .where(Device.id == device_id)
                .values(connected_node=node, last_seen_at=seen)
            )
            await session.commit()
    reported: list[tuple[int, int]] = []

    async def on_stale(organization_id: int, site_id: int) -> None:
        reported.append((organization_id, site_id))

    async with Leadership(database, "presence_sweep", retry_seconds=RETRY) as leadership:
        sweep = PresenceSweep(
            database=database,
            leadership=leadership,
            interval=heartbeat,
            stale_after=stale_after(heartbeat),
            on_stale=on_stale,
        )
        assert await sweep.sweep() == [(world.organization_id, world.sites["A"])]
    assert reported == [(world.organization_id, world.sites["A"])]
