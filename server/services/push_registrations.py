"""Push registrations: a `web` or `ios` device registers (or removes) its own push address,
and the device views show whether one is held — never its keys.

Only the device itself, by its token, registers: the address comes from the browser or the
app on it. Validation is `server.core.push_registrations` (bad input stores nothing); the
write and its audit entry are one transaction. Nothing is told after the commit: the push
dispatcher reads registrations when it sends.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from server.core import push_registrations as core
from server.core.errors import Forbidden
from server.storage import push_registrations
from server.storage.callers import Caller
from server.storage.tables import Device, PushRegistration


@dataclass(frozen=True)
class PushState:
    """What a device view shows of a registration."""

    type: str
    since: datetime
    last_result: str | None


@dataclass(frozen=True)
class WebPushInput:
    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True)
class ApnsInput:
    token: str
    environment: str


def push_state(row: PushRegistration | None) -> PushState | None:
    if row is None:
        return None
    return PushState(type=row.type, since=row.since, last_result=row.last_result or None)


def _own_device(caller: Caller) -> Device:
    if caller.device is None:
        raise Forbidden(detail="this endpoint is for devices")
    return caller.device


def validate(
    *,
    device_kind: str,
    address: WebPushInput | ApnsInput,
    allowed: Iterable[core.OriginRule],
    production: bool,
) -> core.Registration:
    """The registration a device of `device_kind` may store, or the core's error."""
    if isinstance(address, WebPushInput):
        core.check_type(device_kind=device_kind, registration_type=core.WEBPUSH)
        return core.webpush(
            endpoint=address.endpoint,
            p256dh=address.p256dh,
            auth=address.auth,
            allowed=allowed,
            production=production,
        )
    core.check_type(device_kind=device_kind, registration_type=core.APNS)
    return core.apns(token=address.token, environment=address.environment)


async def register(
    *,
    session: AsyncSession,
    caller: Caller,
    address: WebPushInput | ApnsInput,
    allowed: Iterable[core.OriginRule],
    production: bool,
    now: datetime,
) -> tuple[Device, PushState]:
    """Store the calling device's push address (replacing any other); the device and what
    its view shows. The same address again changes nothing."""
    device = _own_device(caller)
    registration = validate(
        device_kind=device.kind, address=address, allowed=allowed, production=production
    )
    row = await push_registrations.register(
        session, device=device, registration=registration, actor=caller.ref, now=now
    )
    state = push_state(row)
    assert state is not None
    await session.commit()
    return device, state


async def unregister(*, session: AsyncSession, caller: Caller, now: datetime) -> Device:
    """Remove the calling device's push address and its pending deliveries (none: nothing
    happens)."""
    device = _own_device(caller)
    if await push_registrations.unregister(session, device=device, actor=caller.ref, now=now):
        await session.commit()
    return device


async def states(
    *, session: AsyncSession, organization_id: int, device_ids: Collection[int]
) -> dict[int, PushState]:
    """What the views of these devices show of their registrations (absent: none)."""
    rows = await push_registrations.by_device(
        session, organization_id=organization_id, device_ids=device_ids
    )
    found: dict[int, PushState] = {}
    for device_id, row in rows.items():
        state = push_state(row)
        if state is not None:
            found[device_id] = state
    return found
