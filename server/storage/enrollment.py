"""The enrollment repository: enrollment codes and enrolling a device.

A code is short enough to type (see server.credentials), so only its hash is stored, it
expires and it has a number of uses. Enrolling counts a use with ONE conditional UPDATE, so
two devices racing for the last use cannot both win: the database decides. Like every
repository these functions write their audit entry but never commit and never check
permissions (server/services/enrollment.py does).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import DeviceKind
from server.credentials import (
    DEVICE_PREFIX,
    new_enrollment_code,
    new_token,
    normalize_enrollment_code,
    token_hash,
)
from server.errors import ServiceError
from server.storage import audit
from server.storage.devices import check_name, person_id_of, require_person, rowcount
from server.storage.sites import get_site, get_zone
from server.storage.tables import Device, EnrollmentCode

LABEL_MAX = 200
MAX_USES = 1000
MAX_LIFETIME = timedelta(hours=720)
CLIENT_VERSION_MAX = 100
CODE_MAX = 64  # longer input is never a code


class CodeState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    USED_UP = "used_up"
    REVOKED = "revoked"


def code_state(code: EnrollmentCode, *, now: datetime) -> CodeState:
    """Why a code can or cannot be used now (revoked wins over used up over expired)."""
    if code.revoked_at is not None:
        return CodeState.REVOKED
    if code.uses >= code.max_uses:
        return CodeState.USED_UP
    if code.expires_at <= now:
        return CodeState.EXPIRED
    return CodeState.ACTIVE


def _code_hash(code: str) -> str | None:
    """The stored hash of a typed code, or None when it cannot be a code at all."""
    if len(code) > CODE_MAX:
        return None
    normalized = normalize_enrollment_code(code)
    return token_hash(normalized) if normalized else None


async def create_enrollment_code(
    session: AsyncSession,
    *,
    organization_id: int,
    site_id: int,
    zone_id: int | None = None,
    label: str = "",
    device_kind: DeviceKind | None = None,
    max_uses: int = 1,
    expires_in: timedelta = timedelta(hours=24),
    actor: str,
    now: datetime,
) -> tuple[EnrollmentCode, str]:
    """A new code for devices of a site (and zone); returns the row and the plaintext code,
    which is never stored and must be shown to the user once."""
    await get_site(session, organization_id=organization_id, site_id=site_id)
    if zone_id is not None:
        await get_zone(session, organization_id=organization_id, site_id=site_id, zone_id=zone_id)
    label = label.strip()
    if len(label) > LABEL_MAX:
        raise ServiceError("request.invalid", f"label may have at most {LABEL_MAX} characters")
    if not 1 <= max_uses <= MAX_USES:
        raise ServiceError("request.invalid", f"max_uses must be 1..{MAX_USES}")
    if not timedelta(0) < expires_in <= MAX_LIFETIME:
        raise ServiceError("request.invalid", "expires_in must be positive and at most 30 days")
    kind = DeviceKind(device_kind) if device_kind is not None else None
    plaintext = new_enrollment_code()
    code = EnrollmentCode(
        organization_id=organization_id,
        site_id=site_id,
        zone_id=zone_id,
        code_hash=token_hash(plaintext),
        label=label,
        device_kind=kind.value if kind else None,
        max_uses=max_uses,
        uses=0,
        expires_at=now + expires_in,
        created_by=person_id_of(actor),
        created_at=now,
    )
    session.add(code)
    await session.flush()
    await audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="enrollment_code.created",
        at=now,
        target=f"enrollment_code:{code.id}",
        details={
            "site_id": site_id,
            "zone_id": zone_id,
            "label": label,
            "device_kind": code.device_kind,
            "max_uses": max_uses,
            "expires_at": code.expires_at.isoformat(),
        },
    )
    return code, plaintext


async def list_enrollment_codes(
    session: AsyncSession, *, organization_id: int, site_ids: Collection[int] | None = None
) -> Sequence[EnrollmentCode]:
    """The organization's codes, newest first; `site_ids` None means every site."""
    query = select(EnrollmentCode).where(EnrollmentCode.organization_id == organization_id)
    if site_ids is not None:
        query = query.where(EnrollmentCode.site_id.in_(list(site_ids)))
    result = await session.scalars(query.order_by(EnrollmentCode.id.desc()))
    return result.all()


