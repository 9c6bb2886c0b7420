"""Persons, and the organizations, sites and login sessions they stand on, on SQLite and
PostgreSQL: validation, organization scoping, the last-admin rule and auditing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import Role
from server.clock import utcnow
from server.credentials import token_hash, verify_password
from server.errors import ServiceError
from server.storage import audit, login_sessions, organizations, persons, sites
from server.storage.database import Database
from server.storage.tables import AuditEntry, Credential, LoginSession, Person, RoleAssignment
from tests import factories

ACTOR = "system:test"


async def create_person(session: AsyncSession, organization_id: int, **fields: Any) -> Person:
    """`persons.create_person` by the test actor, now."""
    return await persons.create_person(
        session, organization_id=organization_id, actor=ACTOR, now=utcnow(), **fields
    )


async def update_person(
    session: AsyncSession, organization_id: int, *, now: datetime | None = None, **changes: Any
) -> Person:
    """`persons.update_person` by the test actor, `now` unless told otherwise."""
    return await persons.update_person(
        session, organization_id=organization_id, actor=ACTOR, now=now or utcnow(), **changes
    )


async def _count(database: Database, table: type) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def test_create_person_stores_lower_cased_email_roles_and_password(
    database: Database,
) -> None:
    """A new person is active, with the address lower-cased, the roles and a verifiable hash."""
    world = await factories.organization(database)
    site_a = world.sites["A"]
    async with database.session() as session:
        person = await create_person(
            session,
            world.organization_id,
            email="  Anna.Svensson@Example.SE ",
            name=" Anna Svensson ",
            password="long enough password",
            roles=[(Role.PRINCIPAL, site_a), (Role.STAFF, None), (Role.PRINCIPAL, site_a)],
            language="en",
            phone="+46 70-123 45 67",
        )
        await session.commit()
    async with database.session() as session:
        stored = await persons.get_by_email(session, email="ANNA.svensson@example.se")
        assert stored is not None and stored.id == person.id
        assert (stored.email, stored.name, stored.language, stored.active) == (
            "anna.svensson@example.se",
            "Anna Svensson",
            "en",
            True,
        )
        assert await persons.roles_of(session, person_id=person.id) == [
            (Role.PRINCIPAL, site_a),
            (Role.STAFF, None),
        ]
        digest = await persons.password_hash_of(session, person_id=person.id)
        entries = await audit.search(
            session, organization_id=world.organization_id, action="person.created"
        )
    assert digest is not None and verify_password(digest, "long enough password")
    assert "long enough password" not in digest
    assert [entry.target for entry in entries] == [f"person:{person.id}"]


async def test_person_without_password_cannot_log_in(database: Database) -> None:
    """No password: no credential row, and check_credentials refuses any password."""
    world = await factories.organization(database)
    async with database.session() as session:
        await create_person(
            session,
            world.organization_id,
            email="nopass@example.se",
            name="No Pass",
            password=None,
            roles=[],
        )
        await session.commit()
        found, ok = await persons.check_credentials(session, email="nopass@example.se", password="")
    assert found is not None and not ok
    assert await _count(database, Credential) == 0


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"email": "not-an-address"}, "request.invalid"),
        ({"email": "a@b"}, "request.invalid"),
        ({"email": "two@@example.se"}, "request.invalid"),
        ({"name": "   "}, "request.invalid"),
        ({"name": "x" * 201}, "request.invalid"),
        ({"language": "de"}, "request.invalid"),
        ({"phone": "call me"}, "request.invalid"),
        ({"password": "short"}, "person.weak_password"),
        ({"password": "123456789"}, "person.weak_password"),
        ({"roles": [("overlord", None)]}, "request.invalid"),
    ],
)
async def test_create_person_rejects_bad_values(
    database: Database, changes: dict[str, object], code: str
) -> None:
    """Each invalid value has its error code and nothing is written."""
    world = await factories.organization(database)
    values: dict[str, object] = {
        "email": "ok@example.se",
        "name": "Ok",
        "password": "long enough password",
        "roles": [],
    }
    values.update(changes)
    async with database.session() as session:
        with pytest.raises(ServiceError) as caught:
            await create_person(
                session,
                world.organization_id,
                **values,  # type: ignore[arg-type]
            )
    assert caught.value.code == code
    assert await _count(database, Person) == 0


async def test_email_is_unique_across_organizations(database: Database) -> None:
    """An address used in another organization is taken, whatever its case."""
    first = await factories.organization(database, name="Köping")
    second = await factories.organization(database, name="Arboga")
    await factories.person(first, "eva", email="eva@example.se", login=False)
    async with database.session() as session:
        with pytest.raises(ServiceError) as caught:
            await create_person(
                session,
                second.organization_id,
                email="EVA@example.se",
                name="Eva",
                password=None,
                roles=[],
            )
    assert caught.value.code == "person.email_taken"
    assert await _count(database, Person) == 1


async def test_roles_at_another_organizations_site_are_refused(database: Database) -> None:
    """A role may only name the organization's own sites (`site.not_found`)."""
    mine = await factories.organization(database, name="Köping")
    theirs = await factories.organization(database, name="Arboga")
    async with database.session() as session:
        with pytest.raises(ServiceError) as caught:
            await create_person(
                session,
                mine.organization_id,
                email="x@example.se",
                name="X",
                password=None,
                roles=[(Role.STAFF, theirs.sites["A"])],
            )
    assert caught.value.code == "site.not_found"
    assert await _count(database, Person) == 0


