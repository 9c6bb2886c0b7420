"""Device use cases on SQLite and PostgreSQL: permission checks before any write, one commit,
and the sink told about a revocation only after it is committed."""

from __future__ import annotations

import pytest

from protocol.vocabulary import Role
from server.clock import utcnow
from server.core.errors import Forbidden
from server.errors import ServiceError
from server.services import devices
from server.services.sink import RecordingSink
from server.storage.database import Database
from server.storage.tables import AuditEntry, Device
from tests import factories
from tests.factories import World
from tests.server.services.acting import caller, count


async def _world(database: Database) -> World:
    world = await factories.organization(database)
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),))
    await factories.device(world, "desk_a", site="A")
    await factories.device(world, "desk_b", site="B")
    return world


async def test_revoke_commits_then_tells_the_sink(database: Database) -> None:
    """An admin's revocation is stored and audited, and the sink hears the device id."""
    world = await _world(database)
    sink = RecordingSink()
    desk = world.devices["desk_a"]
    async with database.session() as session:
        device = await devices.revoke_device(
            session=session,
            sink=sink,
            caller=await caller(world, "admin"),
            device_id=desk,
            now=utcnow(),
        )
    assert device.revoked_at is not None
    assert sink.told == [("device_revoked", desk)]
    assert await count(database, Device, Device.revoked_at.is_not(None)) == 1
    assert await count(database, AuditEntry, AuditEntry.action == "device.revoked") == 1


@pytest.mark.parametrize("key", ["principal", "staff", "desk_a"])
async def test_revoke_refused_writes_and_tells_nothing(database: Database, key: str) -> None:
    """Whoever may not manage devices gets auth.forbidden; nothing is revoked or told."""
    world = await _world(database)
    sink = RecordingSink()
    async with database.session() as session:
        with pytest.raises(Forbidden):
            await devices.revoke_device(
                session=session,
                sink=sink,
                caller=await caller(world, key),
                device_id=world.devices["desk_a"],
                now=utcnow(),
            )
    assert sink.told == []
    assert await count(database, Device, Device.revoked_at.is_not(None)) == 0
    assert await count(database, AuditEntry) == 0


async def test_update_renames_and_refuses_a_null_name_after_the_permission(
    database: Database,
) -> None:
    """An admin renames; a principal is forbidden before the null name is looked at."""
    world = await _world(database)
    desk = world.devices["desk_a"]
    async with database.session() as session:
        with pytest.raises(Forbidden):
            await devices.update_device(
                session=session,
                sink=RecordingSink(),
                caller=await caller(world, "principal"),
                device_id=desk,
                name=None,
                now=utcnow(),
            )
    async with database.session() as session:
        with pytest.raises(ServiceError) as caught:
            await devices.update_device(
                session=session,
                sink=RecordingSink(),
                caller=await caller(world, "admin"),
                device_id=desk,
                name=None,
                now=utcnow(),
            )
    assert caught.value.code == "request.invalid"
    async with database.session() as session:
        await devices.update_device(
            session=session,
            sink=RecordingSink(),
            caller=await caller(world, "admin"),
            device_id=desk,
            name=" Reception ",
            now=utcnow(),
        )
    async with database.session() as session:
        assert (await session.get_one(Device, desk)).name == "Reception"
    assert await count(database, AuditEntry, AuditEntry.action == "device.updated") == 1


async def test_listing_and_showing_follow_the_viewing_sites(database: Database) -> None:
    """A principal of A sees A's devices only; staff may not list; a person has no self."""
    world = await _world(database)
    principal = await caller(world, "principal")
    async with database.session() as session:
        rows = await devices.list_devices(session=session, caller=principal)
        assert [row.id for row in rows] == [world.devices["desk_a"]]
        with pytest.raises(Forbidden):
            await devices.get_device(
                session=session, caller=principal, device_id=world.devices["desk_b"]
            )
        with pytest.raises(Forbidden):
            await devices.list_devices(session=session, caller=await caller(world, "staff"))
    assert devices.own_device(caller=await caller(world, "desk_a")).id == world.devices["desk_a"]
    with pytest.raises(Forbidden):
        devices.own_device(caller=principal)


async def test_revoked_filter(database: Database) -> None:
    """`revoked` True lists only revoked devices, False none of them."""
    world = await _world(database)
    admin = await caller(world, "admin")
    async with database.session() as session:
        await devices.revoke_device(
            session=session,
            sink=RecordingSink(),
            caller=admin,
            device_id=world.devices["desk_b"],
            now=utcnow(),
        )
    async with database.session() as session:
        only = await devices.list_devices(session=session, caller=admin, revoked=True)
        none = await devices.list_devices(session=session, caller=admin, revoked=False)
    assert [row.id for row in only] == [world.devices["desk_b"]]
    assert [row.id for row in none] == [world.devices["desk_a"]]
