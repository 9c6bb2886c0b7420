"""Enrollment use cases on SQLite and PostgreSQL: MANAGE_DEVICES at the code's site, one
commit, and a device bound to the enrolling person only within their organization."""

from __future__ import annotations

import pytest

from protocol.vocabulary import DeviceKind, Role
from server.clock import utcnow
from server.core.errors import Forbidden
from server.services import enrollment
from server.services.access import Operator
from server.storage.database import Database
from server.storage.tables import AuditEntry, EnrollmentCode
from tests import factories
from tests.factories import World
from tests.server.services.acting import caller, count


async def _code(database: Database, world: World, uses: int = 2) -> tuple[int, str]:
    operator = Operator(organization_id=world.organization_id, ref="cli:test")
    async with database.session() as session:
        row, plaintext = await enrollment.create_code(
            session=session, who=operator, site_id=world.sites["A"], max_uses=uses, now=utcnow()
        )
    return row.id, plaintext


async def test_codes_need_manage_devices_at_their_site(database: Database) -> None:
    """A principal can't create, list or revoke codes; an admin revokes; nothing else is
    written."""
    world = await factories.organization(database)
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    code_id, _ = await _code(database, world)
    principal = await caller(world, "principal")
    async with database.session() as session:
        with pytest.raises(Forbidden):
            await enrollment.create_code(
                session=session, who=principal, site_id=world.sites["A"], now=utcnow()
            )
        with pytest.raises(Forbidden):
            await enrollment.list_codes(session=session, caller=principal)
        with pytest.raises(Forbidden):
            await enrollment.revoke_code(
                session=session, caller=principal, code_id=code_id, now=utcnow()
            )
    assert await count(database, EnrollmentCode) == 1
    assert await count(database, EnrollmentCode, EnrollmentCode.revoked_at.is_not(None)) == 0
    async with database.session() as session:
        code = await enrollment.revoke_code(
            session=session, caller=await caller(world, "admin"), code_id=code_id, now=utcnow()
        )
    assert code.revoked_at is not None
    assert await count(database, AuditEntry, AuditEntry.action == "enrollment_code.revoked") == 1


async def test_enroll_binds_the_enrolling_person_of_the_same_organization(
    database: Database,
) -> None:
    """A live session of the code's organization binds the device; another organization's
    session, or none, leaves it unbound."""
    world = await factories.organization(database)
    other = await factories.organization(database, name="Arboga")
    anna = await factories.person(world, "anna", roles=((Role.STAFF, "A"),))
    await factories.person(other, "olle", roles=((Role.STAFF, "A"),))
    _, plaintext = await _code(database, world, uses=3)
    bound = []
    for token in (world.tokens["anna"], other.tokens["olle"], None):
        async with database.session() as session:
            device, secret = await enrollment.enroll(
                session=session,
                code=plaintext,
                kind=DeviceKind.WEB,
                name="Telefon",
                session_token=token,
                now=utcnow(),
            )
        assert secret.startswith("pdvd_")
        bound.append(device.person_id)
    assert bound == [anna, None, None]