async def test_list_persons_filters_and_stays_in_the_organization(database: Database) -> None:
    """Filters by site role, role and active; never lists another organization's people."""
    world = await factories.organization(database)
    other = await factories.organization(database, name="Arboga")
    await factories.person(world, "admin", roles=((Role.ADMIN, None),), login=False)
    await factories.person(world, "anna", roles=((Role.STAFF, "A"),), login=False)
    await factories.person(world, "bo", roles=((Role.PRINCIPAL, "B"),), login=False)
    await factories.person(world, "cid", roles=((Role.STAFF, "A"),), active=False, login=False)
    await factories.person(other, "dan", roles=((Role.STAFF, "A"),), login=False)
    org = world.organization_id

    async def names(**filters: object) -> list[str]:
        async with database.session() as session:
            rows = await persons.list_persons(session, organization_id=org, **filters)  # type: ignore[arg-type]
        return [row.name for row in rows]

    assert await names() == ["Admin", "Anna", "Bo", "Cid"]
    assert await names(site_id=world.sites["A"]) == ["Anna", "Cid"]
    assert await names(role=Role.PRINCIPAL) == ["Bo"]
    assert await names(site_id=world.sites["B"], role=Role.STAFF) == []
    assert await names(active=False) == ["Cid"]
    assert await names(site_id=world.sites["A"], active=True) == ["Anna"]


async def test_update_replaces_roles_and_audits_without_personal_details(
    database: Database,
) -> None:
    """Roles are replaced as a whole; the audit names changed fields, not the phone number."""
    world = await factories.organization(database)
    anna = await factories.person(world, "anna", roles=((Role.STAFF, "A"),), login=False)
    async with database.session() as session:
        await update_person(
            session,
            world.organization_id,
            person_id=anna,
            phone="070 111 22 33",
            roles=[(Role.PRINCIPAL, world.sites["B"])],
        )
        await session.commit()
    async with database.session() as session:
        assert await persons.roles_of(session, person_id=anna) == [
            (Role.PRINCIPAL, world.sites["B"])
        ]
        (entry,) = await audit.search(
            session, organization_id=world.organization_id, action="person.updated"
        )
    assert entry.details["fields"] == ["phone", "roles"]
    assert "070" not in str(entry.details)


async def test_last_active_admin_cannot_be_removed(database: Database) -> None:
    """Deactivating or demoting the only active org-wide admin is `person.last_admin`."""
    world = await factories.organization(database)
    admin = await factories.person(world, "admin", roles=((Role.ADMIN, None),), login=False)
    await factories.person(world, "site-admin", roles=((Role.ADMIN, "A"),), login=False)
    for change in ({"active": False}, {"roles": [(Role.ADMIN, world.sites["A"])]}):
        async with database.session() as session:
            with pytest.raises(ServiceError) as caught:
                await update_person(
                    session,
                    world.organization_id,
                    person_id=admin,
                    **change,  # type: ignore[arg-type]
                )
        assert caught.value.code == "person.last_admin"
    async with database.session() as session:
        row = await session.get_one(Person, admin)
        assert row.active
        assert await persons.roles_of(session, person_id=admin) == [(Role.ADMIN, None)]


