"""Person use cases on SQLite and PostgreSQL: MANAGE_PEOPLE organization-wide before any
write, one commit, and sign-outs reaching the sink after the commit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from protocol.vocabulary import Role
from server.clock import utcnow
from server.core.errors import Forbidden
from server.errors import ServiceError
from server.services import persons
from server.services.access import Operator
from server.services.sink import RecordingSink
from server.storage.database import Database
from server.storage.tables import AuditEntry, LoginSession, Organization, Person
from tests import factories
from tests.factories import World
from tests.server.services.acting import caller, count

PASSWORD = "a brand new password"


async def _world(database: Database) -> World:
    world = await factories.organization(database)
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    await factories.person(world, "site_admin", roles=((Role.ADMIN, "A"),))
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),))
    return world


@pytest.mark.parametrize("key", ["site_admin", "staff"])
async def test_create_is_refused_without_manage_people_and_writes_nothing(
    database: Database, key: str
) -> None:
    """A site-level admin or staff member gets auth.forbidden; no person, no audit entry."""
    world = await _world(database)
    async with database.session() as session:
        with pytest.raises(Forbidden):
            await persons.create_person(
                session=session,
                who=await caller(world, key),
                email="new@example.se",
                name="New",
                password=None,
                roles=[],
                now=utcnow(),
            )
    assert await count(database, Person, Person.email == "new@example.se") == 0
    assert await count(database, AuditEntry) == 0


async def test_create_takes_the_organizations_language_and_commits(database: Database) -> None:
    """Without a language the person gets the organization's; the operator may create."""
    world = await _world(database)
    async with database.session() as session:
        org = await session.get_one(Organization, world.organization_id)
        org.language = "en"
        await session.commit()
    operator = Operator(organization_id=world.organization_id, ref="cli:test")
    async with database.session() as session:
        view = await persons.create_person(
            session=session,
            who=operator,
            email="Eva@Example.se",
            name="Eva",
            password=None,
            roles=[(Role.STAFF, world.sites["B"])],
            now=utcnow(),
        )
    assert view.roles == [(Role.STAFF, world.sites["B"])]
    async with database.session() as session:
        stored = await session.get_one(Person, view.person.id)
        actors = (await session.scalars(select(AuditEntry.actor))).all()
    assert (stored.email, stored.language) == ("eva@example.se", "en")
    assert actors == ["cli:test"]


async def test_deactivating_signs_the_person_out_after_the_commit(database: Database) -> None:
    """Deactivation closes the person's sessions and tells the sink person_signed_out."""
    world = await _world(database)
    staff = world.persons["staff"]
    sink = RecordingSink()
    async with database.session() as session:
        view = await persons.update_person(
            session=session,
            sink=sink,
            caller=await caller(world, "admin"),
            person_id=staff,
            active=False,
            now=utcnow(),
        )
    assert not view.person.active
    assert sink.told == [("person_signed_out", staff)]
    assert await count(database, LoginSession, LoginSession.person_id == staff) == 0


async def test_own_password_change_keeps_the_session_and_signs_nobody_out(
    database: Database,
) -> None:
    """An admin changing their own password keeps their session; the sink hears nothing.
    Setting someone else's password signs that person out."""
    world = await _world(database)
    admin = await caller(world, "admin")
    sink = RecordingSink()
    async with database.session() as session:
        await persons.update_person(
            session=session,
            sink=sink,
            caller=admin,
            person_id=admin.actor.id,
            password=PASSWORD,
            now=utcnow(),
        )
    assert sink.told == []
    assert await count(database, LoginSession, LoginSession.person_id == admin.actor.id) == 1
    async with database.session() as session:
        await persons.update_person(
            session=session,
            sink=sink,
            caller=admin,
            person_id=world.persons["staff"],
            password=PASSWORD,
            now=utcnow(),
        )
    assert sink.told == [("person_signed_out", world.persons["staff"])]


async def test_update_refusals_change_nothing(database: Database) -> None:
    """Forbidden for staff, request.invalid with nothing to change, last_admin for the only
    admin: no change, no audit entry, nothing told."""
    world = await _world(database)
    sink = RecordingSink()
    attempts = [
        ("staff", {"name": "Hacker"}, "auth.forbidden"),
        ("admin", {}, "request.invalid"),
        ("admin", {"active": False}, "person.last_admin"),
    ]
    for key, changes, code in attempts:
        async with database.session() as session:
            with pytest.raises((ServiceError, Forbidden)) as caught:
                await persons.update_person(
                    session=session,
                    sink=sink,
                    caller=await caller(world, key),
                    person_id=world.persons["admin"],
                    now=utcnow(),
                    **changes,  # type: ignore[arg-type]
                )
        assert caught.value.code == code
    assert sink.told == []
    assert await count(database, AuditEntry) == 0
    async with database.session() as session:
        admin = await session.get_one(Person, world.persons["admin"])
    assert (admin.name, admin.active) == ("Admin", True)


async def test_list_and_get_need_manage_people_and_own_sites(database: Database) -> None:
    """Listing by another organization's site is site.not_found; staff may not list or get."""
    world = await _world(database)
    other = await factories.organization(database, name="Arboga")
    admin = await caller(world, "admin")
    async with database.session() as session:
        views = await persons.list_persons(session=session, who=admin, site_id=world.sites["A"])
        assert {view.person.id for view in views} == {
            world.persons["site_admin"],
            world.persons["staff"],
        }
        with pytest.raises(ServiceError) as caught:
            await persons.list_persons(session=session, who=admin, site_id=other.sites["A"])
        assert caught.value.code == "site.not_found"
        staff = await caller(world, "staff")
        with pytest.raises(Forbidden):
            await persons.list_persons(session=session, who=staff)
        with pytest.raises(Forbidden):
            await persons.get_person(session=session, caller=staff, person_id=staff.actor.id)
        view = await persons.get_person(session=session, caller=admin, person_id=staff.actor.id)
    assert view.roles == [(Role.STAFF, world.sites["A"])]


async def test_a_role_change_tells_the_sink_after_the_commit(database: Database) -> None:
    """New roles tell the sink person_rights_changed, so live connections get the new rights."""
    world = await _world(database)
    staff = world.persons["staff"]
    sink = RecordingSink()
    async with database.session() as session:
        await persons.update_person(
            session=session,
            sink=sink,
            caller=await caller(world, "admin"),
            person_id=staff,
            roles=[(Role.PRINCIPAL, world.sites["A"])],
            now=utcnow(),
        )
    assert sink.told == [("person_rights_changed", staff)]
