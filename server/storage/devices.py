"""The devices repository: listing, renaming/moving, binding to a person and revoking.

Functions check that ids belong to the organization and write the audit entry in the
caller's transaction; they never commit and never check permissions (the use cases in
server/services/ do both).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, Final

from sqlalchemy import Result, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import DeviceKind
from server.errors import ServiceError
from server.storage import audit, push_registrations
from server.storage.sites import get_zone
from server.storage.tables import ApiKey, Device, Person

NAME_MAX = 200


class Unset(Enum):
    UNSET = "unset"


UNSET: Final = Unset.UNSET  # "leave this field as it is" in update_device


def person_id_of(actor: str) -> int | None:
    """The person id in an actor reference such as `person:12`, else None."""
    kind, _, ident = actor.partition(":")
    return int(ident) if kind == "person" and ident.isdigit() else None


async def require_person(session: AsyncSession, *, organization_id: int, person_id: int) -> Person:
    """A person of the organization, or `person.not_found`."""
    person = await session.scalar(
        select(Person).where(Person.id == person_id, Person.organization_id == organization_id)
    )
    if person is None:
        raise ServiceError("person.not_found", f"person {person_id}")
    return person


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE matched (for conditional updates that must hit exactly one)."""
    return int(getattr(result, "rowcount", 0))


async def revoke_row(
    session: AsyncSession,
    row: Device | ApiKey,
    *,
    noun: str,
    organization_id: int,
    actor: str,
    now: datetime,
    details: dict[str, Any],
) -> None:
    """Set `row.revoked_at` and audit `<noun>.revoked`; `<noun>.revoked` if it already is.
    Conditional, so two admins revoking at once write one revocation and one audit entry."""
    table = type(row)
    result = await session.execute(
        update(table)
        .where(table.id == row.id, table.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise ServiceError(f"{noun}.revoked", f"{noun.replace('_', ' ')} {row.id}")
    await session.refresh(row)
    await audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action=f"{noun}.revoked",
        at=now,
        target=f"{noun}:{row.id}",
        details=details,
    )


def check_name(name: str) -> str:
    """A device name: stripped, 1..200 characters."""
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise ServiceError("request.invalid", f"name must have 1..{NAME_MAX} characters")
    return name


async def list_devices(
    session: AsyncSession,
    *,
    organization_id: int,
    site_ids: Collection[int] | None = None,
    kind: DeviceKind | None = None,
    include_revoked: bool = False,
) -> Sequence[Device]:
    """The organization's devices, oldest first; `site_ids` None means every site."""
    query = select(Device).where(Device.organization_id == organization_id)
    if site_ids is not None:
        query = query.where(Device.site_id.in_(list(site_ids)))
    if kind is not None:
        query = query.where(Device.kind == DeviceKind(kind).value)
    if not include_revoked:
        query = query.where(Device.revoked_at.is_(None))
    result = await session.scalars(query.order_by(Device.id))
    return result.all()


async def get_device(session: AsyncSession, *, organization_id: int, device_id: int) -> Device:
    """The organization's device, or `device.not_found` (also for another organization's)."""
    device = await session.scalar(
        select(Device).where(Device.id == device_id, Device.organization_id == organization_id)
    )
    if device is None:
        raise ServiceError("device.not_found", f"device {device_id}")
    return device


async def update_device(
    session: AsyncSession,
    *,
    organization_id: int,
    device_id: int,
    name: str | Unset = UNSET,
    zone_id: int | Unset | None = UNSET,
    person_id: int | Unset | None = UNSET,
    actor: str,
    now: datetime,
) -> Device:
    """Rename a device, move it to a zone of its site (None: no zone) or bind it to a person
    of the organization (None: unbind). Fields left UNSET are kept."""
    device = await get_device(session, organization_id=organization_id, device_id=device_id)
    changes: dict[str, Any] = {}
    if not isinstance(name, Unset):
        changes["name"] = check_name(name)
    if not isinstance(zone_id, Unset):
        if zone_id is not None:
            await get_zone(
                session, organization_id=organization_id, site_id=device.site_id, zone_id=zone_id
            )
        changes["zone_id"] = zone_id
    if not isinstance(person_id, Unset):
        if person_id is not None:
            await require_person(session, organization_id=organization_id, person_id=person_id)
        changes["person_id"] = person_id
    changes = {field: value for field, value in changes.items() if getattr(device, field) != value}
    if not changes:
        return device
    for field, value in changes.items():
        setattr(device, field, value)
    await audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="device.updated",
        at=now,
        target=f"device:{device.id}",
        details=changes,
    )
    return device


async def revoke_device(
    session: AsyncSession, *, organization_id: int, device_id: int, actor: str, now: datetime
) -> Device:
    """Revoke a device: its token stops working at once, and its push registration and
    pending push deliveries are deleted in the same transaction. `device.revoked` if it
    already is."""
    device = await get_device(session, organization_id=organization_id, device_id=device_id)
    await revoke_row(
        session,
        device,
        noun="device",
        organization_id=organization_id,
        actor=actor,
        now=now,
        details={"site_id": device.site_id, "kind": device.kind, "name": device.name},
    )
    await push_registrations.unregister(session, device=device, actor=None, now=now)
    return device
