"""Audit use cases on SQLite and PostgreSQL: VIEW_AUDIT organization-wide, paging, and the
operator's chain check of every organization."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from protocol.vocabulary import Role
from server.clock import utcnow
from server.core.audit_chain import GENESIS, UNKEYED, AuditKey, Keyring, entry_hash
from server.core.errors import Forbidden
from server.errors import ServiceError
from server.services import audit
from server.storage import audit as audit_log
from server.storage.audit import Verification
from server.storage.database import Database
from server.storage.tables import AuditEntry, Organization
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


async def _write(database: Database, organization_id: int, count: int) -> None:
    async with database.session() as session:
        for n in range(count):
            await audit_log.record(
                session,
                organization_id=organization_id,
                actor="system:test",
                action=f"test.{n}",
                at=utcnow(),
            )
        await session.commit()


async def _rewrite(
    database: Database, organization_id: int, *, from_seq: int, key: AuditKey | None
) -> None:
    """Edit entry `from_seq` and rehash and relink it and every later entry with `key` (None:
    plain sha256, as the unkeyed chain allowed), moving the head: a consistent rewrite by
    someone who can write the database."""
    async with database.session() as session:
        rows = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.organization_id == organization_id)
                .order_by(AuditEntry.seq)
            )
        ).all()
        previous = rows[from_seq - 2].hash if from_seq > 1 else GENESIS
        for row in rows[from_seq - 1 :]:
            if row.seq == from_seq:
                row.actor = "person:999"
            row.prev_hash, row.key_fingerprint = previous, key.fingerprint if key else UNKEYED
            row.hash = entry_hash(
                key=key,
                prev_hash=row.prev_hash,
                organization_id=row.organization_id,
                seq=row.seq,
                at=row.at,
                actor=row.actor,
                action=row.action,
                target=row.target,
                details=row.details,
            )
            previous = row.hash
        org = await session.get_one(Organization, organization_id)
        org.audit_head = previous
        await session.commit()


async def _verify(database: Database, organization_id: int) -> Verification:
    async with database.session() as session:
        return await audit_log.verify(session, organization_id=organization_id)


@pytest.mark.parametrize("forger_key", [None, AuditKey.derive("a guessed key")])
async def test_a_consistent_rewrite_without_the_key_is_detected(
    database: Database, forger_key: AuditKey | None
) -> None:
    """Rehashing from an edited row to the head, unkeyed or under another key, is caught."""
    world = await factories.organization(database)
    await _write(database, world.organization_id, 4)
    assert (await _verify(database, world.organization_id)).ok
    await _rewrite(database, world.organization_id, from_seq=2, key=forger_key)
    result = await _verify(database, world.organization_id)
    expected = "unkeyed_entry" if forger_key is None else "unknown_key"
    assert [(p.seq, p.problem) for p in result.problems] == [
        (2, expected),
        (3, expected),
        (4, expected),
    ]


async def test_entries_from_before_keying_still_verify(database: Database) -> None:
    """An unkeyed prefix (a chain written before keying) verifies, and is counted."""
    world = await factories.organization(database)
    await _write(database, world.organization_id, 2)
    await _rewrite(database, world.organization_id, from_seq=1, key=None)  # as stored before
    await _write(database, world.organization_id, 1)
    result = await _verify(database, world.organization_id)
    assert (result.ok, result.entries, result.unkeyed) == (True, 3, 2)
    assert result.head[0] == 3


async def test_a_rotated_key_needs_the_previous_key_to_verify(database: Database) -> None:
    """Entries under the old key verify only while it is among the previous keys."""
    world = await factories.organization(database)
    await _write(database, world.organization_id, 2)
    old_secret = "change-me-development-only"  # the key `database` writes with
    for previous, ok in (([old_secret], True), ([], False)):
        keys = Keyring.from_secrets("n" * 40, previous)
        async with Database(database.url, audit_keys=keys) as rotated:
            await _write(rotated, world.organization_id, 1)
            result = await _verify(rotated, world.organization_id)
        assert result.ok is ok, result.problems
