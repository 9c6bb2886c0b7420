"""API key use cases on SQLite and PostgreSQL: MANAGE_DEVICES at the key's site, one commit."""

from __future__ import annotations

import pytest

from protocol.vocabulary import Kind, Role
from server.clock import utcnow
from server.core.errors import Forbidden
from server.errors import ServiceError
from server.services import api_keys
from server.services.access import Operator
from server.storage.database import Database
from server.storage.tables import ApiKey, AuditEntry
from tests import factories
from tests.server.services.acting import caller, count


async def test_keys_are_created_listed_and_revoked_by_device_managers(database: Database) -> None:
    """The operator creates a key; a principal may not list it; a site admin of another site
    may not revoke it; an admin revokes it once (api_key.revoked the second time)."""
    world = await factories.organization(database)
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    await factories.person(world, "site_admin", roles=((Role.ADMIN, "B"),))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    operator = Operator(organization_id=world.organization_id, ref="cli:test")
    async with database.session() as session:
        row, key = await api_keys.create_key(
            session=session,
            who=operator,
            site_id=world.sites["A"],
            name="Panik",
            kind=Kind.EVACUATE,
            now=utcnow(),
        )
    assert key.startswith(row.prefix) and row.kind == "evacuate"
    admin = await caller(world, "admin")
    async with database.session() as session:
        with pytest.raises(Forbidden):
            await api_keys.list_keys(session=session, caller=await caller(world, "principal"))
        with pytest.raises(Forbidden):
            await api_keys.revoke_key(
                session=session,
                caller=await caller(world, "site_admin"),
                api_key_id=row.id,
                now=utcnow(),
            )
        assert [k.id for k in await api_keys.list_keys(session=session, caller=admin)] == [row.id]
    async with database.session() as session:
        await api_keys.revoke_key(session=session, caller=admin, api_key_id=row.id, now=utcnow())
    async with database.session() as session:
        with pytest.raises(ServiceError) as caught:
            await api_keys.revoke_key(
                session=session, caller=admin, api_key_id=row.id, now=utcnow()
            )
    assert caught.value.code == "api_key.revoked"
    assert await count(database, ApiKey, ApiKey.revoked_at.is_not(None)) == 1
    assert await count(database, AuditEntry, AuditEntry.action == "api_key.revoked") == 1


async def test_a_key_needs_a_site_the_caller_manages(database: Database) -> None:
    """A site admin of B may not create a key for A; nothing is stored."""
    world = await factories.organization(database)
    await factories.person(world, "site_admin", roles=((Role.ADMIN, "B"),))
    async with database.session() as session:
        with pytest.raises(Forbidden):
            await api_keys.create_key(
                session=session,
                who=await caller(world, "site_admin"),
                site_id=world.sites["A"],
                name="Panik",
                kind=Kind.PDV_LOCKDOWN,
                now=utcnow(),
            )
    assert await count(database, ApiKey) == 0 and await count(database, AuditEntry) == 0
