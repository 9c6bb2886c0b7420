"""The people import as a use case: the transaction is the dry run, live connections hear
of changed rights only after a real commit, and a failing one leaves nothing behind."""

from __future__ import annotations

from sqlalchemy import func, select

from protocol.vocabulary import Role
from server.clock import utcnow
from server.services.person_import import import_persons
from server.services.sink import RecordingSink
from server.storage.database import Database
from server.storage.tables import AuditEntry, Person, RoleAssignment
from tests import factories
from tests.server.storage.test_rollcall import caller_of

FILE = (
    "email,name,role,site\nlarare@koping.se,Lärare,principal,A\nny@koping.se,Ny Person,staff,B\n"
).encode()


async def _world(database: Database) -> factories.World:
    world = await factories.organization(database, sites=("A", "B"))
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    await factories.person(world, "teacher", roles=((Role.STAFF, "A"),), email="larare@koping.se")
    return world


async def _rows(database: Database) -> tuple[int, int, int]:
    async with database.session() as session:
        persons = await session.scalar(select(func.count()).select_from(Person))
        roles = await session.scalar(select(func.count()).select_from(RoleAssignment))
        audit = await session.scalar(select(func.count()).select_from(AuditEntry))
    return int(persons or 0), int(roles or 0), int(audit or 0)


async def test_a_dry_run_rolls_back_and_tells_nobody(database: Database) -> None:
    """The dry run makes the changes in its transaction and rolls them back: counts, no rows,
    no audit, no sink call."""
    world = await _world(database)
    admin = await caller_of(world, "admin")
    sink = RecordingSink()
    before = await _rows(database)
    async with database.session() as session:
        result = await import_persons(
            session=session, sink=sink, who=admin, data=FILE, dry_run=True, now=utcnow()
        )
    assert (result.created, result.updated, result.unchanged, result.errors) == (1, 1, 0, [])
    assert await _rows(database) == before and sink.told == []


async def test_a_real_import_commits_then_tells_of_changed_rights(database: Database) -> None:
    """After the commit the promoted teacher's live connections are told their rights changed."""
    world = await _world(database)
    admin = await caller_of(world, "admin")
    sink = RecordingSink()
    persons_before, _, audit_before = await _rows(database)
    async with database.session() as session:
        result = await import_persons(
            session=session, sink=sink, who=admin, data=FILE, dry_run=False, now=utcnow()
        )
    assert (result.created, result.updated) == (1, 1)
    assert sink.rights_changed == [world.persons["teacher"]]
    persons_after, _, audit_after = await _rows(database)
    assert persons_after == persons_before + 1
    assert audit_after == audit_before + 3  # person.created, person.updated, persons.imported
