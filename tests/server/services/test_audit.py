"""Audit use cases on SQLite and PostgreSQL: VIEW_AUDIT organization-wide, paging, and the
operator's chain check of every organization."""

from __future__ import annotations

import pytest

from protocol.vocabulary import Role
from server.clock import utcnow
from server.core.errors import Forbidden
from server.errors import ServiceError
from server.services import audit
from server.storage import audit as audit_log
from server.storage.database import Database
from tests import factories
from tests.server.services.acting import caller


async def test_search_pages_for_the_chief_and_refuses_staff(database: Database) -> None:
    """Three entries in pages of two: the first page points on, the second ends; staff and a
    principal are forbidden."""
    world = await factories.organization(database)
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),))
    async with database.session() as session:
        for n in range(3):
            await audit_log.record(
                session,
                organization_id=world.organization_id,
                actor="system:test",
                action=f"test.{n}",
                at=utcnow(),
            )
        await session.commit()
    chief = await caller(world, "chief")
    async with database.session() as session:
        first = await audit.search(session=session, who=chief, limit=2)
        assert [e.action for e in first.entries] == ["test.2", "test.1"]
        second = await audit.search(
            session=session, who=chief, limit=2, before_seq=first.next_before_seq
        )
        assert ([e.action for e in second.entries], second.next_before_seq) == (["test.0"], None)
        assert (await audit.verify(session=session, who=chief)).ok
        for key in ("principal", "staff"):
            with pytest.raises(Forbidden):
                await audit.search(session=session, who=await caller(world, key))


async def test_operator_verifies_every_organization_or_one(database: Database) -> None:
    """Without a slug every organization is checked; an unknown slug is not found."""
    first = await factories.organization(database)
    second = await factories.organization(database, name="Arboga")
    async with database.session() as session:
        results = await audit.verify_organizations(session=session)
        assert {org.id for org, result in results if result.ok} == {
            first.organization_id,
            second.organization_id,
        }
        (only,) = await audit.verify_organizations(session=session, slug=results[1][0].slug)
        assert only[0].id == results[1][0].id
        with pytest.raises(ServiceError) as caught:
            await audit.verify_organizations(session=session, slug="no-such-org")
    assert caught.value.code == "organization.not_found"
