"""Enrollment codes and enrolling devices, on SQLite and PostgreSQL: uses are counted by the
database, so concurrent enrollments never exceed a code's uses."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from protocol.vocabulary import DeviceKind, Role
from server.clock import utcnow
from server.credentials import DEVICE_PREFIX, token_hash
from server.errors import ServiceError
from server.storage import enrollment
from server.storage.database import Database
from server.storage.enrollment import CodeState
from server.storage.tables import AuditEntry, Device, EnrollmentCode, Zone
from tests import factories
from tests.factories import World


async def _code(
    world: World,
    *,
    site: str = "A",
    max_uses: int = 1,
    device_kind: DeviceKind | None = None,
    expires_in: timedelta = timedelta(hours=24),
    age: timedelta = timedelta(0),
    zone_id: int | None = None,
    actor: str = "system",
) -> tuple[int, str]:
    """A code created `age` ago; returns (id, plaintext)."""
    async with world.database.session() as session:
        row, plaintext = await enrollment.create_enrollment_code(
            session,
            organization_id=world.organization_id,
            site_id=world.sites[site],
            zone_id=zone_id,
            device_kind=device_kind,
            max_uses=max_uses,
            expires_in=expires_in,
            actor=actor,
            now=utcnow() - age,
        )
        await session.commit()
        return row.id, plaintext


async def _enroll(
    database: Database,
    code: str,
    *,
    kind: DeviceKind = DeviceKind.DESKTOP,
    name: str = "Lärarrum",
    person_id: int | None = None,
) -> tuple[Device, str]:
    async with database.session() as session:
        device, token = await enrollment.enroll_device(
            session, code=code, kind=kind, name=name, person_id=person_id, now=utcnow()
        )
        await session.commit()
        return device, token


async def _uses(database: Database, code_id: int) -> int:
    async with database.session() as session:
        return (await session.get_one(EnrollmentCode, code_id)).uses


async def _device_count(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Device)) or 0)


async def _zone(world: World, site: str, name: str = "Hus B") -> int:
    async with world.database.session() as session:
        zone = Zone(
            organization_id=world.organization_id,
            site_id=world.sites[site],
            name=name,
            created_at=utcnow(),
        )
        session.add(zone)
        await session.commit()
        return zone.id


async def _rejected(database: Database, code: str, expected: str, **kwargs: object) -> None:
    with pytest.raises(ServiceError) as caught:
        await _enroll(database, code, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == expected


async def test_create_returns_the_code_once_and_stores_only_its_hash(database: Database) -> None:
    """The plaintext code has the typed format; the row holds only its SHA-256 and an audit
    entry names the site but not the code."""
    world = await factories.organization(database)
    admin = await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    code_id, plaintext = await _code(world, max_uses=3, actor=f"person:{admin}")
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", plaintext)
    async with database.session() as session:
        row = await session.get_one(EnrollmentCode, code_id)
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "enrollment_code.created")
        )
    assert row.code_hash == token_hash(plaintext)
    assert (row.max_uses, row.uses, row.created_by) == (3, 0, admin)
    assert entry is not None and entry.target == f"enrollment_code:{code_id}"
    assert entry.details["site_id"] == world.sites["A"]
    assert plaintext not in str(entry.details)


async def test_enroll_creates_a_device_at_the_codes_site_and_zone(database: Database) -> None:
    """A device gets the code's site and zone, a pdvd_ token stored only as a hash, and the
    enrollment is audited."""
    world = await factories.organization(database)
    zone_id = await _zone(world, "B")
    code_id, plaintext = await _code(world, site="B", zone_id=zone_id)
    device, token = await _enroll(database, plaintext, kind=DeviceKind.WEB, name="iPad 3")
    assert token.startswith(DEVICE_PREFIX)
    assert (device.site_id, device.zone_id, device.kind, device.name) == (
        world.sites["B"],
        zone_id,
        "web",
        "iPad 3",
    )
    assert device.token_hash == token_hash(token) and device.enrollment_code_id == code_id
    assert await _uses(database, code_id) == 1
    async with database.session() as session:
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "device.enrolled")
        )
    assert entry is not None and entry.target == f"device:{device.id}"
    assert token not in str(entry.details)


async def test_typed_code_is_normalized(database: Database) -> None:
    """Lower case, spaces and missing dashes are accepted."""
    world = await factories.organization(database)
    _, plaintext = await _code(world)
    typed = " " + plaintext.replace("-", " ").lower() + " "
    device, _ = await _enroll(database, typed)
    assert device.site_id == world.sites["A"]


async def test_single_use_code_cannot_be_reused(database: Database) -> None:
    """The second enrollment with a one-use code is refused and creates nothing."""
    world = await factories.organization(database)
    code_id, plaintext = await _code(world)
    await _enroll(database, plaintext)
    await _rejected(database, plaintext, "enrollment.invalid_code")
    assert await _uses(database, code_id) == 1
    assert await _device_count(database) == 1


async def test_multi_use_code_allows_exactly_max_uses(database: Database) -> None:
    """A three-use code enrolls three devices, then is used up."""
    world = await factories.organization(database)
    code_id, plaintext = await _code(world, max_uses=3)
    for number in range(3):
        await _enroll(database, plaintext, name=f"Dator {number}")
    await _rejected(database, plaintext, "enrollment.invalid_code")
    assert await _uses(database, code_id) == 3
    assert await _device_count(database) == 3


async def test_expired_code_is_refused(database: Database) -> None:
    """A code past its expiry answers invalid_code and is not counted."""
    world = await factories.organization(database)
    code_id, plaintext = await _code(world, expires_in=timedelta(hours=1), age=timedelta(hours=2))
    await _rejected(database, plaintext, "enrollment.invalid_code")
    assert await _uses(database, code_id) == 0
    assert await _device_count(database) == 0


async def test_revoked_code_is_refused(database: Database) -> None:
    """A revoked code answers invalid_code; revoking again changes nothing."""
    world = await factories.organization(database)
    code_id, plaintext = await _code(world, max_uses=5)
    for _ in range(2):
        async with database.session() as session:
            await enrollment.revoke_enrollment_code(
                session,
                organization_id=world.organization_id,
                code_id=code_id,
                actor="system",
                now=utcnow(),
            )
            await session.commit()
    await _rejected(database, plaintext, "enrollment.invalid_code")
    assert await _uses(database, code_id) == 0
    async with database.session() as session:
        revocations = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "enrollment_code.revoked")
        )
    assert revocations == 1


async def test_unknown_and_garbage_codes_are_refused(database: Database) -> None:
    """A well-formed unknown code, an empty one and an absurdly long one answer invalid_code."""
    await factories.organization(database)
    for code in ("ABCD-EFGH-JKLM", "---", "A" * 500):
        await _rejected(database, code, "enrollment.invalid_code")
    assert await _device_count(database) == 0


async def test_wrong_device_kind_does_not_use_the_code(database: Database) -> None:
    """A desktop-only code refuses a phone without counting; a desktop then enrolls."""
    world = await factories.organization(database)
    code_id, plaintext = await _code(world, device_kind=DeviceKind.DESKTOP)
    await _rejected(database, plaintext, "enrollment.wrong_device_kind", kind=DeviceKind.IOS)
    assert await _uses(database, code_id) == 0
    device, _ = await _enroll(database, plaintext, kind=DeviceKind.DESKTOP)
    assert device.kind == "desktop"


async def test_wrong_kind_on_a_used_up_code_says_invalid(database: Database) -> None:
    """A used-up code answers invalid_code whatever the kind (it reveals nothing more)."""
    world = await factories.organization(database)
    _, plaintext = await _code(world, device_kind=DeviceKind.DESKTOP)
    await _enroll(database, plaintext)
    await _rejected(database, plaintext, "enrollment.invalid_code", kind=DeviceKind.WEB)


async def test_enroll_binds_a_person_of_the_same_organization(database: Database) -> None:
    """person_id binds the device; a person of another organization is refused and the use
    is not counted."""
    world = await factories.organization(database)
    other = await factories.organization(database, name="Arboga")
    teacher = await factories.person(world, "teacher", roles=((Role.STAFF, "A"),))
    stranger = await factories.person(other, "stranger", roles=((Role.STAFF, "A"),))
    code_id, plaintext = await _code(world, max_uses=2)
    await _rejected(database, plaintext, "person.not_found", person_id=stranger)
    assert await _uses(database, code_id) == 0
    device, _ = await _enroll(database, plaintext, person_id=teacher)
    assert device.person_id == teacher


async def test_enroll_validates_name_and_kind(database: Database) -> None:
    """An empty name or an unknown kind is refused before the code is used."""
    world = await factories.organization(database)
    code_id, plaintext = await _code(world)
    await _rejected(database, plaintext, "request.invalid", name="   ")
    await _rejected(database, plaintext, "request.invalid", kind="phone")
    assert await _uses(database, code_id) == 0


async def test_create_checks_site_zone_and_limits(database: Database) -> None:
    """Another organization's site, a zone of another site and out-of-range limits are
    refused, and no code is stored."""
    world = await factories.organization(database)
    other = await factories.organization(database, name="Arboga")
    zone_b = await _zone(world, "B")
    cases = [
        ({"site_id": other.sites["A"]}, "site.not_found"),
        ({"site_id": world.sites["A"], "zone_id": zone_b}, "zone.not_found"),
        ({"site_id": world.sites["A"], "max_uses": 0}, "request.invalid"),
        ({"site_id": world.sites["A"], "max_uses": 1001}, "request.invalid"),
        ({"site_id": world.sites["A"], "expires_in": timedelta(0)}, "request.invalid"),
        ({"site_id": world.sites["A"], "expires_in": timedelta(days=31)}, "request.invalid"),
        ({"site_id": world.sites["A"], "label": "x" * 201}, "request.invalid"),
    ]
    for arguments, expected in cases:
        async with database.session() as session:
            with pytest.raises(ServiceError) as caught:
                await enrollment.create_enrollment_code(
                    session,
                    organization_id=world.organization_id,
                    actor="system",
                    now=utcnow(),
                    **arguments,  # type: ignore[arg-type]
                )
        assert caught.value.code == expected, arguments
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(EnrollmentCode)) == 0


async def test_code_state(database: Database) -> None:
    """States: active, expired, used_up and revoked (revoked wins)."""
    world = await factories.organization(database)
    code_id, plaintext = await _code(world)
    now = utcnow()
    async with database.session() as session:
        row = await session.get_one(EnrollmentCode, code_id)
        assert enrollment.code_state(row, now=now) == CodeState.ACTIVE
        assert enrollment.code_state(row, now=now + timedelta(days=2)) == CodeState.EXPIRED
    await _enroll(database, plaintext)
    async with database.session() as session:
        row = await session.get_one(EnrollmentCode, code_id)
        assert enrollment.code_state(row, now=now) == CodeState.USED_UP
        row.revoked_at = now
        assert enrollment.code_state(row, now=now) == CodeState.REVOKED


async def _race(database: Database, code: str, contenders: int) -> list[str]:
    """Enroll `contenders` devices at once, each in its own session; returns the outcomes."""

    async def attempt(number: int) -> str:
        try:
            await _enroll(database, code, name=f"Dator {number}")
        except ServiceError as exc:
            return exc.code
        return "enrolled"

    return list(await asyncio.gather(*(attempt(number) for number in range(contenders))))


async def test_racing_for_the_last_use_has_one_winner(database: Database) -> None:
    """Six devices enrolling at once with a one-use code: exactly one wins."""
    world = await factories.organization(database)
    code_id, plaintext = await _code(world)
    outcomes = await _race(database, plaintext, 6)
    assert outcomes.count("enrolled") == 1
    assert outcomes.count("enrollment.invalid_code") == 5
    assert await _uses(database, code_id) == 1
    assert await _device_count(database) == 1


async def test_racing_for_several_uses_never_exceeds_them(database: Database) -> None:
    """Eight devices enrolling at once with a three-use code: exactly three win."""
    world = await factories.organization(database)
    code_id, plaintext = await _code(world, max_uses=3)
    outcomes = await _race(database, plaintext, 8)
    assert outcomes.count("enrolled") == 3
    assert await _uses(database, code_id) == 3
    assert await _device_count(database) == 3