async def test_an_admin_may_go_when_another_remains(database: Database) -> None:
    """With a second active org-wide admin the first can be deactivated."""
    world = await factories.organization(database)
    first = await factories.person(world, "first", roles=((Role.ADMIN, None),), login=False)
    await factories.person(world, "second", roles=((Role.ADMIN, None),), login=False)
    async with database.session() as session:
        await update_person(session, world.organization_id, person_id=first, active=False)
        await session.commit()
    async with database.session() as session:
        assert not (await session.get_one(Person, first)).active


async def test_organization_without_admin_is_not_blocked(database: Database) -> None:
    """Where there was no active admin to begin with, other changes still go through."""
    world = await factories.organization(database)
    staff = await factories.person(world, "staff", roles=((Role.STAFF, "A"),), login=False)
    async with database.session() as session:
        await update_person(session, world.organization_id, person_id=staff, active=False)
        await session.commit()


async def test_deactivating_closes_sessions_and_password_change_keeps_one(
    database: Database,
) -> None:
    """Deactivation ends every session; a new password ends all but the kept one."""
    world = await factories.organization(database)
    anna = await factories.person(world, "anna", roles=((Role.STAFF, "A"),), login=False)
    now = utcnow()
    async with database.session() as session:
        person = await session.get_one(Person, anna)
        tokens = [
            await login_sessions.open_session(
                session,
                person=person,
                ip="127.0.0.1",
                user_agent="test",
                lifetime=timedelta(hours=1),
                now=now,
            )
            for _ in range(3)
        ]
        await session.commit()
    async with database.session() as session:
        await update_person(
            session,
            world.organization_id,
            person_id=anna,
            password="a brand new password",
            now=now,
            keep_session=token_hash(tokens[0]),
        )
        await session.commit()
        left = (await session.scalars(select(LoginSession.token_hash))).all()
        assert left == [token_hash(tokens[0])]
        await update_person(session, world.organization_id, person_id=anna, active=False, now=now)
        await session.commit()
    assert await _count(database, LoginSession) == 0


async def test_update_of_another_organizations_person_is_not_found(database: Database) -> None:
    """Ids of another organization answer `person.not_found` and change nothing."""
    mine = await factories.organization(database, name="Köping")
    theirs = await factories.organization(database, name="Arboga")
    stranger = await factories.person(theirs, "stranger", login=False)
    async with database.session() as session:
        with pytest.raises(ServiceError) as caught:
            await update_person(session, mine.organization_id, person_id=stranger, name="Hacked")
    assert caught.value.code == "person.not_found"
    async with database.session() as session:
        assert (await session.get_one(Person, stranger)).name == "Stranger"


async def test_sessions_store_only_the_hash_and_expired_ones_are_swept(
    database: Database,
) -> None:
    """open_session returns a pdvs_ token whose hash alone is stored; expired rows go."""
    world = await factories.organization(database)
    anna = await factories.person(world, "anna", login=False)
    now = utcnow()
    async with database.session() as session:
        person = await session.get_one(Person, anna)
        old = await login_sessions.open_session(
            session,
            person=person,
            ip="127.0.0.1",
            user_agent="x" * 1000,
            lifetime=timedelta(seconds=1),
            now=now - timedelta(hours=1),
        )
        token = await login_sessions.open_session(
            session,
            person=person,
            ip="127.0.0.1",
            user_agent="ua",
            lifetime=timedelta(hours=1),
            now=now,
        )
        await session.commit()
        rows = (await session.scalars(select(LoginSession))).all()
    assert token.startswith("pdvs_") and old != token
    assert [row.token_hash for row in rows] == [token_hash(token)]
    async with database.session() as session:
        await login_sessions.close_session(session, token_hash=token_hash(token))
        await login_sessions.close_session(session, token_hash=token_hash(token))  # idempotent
        await session.commit()
    assert await _count(database, LoginSession) == 0


