"""Sites (schools, buildings) and their zones. Every query is scoped to one organization;
another organization's ids answer `site.not_found` / `zone.not_found`.

A repository: functions flush and audit in the caller's transaction; they never commit and
never check permissions (server/services/sites.py does both).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import ServiceError
from server.storage import audit
from server.storage.organizations import clean_name
from server.storage.tables import Site, Zone

MAX_ADDRESS = 300


def _clean_address(address: str) -> str:
    text = address.strip() if isinstance(address, str) else ""
    if len(text) > MAX_ADDRESS:
        raise ServiceError("request.invalid", f"address: at most {MAX_ADDRESS} characters")
    return text


async def _site_named(
    session: AsyncSession, *, organization_id: int, name: str, other_than: int | None = None
) -> Site | None:
    query = select(Site).where(
        Site.organization_id == organization_id, func.lower(Site.name) == name.lower()
    )
    if other_than is not None:
        query = query.where(Site.id != other_than)
    return await session.scalar(query)


async def _zone_named(
    session: AsyncSession, *, site_id: int, name: str, other_than: int | None = None
) -> Zone | None:
    query = select(Zone).where(Zone.site_id == site_id, func.lower(Zone.name) == name.lower())
    if other_than is not None:
        query = query.where(Zone.id != other_than)
    return await session.scalar(query)


async def create_site(
    session: AsyncSession,
    *,
    organization_id: int,
    name: str,
    address: str = "",
    staff_may_trigger: bool = True,
    actor: str,
    now: datetime,
) -> Site:
    """A new site; `site.exists` when the organization has one of that name (any case)."""
    name = clean_name(name)
    address = _clean_address(address)
    if await _site_named(session, organization_id=organization_id, name=name):
        raise ServiceError("site.exists", name)
    site = Site(
        organization_id=organization_id,
        name=name,
        address=address,
        staff_may_trigger=bool(staff_may_trigger),
        created_at=now,
    )
    session.add(site)
    try:
        await session.flush()
    except IntegrityError:  # created concurrently since the check
        raise ServiceError("site.exists", name) from None
    await audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="site.created",
        at=now,
        target=f"site:{site.id}",
        details={"name": name, "address": address, "staff_may_trigger": site.staff_may_trigger},
    )
    return site


async def get_site(session: AsyncSession, *, organization_id: int, site_id: int) -> Site:
    """The organization's site, or `site.not_found`."""
    site = await session.scalar(
        select(Site).where(Site.id == site_id, Site.organization_id == organization_id)
    )
    if site is None:
        raise ServiceError("site.not_found", f"site {site_id}")
    return site


async def list_sites(session: AsyncSession, *, organization_id: int) -> Sequence[Site]:
    """The organization's sites by name."""
    result = await session.scalars(
        select(Site).where(Site.organization_id == organization_id).order_by(Site.name, Site.id)
    )
    return result.all()


async def organization_site_ids(session: AsyncSession, *, organization_id: int) -> list[int]:
    """Every site id of the organization."""
    result = await session.scalars(select(Site.id).where(Site.organization_id == organization_id))
    return list(result.all())


async def existing_site_ids(
    session: AsyncSession, *, organization_id: int, site_ids: Iterable[int]
) -> set[int]:
    """Which of `site_ids` are the organization's sites."""
    wanted = set(site_ids)
    if not wanted:
        return set()
    result = await session.scalars(
        select(Site.id).where(Site.organization_id == organization_id, Site.id.in_(wanted))
    )
    return set(result.all())


async def staff_trigger_policy(session: AsyncSession, *, organization_id: int) -> dict[int, bool]:
    """Site id → whether its staff may trigger, for `server.core.permissions`."""
    rows = await session.execute(
        select(Site.id, Site.staff_may_trigger).where(Site.organization_id == organization_id)
    )
    return {site_id: bool(allowed) for site_id, allowed in rows.all()}


