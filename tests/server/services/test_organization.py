"""Organization use cases on SQLite and PostgreSQL: MANAGE_SETTINGS before any change, and
`init`'s organization-with-admin in one commit."""

from __future__ import annotations

import pytest

from protocol.vocabulary import Role
from server.clock import utcnow
from server.core.errors import Forbidden
from server.errors import ServiceError
from server.services import organization
from server.storage.database import Database
from server.storage.tables import AuditEntry, Organization, Person
from tests import factories
from tests.server.services.acting import caller, count


async def test_settings_change_needs_manage_settings_and_valid_templates(
    database: Database,
) -> None:
    """A chief is forbidden; invalid templates and an empty change are refused; nothing
    changes until an admin renames the organization."""
    world = await factories.organization(database)
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    admin = await caller(world, "admin")
    async with database.session() as session:
        with pytest.raises(Forbidden):
            await organization.update_organization(
                session=session, caller=await caller(world, "chief"), name="X", now=utcnow()
            )
        for changes, code in (
            ({"name": "X", "templates": {"no_such_kind": {}}}, "settings.invalid_templates"),
            ({}, "request.invalid"),
        ):
            with pytest.raises(ServiceError) as caught:
                await organization.update_organization(
                    session=session,
                    caller=admin,
                    now=utcnow(),
                    **changes,  # type: ignore[arg-type]
                )
            assert caught.value.code == code
    async with database.session() as session:
        assert (await session.get_one(Organization, world.organization_id)).name != "X"
    assert await count(database, AuditEntry) == 0
    async with database.session() as session:
        org = await organization.update_organization(
            session=session, caller=admin, name="Köping", now=utcnow()
        )
    async with database.session() as session:
        shown = await organization.get_organization(session=session, caller=admin)
    assert org.name == shown.name == "Köping"


async def test_create_with_admin_commits_both_or_nothing(database: Database) -> None:
    """The organization and its admin come together; a taken e-mail creates neither."""
    async with database.session() as session:
        org, admin = await organization.create_with_admin(
            session=session,
            operator="cli:test",
            name="Arboga kommun",
            slug=None,
            admin_email="Chef@Arboga.example",
            admin_name="Chef",
            admin_password="long enough password",
            now=utcnow(),
        )
    assert (org.slug, admin.email) == ("arboga-kommun", "chef@arboga.example")
    async with database.session() as session:
        with pytest.raises(ServiceError) as caught:
            await organization.create_with_admin(
                session=session,
                operator="cli:test",
                name="Köping",
                slug=None,
                admin_email="chef@arboga.example",
                admin_name="Chef",
                admin_password="long enough password",
                now=utcnow(),
            )
        found = await organization.find_by_slug(session=session, slug=" ARBOGA-kommun ")
    assert caught.value.code == "person.email_taken" and found.id == org.id
    assert await count(database, Organization) == 1 and await count(database, Person) == 1
