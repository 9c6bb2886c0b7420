"""The migrations, the schema and the basic guarantees of the database layer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select, update
from sqlalchemy.exc import IntegrityError

from server.storage import audit, events
from server.storage.database import Database
from server.storage.tables import Alert, AlertSite, AuditEntry, Base
from tests import factories
from tests.server.storage.alert_rows import insert_alert


async def test_migrations_create_exactly_the_declared_tables(database: Database) -> None:
    """alembic's head schema has every table and column the models declare."""
    async with database.engine.connect() as connection:
        tables = await connection.run_sync(
            lambda c: {
                name: {col["name"] for col in inspect(c).get_columns(name)}
                for name in inspect(c).get_table_names()
            }
        )
    tables.pop("alembic_version")
    declared = {t.name: {c.name for c in t.columns} for t in Base.metadata.sorted_tables}
    assert tables == declared


async def test_migrate_twice_is_harmless(database: Database) -> None:
    """Running the migrations on a migrated database changes nothing."""
    await database.migrate()
    world = await factories.organization(database)
    assert world.organization_id > 0


async def test_seq_is_monotonic_per_organization(database: Database) -> None:
    """Each organization numbers its events 1, 2, 3… independently."""
    first = await factories.organization(database, name="Köping")
    second = await factories.organization(database, name="Arboga")
    async with database.session() as session:
        seqs = [
            await events.next_seq(session, organization_id=first.organization_id) for _ in range(3)
        ]
        other = await events.next_seq(session, organization_id=second.organization_id)
        await session.commit()
    assert seqs == [1, 2, 3]
    assert other == 1


async def test_one_active_alert_per_site_is_enforced_by_the_database(database: Database) -> None:
    """A second active alert on the same site violates the partial unique index."""
    world = await factories.organization(database)
    site = world.sites["A"]
    await insert_alert(database, world, site_ids=[site])
    with pytest.raises(IntegrityError):
        await insert_alert(database, world, site_ids=[site])


async def test_an_ended_alert_frees_its_site(database: Database) -> None:
    """Once the alert_sites row is inactive, a new alert on the site is accepted."""
    world = await factories.organization(database)
    site = world.sites["A"]
    first = await insert_alert(database, world, site_ids=[site])
    async with database.session() as session:
        await session.execute(
            update(AlertSite).where(AlertSite.alert_id == first).values(active=False)
        )
        await session.commit()
    second = await insert_alert(database, world, site_ids=[site])
    assert second != first


async def test_timestamps_come_back_as_aware_utc(database: Database) -> None:
    """Whatever the backend stores, Python gets timezone-aware UTC datetimes."""
    world = await factories.organization(database)
    at = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    async with database.session() as session:
        await audit.record(
            session,
            organization_id=world.organization_id,
            actor="system",
            action="test.time",
            at=at,
        )
        await session.commit()
    async with database.session() as session:
        entry = await session.scalar(select(AuditEntry))
    assert entry is not None and entry.at == at and entry.at.tzinfo is not None


async def test_audit_chain_detects_edits_and_deletions(database: Database) -> None:
    """verify() passes on an untouched log and reports an edited or deleted row."""
    world = await factories.organization(database)
    org = world.organization_id
    async with database.session() as session:
        for number in range(4):
            await audit.record(
                session,
                organization_id=org,
                actor="person:1",
                action="alert.triggered",
                at=datetime.now(UTC),
                details={"n": number},
            )
        await session.commit()
    async with database.session() as session:
        assert (await audit.verify(session, organization_id=org)).ok
        await session.execute(
            update(AuditEntry).where(AuditEntry.seq == 2).values(details={"n": 99})
        )
        await session.commit()
    async with database.session() as session:
        result = await audit.verify(session, organization_id=org)
    assert not result.ok and any(p.seq == 2 for p in result.problems)


async def test_audit_chain_detects_a_deleted_last_row(database: Database) -> None:
    """Deleting the newest entry is caught by the stored chain head."""
    world = await factories.organization(database)
    org = world.organization_id
    async with database.session() as session:
        for _ in range(2):
            await audit.record(
                session, organization_id=org, actor="system", action="x", at=datetime.now(UTC)
            )
        await session.commit()
        last = await session.scalar(select(AuditEntry).where(AuditEntry.seq == 2))
        await session.delete(last)
        await session.commit()
    async with database.session() as session:
        result = await audit.verify(session, organization_id=org)
    assert not result.ok


async def test_a_table_rebuilding_migration_keeps_the_rows_that_refer_to_it(
    database: Database,
) -> None:
    """Migration 0005 changes a constraint of `alerts`, which SQLite can only do by copying
    the table: going back and forth over it on a database with alerts keeps every alert and
    every row that refers to one (a cascading drop would have deleted them), the foreign keys
    are enforced again afterwards, and after it one key may be stored on several alerts."""
    world = await factories.organization(database)
    first = await insert_alert(database, world, site_ids=[world.sites["A"]])
    second = await insert_alert(database, world, site_ids=[world.sites["B"]])

    async def rows() -> tuple[int, int]:
        async with database.session() as session:
            alerts = (await session.scalars(select(Alert.id).order_by(Alert.id))).all()
            sites = (await session.scalars(select(AlertSite.alert_id))).all()
        assert list(alerts) == [first, second]
        return len(alerts), len(sites)

    assert await rows() == (2, 2)
    await database.downgrade("0004")
    assert await rows() == (2, 2)
    await database.migrate()
    assert await rows() == (2, 2)
    async with database.session() as session:
        await session.execute(update(Alert).values(idempotency_key="same-key"))
        await session.commit()
    with pytest.raises(IntegrityError):  # references are enforced again
        await insert_alert(database, world, site_ids=[10**6])
