"""Devices: list, show, rename/move/bind and revoke. Enrolling is in server/api/enrollment.py.

GET   /devices                 MANAGE_DEVICES, or VIEW_ROLLCALL (principals, security chiefs)
GET   /devices/self            the calling device's own record
GET   /devices/{id}            as GET /devices, at the device's site
PATCH /devices/{id}            MANAGE_DEVICES  {name?, zone_id?, person_id?}
POST  /devices/{id}/revoke     MANAGE_DEVICES  -> the device, with revoked_at
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import DeviceKind
from server.api.base import Body, BodyId, PathId, QueryId
from server.api.deps import CurrentCaller, SessionDep
from server.clock import utcnow
from server.core.errors import Forbidden
from server.core.permissions import Action, can, require, sites_where
from server.errors import ServiceError
from server.storage import devices, sites
from server.storage.callers import Caller
from server.storage.tables import Device

log = logging.getLogger(__name__)
router = APIRouter(tags=["devices"])

VIEW_DEVICES = (Action.MANAGE_DEVICES, Action.VIEW_ROLLCALL)


class DeviceOut(BaseModel):
    """A device as the API shows it (never its token)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: DeviceKind
    site_id: int
    zone_id: int | None
    person_id: int | None
    created_at: datetime
    revoked_at: datetime | None
    last_seen_at: datetime | None
    client_version: str


class DevicePatch(Body):
    name: str | None = Field(default=None, min_length=1, max_length=devices.NAME_MAX)
    zone_id: BodyId | None = None  # null: no zone
    person_id: BodyId | None = None  # null: not bound to a person


def device_out(device: Device) -> DeviceOut:
    return DeviceOut.model_validate(device)


def allowed_sites(
    caller: Caller, actions: Iterable[Action], *, all_site_ids: Collection[int], site_id: int | None
) -> frozenset[int]:
    """Of `all_site_ids` (the caller's organization's sites), those where the caller may do
    any of `actions`, narrowed to `site_id` when given. Raises `site.not_found` for a site
    not among them and `auth.forbidden` when nothing is left."""
    allowed: frozenset[int] = frozenset()
    for action in actions:
        allowed |= sites_where(caller.actor, action, all_site_ids=all_site_ids)
    if site_id is not None:
        if site_id not in all_site_ids:
            raise ServiceError("site.not_found", f"site {site_id}")
        allowed &= {site_id}
    if not allowed:
        raise Forbidden(detail=" or ".join(str(action) for action in actions))
    return allowed


async def permitted_sites(
    session: AsyncSession, caller: Caller, actions: Iterable[Action], site_id: int | None
) -> frozenset[int]:
    """`allowed_sites` among all sites of the caller's organization."""
    all_ids = await sites.organization_site_ids(session, organization_id=caller.organization_id)
    return allowed_sites(caller, actions, all_site_ids=all_ids, site_id=site_id)


def require_manage_devices(caller: Caller, *, site_id: int) -> None:
    """MANAGE_DEVICES at the site, or `auth.forbidden`."""
    require(
        caller.actor,
        Action.MANAGE_DEVICES,
        organization_id=caller.organization_id,
        site_ids=[site_id],
    )


async def require_managed_site(session: AsyncSession, caller: Caller, *, site_id: int) -> None:
    """`site.not_found` unless the site is the caller's organization's, then
    `require_manage_devices` there."""
    await sites.get_site(session, organization_id=caller.organization_id, site_id=site_id)
    require_manage_devices(caller, site_id=site_id)


async def _managed_device(session: AsyncSession, caller: Caller, device_id: int) -> Device:
    device = await devices.get_device(
        session, organization_id=caller.organization_id, device_id=device_id
    )
    require_manage_devices(caller, site_id=device.site_id)
    return device


def _require_any(caller: Caller, actions: Iterable[Action], *, site_id: int) -> None:
    if not any(
        can(caller.actor, action, organization_id=caller.organization_id, site_ids=[site_id])
        for action in actions
    ):
        raise Forbidden(detail=" or ".join(str(action) for action in actions))


@router.get("/devices")
async def list_devices(
    session: SessionDep,
    caller: CurrentCaller,
    site_id: QueryId = None,
    kind: DeviceKind | None = None,
    revoked: Annotated[
        bool | None, Query(description="true: only revoked devices; false: no revoked ones")
    ] = None,
) -> list[DeviceOut]:
    """Devices of the sites where the caller manages devices or views the roll call."""
    site_ids = await permitted_sites(session, caller, VIEW_DEVICES, site_id)
    rows = await devices.list_devices(
        session,
        organization_id=caller.organization_id,
        site_ids=site_ids,
        kind=kind,
        include_revoked=revoked is not False,
    )
    if revoked:
        rows = [row for row in rows if row.revoked_at is not None]
    return [device_out(row) for row in rows]


@router.get("/devices/self")
async def own_device(caller: CurrentCaller) -> DeviceOut:
    """The calling device's own record (device tokens only)."""
    if caller.device is None:
        raise Forbidden(detail="this endpoint is for devices")
    return device_out(caller.device)


@router.get("/devices/{device_id}")
async def get_device(device_id: PathId, session: SessionDep, caller: CurrentCaller) -> DeviceOut:
    device = await devices.get_device(
        session, organization_id=caller.organization_id, device_id=device_id
    )
    _require_any(caller, VIEW_DEVICES, site_id=device.site_id)
    return device_out(device)


@router.patch("/devices/{device_id}")
async def update_device(
    device_id: PathId, body: DevicePatch, session: SessionDep, caller: CurrentCaller
) -> DeviceOut:
    """Rename, move to a zone of the device's site, or bind to a person (null unbinds)."""
    await _managed_device(session, caller, device_id)
    given = body.model_fields_set
    if "name" in given and body.name is None:
        raise ServiceError("request.invalid", "name may not be null")
    changes: dict[str, Any] = {field: getattr(body, field) for field in given}
    device = await devices.update_device(
        session,
        organization_id=caller.organization_id,
        device_id=device_id,
        actor=caller.ref,
        now=utcnow(),
        **changes,
    )
    await session.commit()
    return device_out(device)


@router.post("/devices/{device_id}/revoke")
async def revoke_device(
    device_id: PathId, request: Request, session: SessionDep, caller: CurrentCaller
) -> DeviceOut:
    """Revoke the device: its token stops working and its live connection is closed."""
    await _managed_device(session, caller, device_id)
    device = await devices.revoke_device(
        session,
        organization_id=caller.organization_id,
        device_id=device_id,
        actor=caller.ref,
        now=utcnow(),
    )
    await session.commit()
    device_revoked = getattr(request.app.state, "device_revoked", None)
    if device_revoked is not None:
        try:
            await device_revoked(device.id)
        except Exception:  # the revocation is committed; its token fails on the next request
            log.exception("closing the connection of revoked device %s failed", device.id)
    return device_out(device)
