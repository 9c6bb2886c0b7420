"""Devices: list, show, rename/move/bind and revoke. Enrolling is in server/api/enrollment.py.

GET   /devices                 MANAGE_DEVICES, or VIEW_ROLLCALL (principals, security chiefs)
GET   /devices/self            the calling device's own record
GET   /devices/{id}            as GET /devices, at the device's site
PATCH /devices/{id}            MANAGE_DEVICES  {name?, zone_id?, person_id?}
POST  /devices/{id}/revoke     MANAGE_DEVICES  -> the device, with revoked_at
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from protocol.vocabulary import DeviceKind
from server.api.base import Body, BodyId, PathId, QueryId
from server.api.deps import CurrentCaller, SessionDep, SinkDep
from server.clock import utcnow
from server.services import devices
from server.storage.devices import NAME_MAX
from server.storage.tables import Device

router = APIRouter(tags=["devices"])


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
    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    zone_id: BodyId | None = None  # null: no zone
    person_id: BodyId | None = None  # null: not bound to a person


def device_out(device: Device) -> DeviceOut:
    return DeviceOut.model_validate(device)


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
    rows = await devices.list_devices(
        session=session, caller=caller, site_id=site_id, kind=kind, revoked=revoked
    )
    return [device_out(row) for row in rows]


@router.get("/devices/self")
async def own_device(caller: CurrentCaller) -> DeviceOut:
    """The calling device's own record (device tokens only)."""
    return device_out(devices.own_device(caller=caller))


@router.get("/devices/{device_id}")
async def get_device(device_id: PathId, session: SessionDep, caller: CurrentCaller) -> DeviceOut:
    device = await devices.get_device(session=session, caller=caller, device_id=device_id)
    return device_out(device)


@router.patch("/devices/{device_id}")
async def update_device(
    device_id: PathId, body: DevicePatch, session: SessionDep, sink: SinkDep, caller: CurrentCaller
) -> DeviceOut:
    """Rename, move to a zone of the device's site, or bind to a person (null unbinds)."""
    changes: dict[str, Any] = {field: getattr(body, field) for field in body.model_fields_set}
    device = await devices.update_device(
        session=session, sink=sink, caller=caller, device_id=device_id, now=utcnow(), **changes
    )
    return device_out(device)


@router.post("/devices/{device_id}/revoke")
async def revoke_device(
    device_id: PathId, session: SessionDep, sink: SinkDep, caller: CurrentCaller
) -> DeviceOut:
    """Revoke the device: its token stops working and its live connection is closed."""
    device = await devices.revoke_device(
        session=session, sink=sink, caller=caller, device_id=device_id, now=utcnow()
    )
    return device_out(device)