async def update_site(
    session: AsyncSession,
    *,
    organization_id: int,
    site_id: int,
    name: str | None = None,
    address: str | None = None,
    staff_may_trigger: bool | None = None,
    actor: str,
    now: datetime,
) -> Site:
    """Change the given fields (None: unchanged); `site.exists` on a name clash."""
    site = await get_site(session, organization_id=organization_id, site_id=site_id)
    changes: dict[str, Any] = {}
    if name is not None:
        name = clean_name(name)
        if await _site_named(
            session, organization_id=organization_id, name=name, other_than=site.id
        ):
            raise ServiceError("site.exists", name)
        site.name = changes["name"] = name
    if address is not None:
        site.address = changes["address"] = _clean_address(address)
    if staff_may_trigger is not None:
        site.staff_may_trigger = changes["staff_may_trigger"] = bool(staff_may_trigger)
    try:
        await session.flush()
    except IntegrityError:
        raise ServiceError("site.exists", site.name) from None
    await audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="site.updated",
        at=now,
        target=f"site:{site.id}",
        details=changes,
    )
    return site


async def zones_by_site(
    session: AsyncSession, *, organization_id: int, site_ids: Iterable[int] | None = None
) -> dict[int, list[Zone]]:
    """Site id → its zones by name (only sites that have zones appear)."""
    query = select(Zone).where(Zone.organization_id == organization_id)
    if site_ids is not None:
        query = query.where(Zone.site_id.in_(set(site_ids)))
    zones: dict[int, list[Zone]] = {}
    for zone in (await session.scalars(query.order_by(Zone.name, Zone.id))).all():
        zones.setdefault(zone.site_id, []).append(zone)
    return zones


async def get_zone(
    session: AsyncSession, *, organization_id: int, site_id: int, zone_id: int
) -> Zone:
    """The zone of that site of the organization, or `zone.not_found`."""
    zone = await session.scalar(
        select(Zone).where(
            Zone.id == zone_id, Zone.site_id == site_id, Zone.organization_id == organization_id
        )
    )
    if zone is None:
        raise ServiceError("zone.not_found", f"zone {zone_id} of site {site_id}")
    return zone


async def create_zone(
    session: AsyncSession,
    *,
    organization_id: int,
    site_id: int,
    name: str,
    actor: str,
    now: datetime,
) -> Zone:
    """A new zone of the site; `site.not_found`, `zone.exists` on a name clash."""
    await get_site(session, organization_id=organization_id, site_id=site_id)
    name = clean_name(name)
    if await _zone_named(session, site_id=site_id, name=name):
        raise ServiceError("zone.exists", name)
    zone = Zone(organization_id=organization_id, site_id=site_id, name=name, created_at=now)
    session.add(zone)
    try:
        await session.flush()
    except IntegrityError:
        raise ServiceError("zone.exists", name) from None
    await audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="zone.created",
        at=now,
        target=f"zone:{zone.id}",
        details={"site_id": site_id, "name": name},
    )
    return zone


async def rename_zone(
    session: AsyncSession,
    *,
    organization_id: int,
    site_id: int,
    zone_id: int,
    name: str,
    actor: str,
    now: datetime,
) -> Zone:
    """Rename a zone; `zone.not_found`, `zone.exists`."""
    zone = await get_zone(
        session, organization_id=organization_id, site_id=site_id, zone_id=zone_id
    )
    name = clean_name(name)
    if await _zone_named(session, site_id=site_id, name=name, other_than=zone.id):
        raise ServiceError("zone.exists", name)
    old = zone.name
    zone.name = name
    try:
        await session.flush()
    except IntegrityError:
        raise ServiceError("zone.exists", name) from None
    await audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="zone.updated",
        at=now,
        target=f"zone:{zone.id}",
        details={"site_id": site_id, "name": name, "old_name": old},
    )
    return zone


async def delete_zone(
    session: AsyncSession,
    *,
    organization_id: int,
    site_id: int,
    zone_id: int,
    actor: str,
    now: datetime,
) -> None:
    """Delete a zone; its devices and enrollment codes keep the site, lose the zone."""
    zone = await get_zone(
        session, organization_id=organization_id, site_id=site_id, zone_id=zone_id
    )
    await session.delete(zone)
    await session.flush()
    await audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="zone.deleted",
        at=now,
        target=f"zone:{zone_id}",
        details={"site_id": site_id, "name": zone.name},
    )