async def get_enrollment_code(
    session: AsyncSession, *, organization_id: int, code_id: int
) -> EnrollmentCode:
    """The organization's code, or `enrollment.not_found`."""
    code = await session.scalar(
        select(EnrollmentCode).where(
            EnrollmentCode.id == code_id, EnrollmentCode.organization_id == organization_id
        )
    )
    if code is None:
        raise ServiceError("enrollment.not_found", f"enrollment code {code_id}")
    return code


async def revoke_enrollment_code(
    session: AsyncSession, *, organization_id: int, code_id: int, actor: str, now: datetime
) -> EnrollmentCode:
    """Stop a code from enrolling more devices (devices already enrolled keep working).
    Revoking a revoked code changes nothing."""
    code = await get_enrollment_code(session, organization_id=organization_id, code_id=code_id)
    if code.revoked_at is not None:
        return code
    code.revoked_at = now
    await audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="enrollment_code.revoked",
        at=now,
        target=f"enrollment_code:{code.id}",
        details={"site_id": code.site_id, "uses": code.uses},
    )
    return code


async def code_organization_id(session: AsyncSession, *, code: str) -> int | None:
    """The organization a typed code belongs to (any state), or None when there is none."""
    digest = _code_hash(code)
    if digest is None:
        return None
    return await session.scalar(
        select(EnrollmentCode.organization_id).where(EnrollmentCode.code_hash == digest)
    )


async def enroll_device(
    session: AsyncSession,
    *,
    code: str,
    kind: DeviceKind,
    name: str,
    client_version: str = "",
    person_id: int | None = None,
    now: datetime,
) -> tuple[Device, str]:
    """Enroll a device with a code: returns the device and its bearer token (shown once).

    Unknown, expired, used-up and revoked codes all raise `enrollment.invalid_code`; a kind
    the code does not allow raises `enrollment.wrong_device_kind` without using it up.
    `person_id` binds the device to a person of the code's organization.
    """
    try:
        kind = DeviceKind(kind)
    except ValueError:
        raise ServiceError("request.invalid", f"unknown device kind {kind!r}") from None
    name = check_name(name)
    client_version = client_version.strip()
    if len(client_version) > CLIENT_VERSION_MAX:
        raise ServiceError("request.invalid", "client_version is too long")
    digest = _code_hash(code)
    if digest is None:
        raise ServiceError("enrollment.invalid_code")
    # The use is counted first, by one statement that only matches a usable code of this
    # kind: of two devices racing for the last use exactly one sees rowcount 1.
    result = await session.execute(
        update(EnrollmentCode)
        .where(
            EnrollmentCode.code_hash == digest,
            EnrollmentCode.uses < EnrollmentCode.max_uses,
            EnrollmentCode.revoked_at.is_(None),
            EnrollmentCode.expires_at > now,
            or_(EnrollmentCode.device_kind.is_(None), EnrollmentCode.device_kind == kind.value),
        )
        .values(uses=EnrollmentCode.uses + 1)
        .execution_options(synchronize_session=False)
    )
    row = await session.scalar(
        select(EnrollmentCode)
        .where(EnrollmentCode.code_hash == digest)
        .execution_options(populate_existing=True)
    )
    if rowcount(result) != 1 or row is None:
        if row is not None and code_state(row, now=now) == CodeState.ACTIVE:
            raise ServiceError("enrollment.wrong_device_kind", f"the code is for {row.device_kind}")
        raise ServiceError("enrollment.invalid_code")
    if person_id is not None:
        await require_person(session, organization_id=row.organization_id, person_id=person_id)
    token = new_token(DEVICE_PREFIX)
    device = Device(
        organization_id=row.organization_id,
        site_id=row.site_id,
        zone_id=row.zone_id,
        person_id=person_id,
        kind=kind.value,
        name=name,
        token_hash=token_hash(token),
        enrollment_code_id=row.id,
        created_at=now,
        client_version=client_version,
    )
    session.add(device)
    await session.flush()
    await audit.record(
        session,
        organization_id=row.organization_id,
        actor=f"person:{person_id}" if person_id is not None else f"device:{device.id}",
        action="device.enrolled",
        at=now,
        target=f"device:{device.id}",
        details={
            "enrollment_code_id": row.id,
            "site_id": row.site_id,
            "zone_id": row.zone_id,
            "kind": kind.value,
            "name": name,
            "person_id": person_id,
        },
    )
    return device, token
