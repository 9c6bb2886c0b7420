"""Reading what the roll call and the reachability report are computed from (see
server/core/rollcall.py). Queries only: permission checks are server/services/rollcall.py's.

Read-only: nothing here writes, so nothing is audited."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.core import reachability as reports
from server.core import rollcall as core
from server.core.delivery import PushRow
from server.storage.push_states import PUSH_KINDS, latest_pushes
from server.storage.tables import (
    Alert,
    AlertSite,
    Device,
    Person,
    PushRegistration,
    Receipt,
    RoleAssignment,
    Site,
    Zone,
)


@dataclass(frozen=True)
class AlertFacts:
    """What the roll call needs of an alert."""

    id: int
    organization_id: int
    mode: str
    state: str
    created_at: datetime
    site_ids: frozenset[int]


@dataclass(frozen=True)
class RollCallData:
    """The rows of one alert's roll call over some of its sites."""

    alert: AlertFacts
    sites: dict[int, str]  # site id → name
    zones: dict[int, str]  # zone id → name
    devices: list[core.DeviceRow]
    receipts: list[core.ReceiptRow]
    persons: list[core.PersonRow]
    pushes: list[PushRow]

    def compute(
        self, *, at: datetime, site_ids: Collection[int] | None = None
    ) -> core.RollCallReport:
        """The roll call over `site_ids` (default: every site loaded)."""
        sites = self.sites if site_ids is None else _only(self.sites, site_ids)
        return core.compute(
            alert_id=self.alert.id,
            sites=sites,
            zones=self.zones,
            devices=self.devices,
            receipts=self.receipts,
            at=at,
            persons=self.persons,
            pushes=self.pushes,
        )

    def reachability(self, *, at: datetime) -> dict[str, Any]:
        """The reachability report over every site loaded."""
        return reports.reachability(
            alert_id=self.alert.id,
            mode=self.alert.mode,
            state=self.alert.state,
            created_at=self.alert.created_at,
            sites=self.sites,
            devices=self.devices,
            receipts=self.receipts,
            at=at,
            persons=self.persons,
            pushes=self.pushes,
        )


def _only(sites: dict[int, str], site_ids: Collection[int]) -> dict[int, str]:
    return {site_id: name for site_id, name in sites.items() if site_id in site_ids}


async def alert_facts(
    session: AsyncSession, *, organization_id: int, alert_id: int
) -> AlertFacts | None:
    """The organization's alert with its sites, or None (also for another organization's)."""
    alert = await session.scalar(
        select(Alert).where(Alert.id == alert_id, Alert.organization_id == organization_id)
    )
    if alert is None:
        return None
    site_ids = await session.scalars(
        select(AlertSite.site_id).where(
            AlertSite.alert_id == alert_id, AlertSite.organization_id == organization_id
        )
    )
    return AlertFacts(
        id=alert.id,
        organization_id=alert.organization_id,
        mode=alert.mode,
        state=alert.state,
        created_at=alert.created_at,
        site_ids=frozenset(site_ids.all()),
    )


async def load(
    session: AsyncSession, *, alert: AlertFacts, site_ids: Collection[int] | None = None
) -> RollCallData:
    """The rows of `alert`'s roll call over `site_ids` (default: all of the alert's sites):
    the non-revoked devices of those sites, every device that receipted the alert there,
    their receipts and push registrations, each one's latest push of the alert, the persons
    with a role at those sites who have no device on any of the alert's sites, and the
    sites' and zones' names."""
    org = alert.organization_id
    wanted = sorted(alert.site_ids if site_ids is None else alert.site_ids & set(site_ids))
    if not wanted:
        return RollCallData(
            alert=alert, sites={}, zones={}, devices=[], receipts=[], persons=[], pushes=[]
        )
    site_rows = await session.execute(
        select(Site.id, Site.name).where(Site.organization_id == org, Site.id.in_(wanted))
    )
    zone_rows = await session.execute(
        select(Zone.id, Zone.name).where(Zone.organization_id == org, Zone.site_id.in_(wanted))
    )
    receipted = select(Receipt.device_id).where(
        Receipt.organization_id == org,
        Receipt.alert_id == alert.id,
        Receipt.site_id.in_(wanted),
    )
    device_rows = await session.execute(
        select(
            Device.id,
            Device.name,
            Device.kind,
            Device.site_id,
            Device.zone_id,
            Device.person_id,
            Device.revoked_at,
            Person.name.label("person_name"),
            PushRegistration.type.label("push"),
        )
        .outerjoin(Person, Person.id == Device.person_id)
        .outerjoin(PushRegistration, PushRegistration.device_id == Device.id)
        .where(
            Device.organization_id == org,
            or_(
                Device.site_id.in_(wanted) & Device.revoked_at.is_(None),
                Device.id.in_(receipted),
            ),
        )
        .order_by(Device.id)
    )
    receipt_rows = await session.scalars(
        select(Receipt).where(
            Receipt.organization_id == org,
            Receipt.alert_id == alert.id,
            Receipt.site_id.in_(wanted),
        )
    )
    devices = [
        core.DeviceRow(
            id=row.id,
            name=row.name,
            kind=row.kind,
            site_id=row.site_id,
            zone_id=row.zone_id,
            person_id=row.person_id,
            person_name=row.person_name,
            revoked=row.revoked_at is not None,
            push=row.push,
        )
        for row in device_rows
    ]
    return RollCallData(
        alert=alert,
        sites={row.id: row.name for row in site_rows},
        zones={row.id: row.name for row in zone_rows},
        devices=devices,
        receipts=[
            core.ReceiptRow(
                device_id=receipt.device_id,
                site_id=receipt.site_id,
                delivered_at=receipt.delivered_at,
                displayed_at=receipt.displayed_at,
                acked_at=receipt.acked_at,
                response=receipt.response,
                note=receipt.note,
                location=receipt.location,
            )
            for receipt in receipt_rows
        ],
        persons=await _persons(session, alert=alert, site_ids=wanted),
        pushes=await latest_pushes(
            session,
            organization_id=org,
            alert_id=alert.id,
            device_ids=[device.id for device in devices if device.kind in PUSH_KINDS],
        ),
    )


async def _persons(
    session: AsyncSession, *, alert: AlertFacts, site_ids: Collection[int]
) -> list[core.PersonRow]:
    """The active persons with a role at `site_ids` and no non-revoked device on any of the
    alert's sites (a device elsewhere in the alert counts there; one that receipted is
    placed by the roll call itself)."""
    org = alert.organization_id
    with_device = select(Device.person_id).where(
        Device.organization_id == org,
        Device.person_id.is_not(None),
        Device.site_id.in_(sorted(alert.site_ids)),
        Device.revoked_at.is_(None),
    )
    rows = await session.execute(
        select(RoleAssignment.person_id, RoleAssignment.site_id, Person.name)
        .join(Person, Person.id == RoleAssignment.person_id)
        .where(
            RoleAssignment.organization_id == org,
            RoleAssignment.site_id.in_(list(site_ids)),
            Person.active.is_(True),
            RoleAssignment.person_id.not_in(with_device),
        )
    )
    names: dict[int, str] = {}
    sites: dict[int, set[int]] = {}
    for row in rows:
        names[row.person_id] = row.name
        sites.setdefault(row.person_id, set()).add(row.site_id)
    return [
        core.PersonRow(id=person, name=names[person], site_ids=frozenset(sites[person]))
        for person in sorted(names)
    ]
