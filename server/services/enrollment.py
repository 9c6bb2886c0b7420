"""Enrollment codes (MANAGE_DEVICES at the code's site) and enrolling a device with one.

Enrolling needs no login: the code is the credential. Sent with a person's live session of
the code's organization, the new device is bound to that person.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import DeviceKind
from server.core.permissions import Action
from server.services.access import Acting, permitted_sites
from server.services.devices import require_manage_devices, require_managed_site
from server.storage import callers, enrollment
from server.storage.callers import Caller
from server.storage.tables import Device, EnrollmentCode


async def create_code(
    *,
    session: AsyncSession,
    who: Acting,
    site_id: int,
    zone_id: int | None = None,
    label: str = "",
    device_kind: DeviceKind | None = None,
    max_uses: int = 1,
    expires_in: timedelta = timedelta(hours=24),
    now: datetime,
) -> tuple[EnrollmentCode, str]:
    """A code for enrolling devices at a site (and zone): the row and the plaintext code,
    which is never stored and must be shown once."""
    await require_managed_site(session=session, who=who, site_id=site_id)
    code, plaintext = await enrollment.create_enrollment_code(
        session,
        organization_id=who.organization_id,
        site_id=site_id,
        zone_id=zone_id,
        label=label,
        device_kind=device_kind,
        max_uses=max_uses,
        expires_in=expires_in,
        actor=who.ref,
        now=now,
    )
    await session.commit()
    return code, plaintext


async def list_codes(
    *, session: AsyncSession, caller: Caller, site_id: int | None = None
) -> Sequence[EnrollmentCode]:
    """Codes of the sites where the caller manages devices, newest first."""
    site_ids = await permitted_sites(
        session=session, caller=caller, actions=(Action.MANAGE_DEVICES,), site_id=site_id
    )
    return await enrollment.list_enrollment_codes(
        session, organization_id=caller.organization_id, site_ids=site_ids
    )


async def revoke_code(
    *, session: AsyncSession, caller: Caller, code_id: int, now: datetime
) -> EnrollmentCode:
    """Stop a code from enrolling more devices; devices it enrolled keep working."""
    code = await enrollment.get_enrollment_code(
        session, organization_id=caller.organization_id, code_id=code_id
    )
    require_manage_devices(caller, site_id=code.site_id)
    code = await enrollment.revoke_enrollment_code(
        session,
        organization_id=caller.organization_id,
        code_id=code_id,
        actor=caller.ref,
        now=now,
    )
    await session.commit()
    return code


async def _enrolling_person(
    session: AsyncSession, *, session_token: str | None, code: str, now: datetime
) -> int | None:
    """The person of a live login session, when of the code's organization."""
    if session_token is None:
        return None
    caller = await callers.from_session_token(session, token=session_token, now=now)
    if caller is None or caller.person is None:
        return None
    organization_id = await enrollment.code_organization_id(session, code=code)
    return caller.person.id if organization_id == caller.organization_id else None


async def enroll(
    *,
    session: AsyncSession,
    code: str,
    kind: DeviceKind,
    name: str,
    client_version: str = "",
    session_token: str | None = None,
    now: datetime,
) -> tuple[Device, str]:
    """Enroll a device with a code: the device and its bearer token (shown once). With the
    `session_token` of a person of the code's organization the device is bound to them."""
    person_id = await _enrolling_person(session, session_token=session_token, code=code, now=now)
    device, token = await enrollment.enroll_device(
        session,
        code=code,
        kind=kind,
        name=name,
        client_version=client_version,
        person_id=person_id,
        now=now,
    )
    await session.commit()
    return device, token
