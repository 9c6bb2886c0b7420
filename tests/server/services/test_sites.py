"""Site and zone use cases on SQLite and PostgreSQL: MANAGE_SITES (organization-wide to
create a site, at the site for the rest) before any write, and one commit each."""

from __future__ import annotations

import pytest

from protocol.vocabulary import Role
from server.clock import utcnow
from server.core.errors import Forbidden
from server.errors import ServiceError
from server.services import sites
from server.storage.database import Database
from server.storage.tables import AuditEntry, Site, Zone
from tests import factories
from tests.factories import World
from tests.server.services.acting import caller, count


async def _world(database: Database) -> World:
    world = await factories.organization(database)
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    await factories.person(world, "site_admin", roles=((Role.ADMIN, "B"),))
    await factories.device(world, "desk", site="A")
    return world


async def test_creating_a_site_needs_manage_sites_organization_wide(database: Database) -> None:
    """A site admin is forbidden and nothing is stored; an admin's site is stored, audited."""
    world = await _world(database)
    async with database.session() as session:
        with pytest.raises(Forbidden):
            await sites.create_site(
                session=session, caller=await caller(world, "site_admin"), name="C", now=utcnow()
            )
    assert await count(database, Site) == 2 and await count(database, AuditEntry) == 0
    async with database.session() as session:
        view = await sites.create_site(
            session=session,
            caller=await caller(world, "admin"),
            name="C",
            staff_may_trigger=False,
            now=utcnow(),
        )
    assert (view.site.name, view.site.staff_may_trigger, list(view.zones)) == ("C", False, [])
    assert await count(database, AuditEntry, AuditEntry.action == "site.created") == 1


async def test_site_admins_change_only_their_site(database: Database) -> None:
    """At B the site admin changes the staff trigger policy; at A it is forbidden; nothing
    to change is request.invalid."""
    world = await _world(database)
    site_admin = await caller(world, "site_admin")
    async with database.session() as session:
        view = await sites.update_site(
            session=session,
            caller=site_admin,
            site_id=world.sites["B"],
            staff_may_trigger=False,
            now=utcnow(),
        )
        assert not view.site.staff_may_trigger
        with pytest.raises(Forbidden):
            await sites.update_site(
                session=session,
                caller=site_admin,
                site_id=world.sites["A"],
                name="X",
                now=utcnow(),
            )
        with pytest.raises(ServiceError) as caught:
            await sites.update_site(
                session=session, caller=site_admin, site_id=world.sites["B"], now=utcnow()
            )
        assert caught.value.code == "request.invalid"
    async with database.session() as session:
        assert (await session.get_one(Site, world.sites["A"])).name == "A"
    assert await count(database, AuditEntry) == 1


async def test_zones_are_managed_at_their_site(database: Database) -> None:
    """Create, rename and delete a zone; another site's admin is forbidden and changes none."""
    world = await _world(database)
    admin, site_admin = await caller(world, "admin"), await caller(world, "site_admin")
    site_a = world.sites["A"]
    async with database.session() as session:
        zone = await sites.create_zone(
            session=session, caller=admin, site_id=site_a, name="Hus A", now=utcnow()
        )
    async with database.session() as session:
        with pytest.raises(Forbidden):
            await sites.rename_zone(
                session=session,
                caller=site_admin,
                site_id=site_a,
                zone_id=zone.id,
                name="X",
                now=utcnow(),
            )
        with pytest.raises(Forbidden):
            await sites.delete_zone(
                session=session, caller=site_admin, site_id=site_a, zone_id=zone.id, now=utcnow()
            )
    assert await count(database, Zone, Zone.name == "Hus A") == 1
    async with database.session() as session:
        renamed = await sites.rename_zone(
            session=session,
            caller=admin,
            site_id=site_a,
            zone_id=zone.id,
            name="Hus B",
            now=utcnow(),
        )
        assert renamed.name == "Hus B"
        shown = await sites.get_site(session=session, caller=admin, site_id=site_a)
        assert [z.name for z in shown.zones] == ["Hus B"]
        await sites.delete_zone(
            session=session, caller=admin, site_id=site_a, zone_id=zone.id, now=utcnow()
        )
    assert await count(database, Zone) == 0


async def test_devices_see_only_their_own_site(database: Database) -> None:
    """A device lists its own site; another site of its organization is site.not_found."""
    world = await _world(database)
    desk = await caller(world, "desk")
    async with database.session() as session:
        listed = await sites.list_sites(session=session, caller=desk)
        assert [view.site.id for view in listed] == [world.sites["A"]]
        with pytest.raises(ServiceError) as caught:
            await sites.get_site(session=session, caller=desk, site_id=world.sites["B"])
    assert caught.value.code == "site.not_found"
