"""The push registrations repository: one registration per device (upserted), read for the
device views, deleted with its pending deliveries when the device unregisters or is revoked.

Writes happen in the caller's transaction with their audit entry; nothing here commits or
checks permissions. The keys are stored, never shown: views read only `type`, `since` and
`last_result`.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.push_registrations import Registration
from server.storage import audit
from server.storage.tables import Device, PushDelivery, PushRegistration

_ADDRESS = ("type", "endpoint", "p256dh", "auth", "token", "environment")


def _same(row: PushRegistration, registration: Registration) -> bool:
    return all(getattr(row, name) == getattr(registration, name) for name in _ADDRESS)


async def get(session: AsyncSession, *, device_id: int) -> PushRegistration | None:
    return await session.get(PushRegistration, device_id, populate_existing=True)


async def by_device(
    session: AsyncSession, *, organization_id: int, device_ids: Collection[int]
) -> dict[int, PushRegistration]:
    """The registrations of these devices of the organization, by device id."""
    if not device_ids:
        return {}
    rows = await session.scalars(
        select(PushRegistration).where(
            PushRegistration.organization_id == organization_id,
            PushRegistration.device_id.in_(list(device_ids)),
        )
    )
    return {row.device_id: row for row in rows}


async def register(
    session: AsyncSession, *, device: Device, registration: Registration, actor: str, now: datetime
) -> PushRegistration:
    """Store the device's registration, replacing any other. The same address again (a PWA
    re-sends its subscription at every start) changes nothing: `since` and `last_result`
    stay, nothing is audited. A new address starts afresh (`since` = now, no result yet) and
    is audited as `device.push_registered` (the type only, never keys or addresses)."""
    existing = await get(session, device_id=device.id)
    if existing is not None and _same(existing, registration):
        return existing
    values: dict[str, Any] = {
        "device_id": device.id,
        "organization_id": device.organization_id,
        **{name: getattr(registration, name) for name in _ADDRESS},
        "since": now,
        "last_result": "",
        "last_result_at": None,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(PushRegistration).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["device_id"],
            set_={name: statement.excluded[name] for name in values if name != "device_id"},
        )
    )
    await audit.record(
        session,
        organization_id=device.organization_id,
        actor=actor,
        action="device.push_registered",
        at=now,
        target=f"device:{device.id}",
        details={"type": registration.type, "replaced": existing is not None},
    )
    row = await get(session, device_id=device.id)
    assert row is not None
    return row


async def unregister(
    session: AsyncSession, *, device: Device, actor: str | None, now: datetime
) -> bool:
    """Delete the device's registration and its pending deliveries (those still due: nothing
    can be sent without an address); finished ones stay for the reports. With `actor` the
    removal is audited as `device.push_unregistered` (a revocation audits itself). False
    when there was none."""
    await session.execute(
        delete(PushDelivery)
        .where(PushDelivery.device_id == device.id, PushDelivery.next_attempt_at.is_not(None))
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(
        delete(PushRegistration)
        .where(PushRegistration.device_id == device.id)
        .returning(PushRegistration.type)
        .execution_options(synchronize_session=False)
    )
    removed = result.scalar_one_or_none()
    if removed is None:
        return False
    if actor is not None:
        await audit.record(
            session,
            organization_id=device.organization_id,
            actor=actor,
            action="device.push_unregistered",
            at=now,
            target=f"device:{device.id}",
            details={"type": removed},
        )
    return True
