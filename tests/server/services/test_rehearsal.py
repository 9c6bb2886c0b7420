"""The trigger rehearsed at start-up (server/services/rehearsal.py): it leaves nothing behind,
it cannot commit, and after it the first real trigger compiles no statement — on SQLite and
PostgreSQL, through the app's own start-up and HTTP API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine.interfaces import CacheStats

from protocol.vocabulary import Role
from server.app import create_app
from server.services import rehearsal
from server.services.rehearsal import RehearsalCommitted, rehearse
from server.settings import Settings
from server.storage.database import Database
from server.storage.tables import Base, Organization
from tests import factories
from tests.server.services.worlds import caller_for, trigger


async def row_counts(database: Database) -> dict[str, int]:
    async with database.session() as session:
        return {
            table.name: (
                await session.execute(select(func.count()).select_from(table))
            ).scalar_one()
            for table in Base.metadata.sorted_tables
        }


@contextmanager
def compiled_statements(database: Database) -> Iterator[list[str]]:
    """The SQL of every statement `database` executes in the block that SQLAlchemy had to
    compile (not found in the engine's compiled cache)."""
    misses: list[str] = []

    def executed(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if context.cache_hit is CacheStats.CACHE_MISS:
            misses.append(statement)

    event.listen(database.engine.sync_engine, "after_cursor_execute", executed)
    try:
        yield misses
    finally:
        event.remove(database.engine.sync_engine, "after_cursor_execute", executed)


async def test_a_rehearsal_leaves_every_table_as_it_was(database: Database) -> None:
    world = await factories.organization(database)
    await factories.person(world, "rektor", roles=((Role.PRINCIPAL, "A"),))
    async with database.session() as session:  # an active alert: the rehearsal is apart
        await trigger(session, await caller_for(world, "rektor"), [world.sites["A"]])
    before = await row_counts(database)
    async with database.session() as session:
        last_seq = (await session.get_one(Organization, world.organization_id)).last_seq

    await rehearse(database)

    assert await row_counts(database) == before
    async with database.session() as session:
        assert (await session.get_one(Organization, world.organization_id)).last_seq == last_seq
        slugs = (await session.execute(select(Organization.slug))).scalars().all()
    assert not [slug for slug in slugs if slug.startswith("rehearsal-")]


async def test_rehearsals_of_nodes_starting_together_do_not_meet(database: Database) -> None:
    """Two nodes starting at once rehearse at once: each on its own organization."""
    before = await row_counts(database)
    if database.dialect == "postgresql":
        await asyncio.gather(rehearse(database), rehearse(database))
    else:  # one writer at a time; the second waits for the first's rollback
        await rehearse(database)
        await rehearse(database)
    assert await row_counts(database) == before


async def test_a_commit_inside_the_rehearsal_is_refused_before_anything_is_kept(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trigger that commits by another way than `commit()` (the sync session's) is
    refused, and what it wrote is rolled back."""
    before = await row_counts(database)

    async def committing(*, session: Any, **_: Any) -> Any:
        await session.run_sync(lambda sync: sync.commit())
        raise AssertionError("the commit went through")

    monkeypatch.setattr(rehearsal.alerts, "trigger", committing)
    with pytest.raises(RehearsalCommitted):
        await rehearse(database)
    assert await row_counts(database) == before


async def test_a_rehearsal_that_waits_too_long_gives_up_and_keeps_nothing(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trigger that has written and then waits (a database that makes writers wait) is
    given up after the timeout; what it wrote is rolled back."""
    before = await row_counts(database)

    async def waiting(*, session: Any, **_: Any) -> Any:
        await session.flush()
        await asyncio.sleep(30)

    monkeypatch.setattr(rehearsal.alerts, "trigger", waiting)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):  # as server.api.warm waits for it
            await rehearse(database)
    assert await row_counts(database) == before


async def first_trigger(app_database: Database, settings: Settings, *, start_up: bool) -> list[str]:
    """The statements a principal's first `POST /api/v1/alerts` compiles on an app over
    `app_database` (a fresh engine), after the app's start-up when `start_up`."""
    world = await factories.organization(app_database)
    await factories.person(world, "rektor", roles=((Role.PRINCIPAL, "A"),))
    fresh = Database(app_database.url)  # a new engine: nothing compiled yet
    try:
        app = create_app(settings, database=fresh, realtime=False)
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {world.tokens['rektor']}"}
        body = {"kind": "pdv_lockdown", "mode": "actual", "site_ids": [world.sites["A"]]}
        async with app.router.lifespan_context(app) if start_up else nullcontext():
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver", headers=headers
            ) as http:
                with compiled_statements(fresh) as compiled:
                    response = await http.post("/api/v1/alerts", json=body)
                assert response.status_code == 201, response.text
        return compiled
    finally:
        await fresh.close()


async def test_after_start_up_the_first_trigger_compiles_no_statement(
    database: Database, settings: Settings
) -> None:
    assert await first_trigger(database, settings, start_up=True) == []


async def test_without_start_up_the_first_trigger_compiles_its_statements(
    database: Database, settings: Settings
) -> None:
    """The control: the same request on an app whose start-up (and rehearsal) did not run."""
    compiled = await first_trigger(database, settings, start_up=False)
    assert any(statement.lstrip().upper().startswith("INSERT") for statement in compiled)
