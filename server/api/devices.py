"""Devices: list, show, rename/move/bind and revoke. Enrolling is in server/api/enrollment.py.

GET   /devices                 MANAGE_DEVICES, or VIEW_ROLLCALL (principals, security chiefs)
GET   /devices/self            the calling device's own record
PUT   /devices/self/push       the calling device's push address {webpush: …} | {apns: …}
DELETE /devices/self/push      remove it
GET   /devices/{id}            as GET /devices, at the device's site
PATCH /devices/{id}            MANAGE_DEVICES  {name?, zone_id?, person_id?}
POST  /devices/{id}/revoke     MANAGE_DEVICES  -> the device, with revoked_at
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import DeviceKind
from server.api.base import Body, BodyId, PathId, QueryId
from server.api.deps import CurrentCaller, SessionDep, SettingsDep, SinkDep
from server.clock import utcnow
from server.core.push_registrations import parse_origin_rules
from server.services import devices, push_registrations
from server.services.push_registrations import ApnsInput, PushState, WebPushInput
from server.storage.devices import NAME_MAX
from server.storage.tables import Device

router = APIRouter(tags=["devices"])


class PushOut(BaseModel):
    """The device's push registration as the API shows it (never its address or keys)."""

    type: Literal["webpush", "apns"]
    since: datetime  # when this address was registered
    last_result: str | None  # the provider's latest answer, e.g. "delivered"; null: none yet


class DeviceOut(BaseModel):
    """A device as the API shows it (never its token, never its push keys)."""

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
    push: PushOut | None  # null: no push registration


class WebPushKeys(Body):
    p256dh: str  # base64url, the browser's P-256 public key (65 bytes)
    auth: str  # base64url, the 16-byte authentication secret


class WebPushIn(Body):
    """A browser's `PushSubscription.toJSON()`."""

    endpoint: str
    expirationTime: int | float | None = None  # the browser's name; not used
    keys: WebPushKeys


class ApnsIn(Body):
    token: str  # the device token, hex
    environment: str  # sandbox | production


class PushIn(Body):
    """Exactly one of `webpush` (a `web` device) and `apns` (an `ios` device)."""

    webpush: WebPushIn | None = None
    apns: ApnsIn | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.webpush is None) == (self.apns is None):
            raise ValueError("send exactly one of webpush and apns")
        return self

    def address(self) -> WebPushInput | ApnsInput:
        if self.webpush is not None:
            keys = self.webpush.keys
            return WebPushInput(self.webpush.endpoint, keys.p256dh, keys.auth)
        assert self.apns is not None
        return ApnsInput(self.apns.token, self.apns.environment)


class DevicePatch(Body):
    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    zone_id: BodyId | None = None  # null: no zone
    person_id: BodyId | None = None  # null: not bound to a person


def device_out(device: Device, push: PushState | None = None) -> DeviceOut:
    fields = {name: getattr(device, name) for name in DeviceOut.model_fields if name != "push"}
    return DeviceOut(
        **fields,
        push=None if push is None else PushOut(**vars(push)),
    )


async def devices_out(
    *, session: AsyncSession, organization_id: int, rows: Sequence[Device]
) -> list[DeviceOut]:
    """The views of `rows`, each with its push registration (one query)."""
    states = await push_registrations.states(
        session=session, organization_id=organization_id, device_ids=[row.id for row in rows]
    )
    return [device_out(row, states.get(row.id)) for row in rows]


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
    return await devices_out(session=session, organization_id=caller.organization_id, rows=rows)


@router.get("/devices/self")
async def own_device(session: SessionDep, caller: CurrentCaller) -> DeviceOut:
    """The calling device's own record (device tokens only)."""
    [out] = await devices_out(
        session=session,
        organization_id=caller.organization_id,
        rows=[devices.own_device(caller=caller)],
    )
    return out


@router.put("/devices/self/push")
async def register_push(
    body: PushIn, session: SessionDep, caller: CurrentCaller, settings: SettingsDep
) -> DeviceOut:
    """Register the calling device's push address (device tokens only): a `web` device its
    browser's `PushSubscription.toJSON()` as `webpush`, an `ios` device its APNs token as
    `apns`. Replaces any earlier one; sending the same again changes nothing."""
    device, state = await push_registrations.register(
        session=session,
        caller=caller,
        address=body.address(),
        allowed=parse_origin_rules(settings.push_allowed_origins),
        production=settings.environment == "production",
        now=utcnow(),
    )
    return device_out(device, state)


@router.delete("/devices/self/push")
async def unregister_push(session: SessionDep, caller: CurrentCaller) -> DeviceOut:
    """Remove the calling device's push address and its pending pushes (device tokens only;
    none registered: nothing changes)."""
    device = await push_registrations.unregister(session=session, caller=caller, now=utcnow())
    return device_out(device, None)


@router.get("/devices/{device_id}")
async def get_device(device_id: PathId, session: SessionDep, caller: CurrentCaller) -> DeviceOut:
    """One device of the organization, as the list shows it (with `push`; never keys)."""
    device = await devices.get_device(session=session, caller=caller, device_id=device_id)
    [out] = await devices_out(
        session=session, organization_id=caller.organization_id, rows=[device]
    )
    return out


@router.patch("/devices/{device_id}")
async def update_device(
    device_id: PathId, body: DevicePatch, session: SessionDep, sink: SinkDep, caller: CurrentCaller
) -> DeviceOut:
    """Rename, move to a zone of the device's site, or bind to a person (null unbinds)."""
    changes: dict[str, Any] = {field: getattr(body, field) for field in body.model_fields_set}
    device = await devices.update_device(
        session=session, sink=sink, caller=caller, device_id=device_id, now=utcnow(), **changes
    )
    [out] = await devices_out(
        session=session, organization_id=caller.organization_id, rows=[device]
    )
    return out


@router.post("/devices/{device_id}/revoke")
async def revoke_device(
    device_id: PathId, session: SessionDep, sink: SinkDep, caller: CurrentCaller
) -> DeviceOut:
    """Revoke the device: its token stops working, its live connection is closed, and its
    push registration and pending pushes are deleted."""
    device = await devices.revoke_device(
        session=session, sink=sink, caller=caller, device_id=device_id, now=utcnow()
    )
    return device_out(device, None)