async def test_create_organization_has_random_epoch_and_refuses_slug_clash(
    database: Database,
) -> None:
    """Organizations get a slug from the name, a random epoch and an audit entry."""
    async with database.session() as session:
        first = await organizations.create_organization(
            session, name="Köpings kommun", actor=ACTOR, now=utcnow()
        )
        second = await organizations.create_organization(
            session, name="Arboga", slug="arboga", language="en", actor=ACTOR, now=utcnow()
        )
        await session.commit()
    assert first.slug == "kopings-kommun" and second.slug == "arboga"
    assert len(first.epoch) == 16 and first.epoch != second.epoch
    async with database.session() as session:
        with pytest.raises(ServiceError) as caught:
            await organizations.create_organization(
                session, name="Köpings Kommun", actor=ACTOR, now=utcnow()
            )
        assert caught.value.code == "organization.exists"
    async with database.session() as session:
        assert [o.slug for o in await organizations.list_organizations(session)] == [
            "kopings-kommun",
            "arboga",
        ]
        found = await organizations.get_by_slug(session, slug="arboga")
        assert found is not None and found.language == "en"
        entries = await audit.search(session, organization_id=first.id)
        assert [entry.action for entry in entries] == ["organization.created"]
        assert (await audit.verify(session, organization_id=first.id)).ok


@pytest.mark.parametrize("slug", ["", "Has Space", "ends-", "-starts", "x" * 101, "a--b"])
async def test_create_organization_refuses_bad_slugs(database: Database, slug: str) -> None:
    """A slug is lower-case letters and digits joined by single dashes."""
    async with database.session() as session:
        with pytest.raises(ServiceError) as caught:
            await organizations.create_organization(
                session, name="Ok", slug=slug, actor=ACTOR, now=utcnow()
            )
    assert caught.value.code == "request.invalid"


async def test_sites_and_zones_are_unique_by_name_and_scoped(database: Database) -> None:
    """Duplicate names (any case) are refused; zones need a site of the organization."""
    world = await factories.organization(database)
    other = await factories.organization(database, name="Arboga")
    org = world.organization_id
    async with database.session() as session:
        site = await sites.create_site(
            session,
            organization_id=org,
            name="Ullvigymnasiet",
            staff_may_trigger=False,
            actor=ACTOR,
            now=utcnow(),
        )
        zone = await sites.create_zone(
            session, organization_id=org, site_id=site.id, name="Hus B", actor=ACTOR, now=utcnow()
        )
        await session.commit()
    failures = [
        (sites.create_site, {"name": "ULLVIGYMNASIET"}, "site.exists"),
        (sites.create_zone, {"site_id": site.id, "name": "hus b"}, "zone.exists"),
        (sites.create_zone, {"site_id": other.sites["A"], "name": "Z"}, "site.not_found"),
        (sites.update_site, {"site_id": site.id, "name": "a"}, "site.exists"),
    ]
    for function, values, code in failures:
        async with database.session() as session:
            with pytest.raises(ServiceError) as caught:
                await function(session, organization_id=org, actor=ACTOR, now=utcnow(), **values)  # type: ignore[operator]
            assert caught.value.code == code
    async with database.session() as session:
        policy = await sites.staff_trigger_policy(session, organization_id=org)
        listed = [s.name for s in await sites.list_sites(session, organization_id=org)]
        zones = await sites.zones_by_site(session, organization_id=org)
    assert policy == {world.sites["A"]: True, world.sites["B"]: True, site.id: False}
    assert listed == ["A", "B", "Ullvigymnasiet"]
    assert {site_id: [z.id for z in found] for site_id, found in zones.items()} == {
        site.id: [zone.id]
    }


async def test_deleting_a_zone_keeps_the_audit_chain_intact(database: Database) -> None:
    """A deleted zone is gone, audited, and the chain still verifies."""
    world = await factories.organization(database)
    org, site_id = world.organization_id, world.sites["A"]
    async with database.session() as session:
        zone = await sites.create_zone(
            session, organization_id=org, site_id=site_id, name="Hus A", actor=ACTOR, now=utcnow()
        )
        await session.commit()
    async with database.session() as session:
        await sites.delete_zone(
            session,
            organization_id=org,
            site_id=site_id,
            zone_id=zone.id,
            actor=ACTOR,
            now=utcnow(),
        )
        await session.commit()
    async with database.session() as session:
        with pytest.raises(ServiceError) as caught:
            await sites.get_zone(session, organization_id=org, site_id=site_id, zone_id=zone.id)
        assert caught.value.code == "zone.not_found"
        assert (await audit.verify(session, organization_id=org)).ok
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq))).all()
    assert actions == ["zone.created", "zone.deleted"]
    assert await _count(database, RoleAssignment) == 0
