"""Devices: list, show, rename/move/bind and revoke (enrolling is in `enrollment`).

Viewing needs MANAGE_DEVICES or VIEW_ROLLCALL at the device's site; changing and revoking
need MANAGE_DEVICES there. A revocation tells the sink after its commit, so the device's
live connections close at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import DeviceKind
from server.core.errors import Forbidden
from server.core.permissions import Action
from server.errors import ServiceError
from server.services.access import Acting, authorize, permitted_sites, require_any
from server.services.sink import EventSink, tell
from server.storage import devices, sites
from server.storage.callers import Caller
from server.storage.devices import UNSET, Unset
from server.storage.tables import Device

VIEW_DEVICES = (Action.MANAGE_DEVICES, Action.VIEW_ROLLCALL)


def require_manage_devices(who: Acting, *, site_id: int) -> None:
    """MANAGE_DEVICES at the site, or `auth.forbidden`."""
    authorize(who, Action.MANAGE_DEVICES, site_ids=[site_id])


async def require_managed_site(*, session: AsyncSession, who: Acting, site_id: int) -> None:
    """`site.not_found` unless the site is the organization's, then MANAGE_DEVICES there."""
    await sites.get_site(session, organization_id=who.organization_id, site_id=site_id)
    require_manage_devices(who, site_id=site_id)


async def _managed_device(*, session: AsyncSession, who: Acting, device_id: int) -> Device:
    device = await devices.get_device(
        session, organization_id=who.organization_id, device_id=device_id
    )
    require_manage_devices(who, site_id=device.site_id)
    return device


async def list_devices(
    *,
    session: AsyncSession,
    caller: Caller,
    site_id: int | None = None,
    kind: DeviceKind | None = None,
    revoked: bool | None = None,
) -> Sequence[Device]:
    """Devices of the sites where the caller manages devices or views the roll call;
    `revoked` True: only revoked ones, False: none of them, None: all."""
    site_ids = await permitted_sites(
        session=session, caller=caller, actions=VIEW_DEVICES, site_id=site_id
    )
    rows = await devices.list_devices(
        session,
        organization_id=caller.organization_id,
        site_ids=site_ids,
        kind=kind,
        include_revoked=revoked is not False,
    )
    if revoked:
        return [row for row in rows if row.revoked_at is not None]
    return rows


def own_device(*, caller: Caller) -> Device:
    """The calling device's own record (device tokens only)."""
    if caller.device is None:
        raise Forbidden(detail="this endpoint is for devices")
    return caller.device


async def get_device(*, session: AsyncSession, caller: Caller, device_id: int) -> Device:
    """One device, for those who may view devices at its site."""
    device = await devices.get_device(
        session, organization_id=caller.organization_id, device_id=device_id
    )
    require_any(caller, VIEW_DEVICES, site_ids=[device.site_id])
    return device


async def update_device(
    *,
    session: AsyncSession,
    sink: EventSink,
    caller: Caller,
    device_id: int,
    name: str | Unset | None = UNSET,
    zone_id: int | Unset | None = UNSET,
    person_id: int | Unset | None = UNSET,
    now: datetime,
) -> Device:
    """Rename, move to a zone of the device's site, or bind to a person (None unbinds; a
    name can't be None). Fields left UNSET are kept. A new zone or person makes the device's
    live connections reconnect after the commit (the sink), so they hello with the new binding."""
    before = _binding(await _managed_device(session=session, who=caller, device_id=device_id))
    if name is None:
        raise ServiceError("request.invalid", "name may not be null")
    device = await devices.update_device(
        session,
        organization_id=caller.organization_id,
        device_id=device_id,
        name=name,
        zone_id=zone_id,
        person_id=person_id,
        actor=caller.ref,
        now=now,
    )
    after = _binding(device)
    await session.commit()
    if after != before:
        await tell(sink.device_rebound(device_id), what=f"device {device_id} rebound")
    return device


def _binding(device: Device) -> tuple[int, int | None, int | None]:
    """What a live connection was given at its hello: site, zone, person."""
    return (device.site_id, device.zone_id, device.person_id)


async def revoke_device(
    *, session: AsyncSession, sink: EventSink, caller: Caller, device_id: int, now: datetime
) -> Device:
    """Revoke a device: its token stops working and, after the commit, the sink closes its
    live connections. `device.revoked` if it already is."""
    await _managed_device(session=session, who=caller, device_id=device_id)
    device = await devices.revoke_device(
        session,
        organization_id=caller.organization_id,
        device_id=device_id,
        actor=caller.ref,
        now=now,
    )
    await session.commit()
    await tell(sink.device_revoked(device.id), what=f"device {device.id} revoked")
    return device
