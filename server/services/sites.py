"""Sites (schools), their zones and whether their staff may trigger.

Anyone of the organization may read sites: persons see all of them, devices and API keys
only their own. Creating a site needs MANAGE_SITES organization-wide; changing a site or its
zones needs MANAGE_SITES at that site.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from server.core.permissions import Action
from server.errors import ServiceError
from server.services.access import authorize
from server.storage import sites
from server.storage.callers import Caller
from server.storage.tables import Site, Zone


@dataclass(frozen=True)
class SiteView:
    """A site with its zones by name."""

    site: Site
    zones: Sequence[Zone] = field(default_factory=list)


def _sees(caller: Caller, site_id: int) -> bool:
    """Persons see every site of their organization; devices and keys only their own."""
    return caller.person is not None or site_id in caller.actor.site_ids


async def _visible_site(session: AsyncSession, caller: Caller, site_id: int) -> Site:
    site = await sites.get_site(session, organization_id=caller.organization_id, site_id=site_id)
    if not _sees(caller, site.id):
        raise ServiceError("site.not_found")
    return site


async def _managed_site(session: AsyncSession, caller: Caller, site_id: int) -> Site:
    site = await _visible_site(session, caller, site_id)
    authorize(caller, Action.MANAGE_SITES, site_ids=[site.id])
    return site


async def _with_zones(session: AsyncSession, caller: Caller, site: Site) -> SiteView:
    zones = await sites.zones_by_site(
        session, organization_id=caller.organization_id, site_ids=[site.id]
    )
    return SiteView(site, zones.get(site.id, []))


async def list_sites(*, session: AsyncSession, caller: Caller) -> list[SiteView]:
    """The sites the caller may see, by name, with their zones."""
    rows = [
        site
        for site in await sites.list_sites(session, organization_id=caller.organization_id)
        if _sees(caller, site.id)
    ]
    zones = await sites.zones_by_site(
        session, organization_id=caller.organization_id, site_ids=[site.id for site in rows]
    )
    return [SiteView(site, zones.get(site.id, [])) for site in rows]


async def get_site(*, session: AsyncSession, caller: Caller, site_id: int) -> SiteView:
    """One site the caller may see, with its zones."""
    site = await _visible_site(session, caller, site_id)
    return await _with_zones(session, caller, site)


async def create_site(
    *,
    session: AsyncSession,
    caller: Caller,
    name: str,
    address: str = "",
    staff_may_trigger: bool = True,
    now: datetime,
) -> SiteView:
    """Add a site (MANAGE_SITES organization-wide); `site.exists` on a duplicate name."""
    authorize(caller, Action.MANAGE_SITES)
    site = await sites.create_site(
        session,
        organization_id=caller.organization_id,
        name=name,
        address=address,
        staff_may_trigger=staff_may_trigger,
        actor=caller.ref,
        now=now,
    )
    await session.commit()
    return SiteView(site)


async def update_site(
    *,
    session: AsyncSession,
    caller: Caller,
    site_id: int,
    name: str | None = None,
    address: str | None = None,
    staff_may_trigger: bool | None = None,
    now: datetime,
) -> SiteView:
    """Rename a site, change its address or its staff trigger policy (None: unchanged)."""
    site = await _managed_site(session, caller, site_id)
    if name is None and address is None and staff_may_trigger is None:
        raise ServiceError("request.invalid", "nothing to change")
    site = await sites.update_site(
        session,
        organization_id=caller.organization_id,
        site_id=site.id,
        name=name,
        address=address,
        staff_may_trigger=staff_may_trigger,
        actor=caller.ref,
        now=now,
    )
    view = await _with_zones(session, caller, site)
    await session.commit()
    return view


async def create_zone(
    *, session: AsyncSession, caller: Caller, site_id: int, name: str, now: datetime
) -> Zone:
    """Add a zone to a site; `zone.exists` on a duplicate name within the site."""
    site = await _managed_site(session, caller, site_id)
    zone = await sites.create_zone(
        session,
        organization_id=caller.organization_id,
        site_id=site.id,
        name=name,
        actor=caller.ref,
        now=now,
    )
    await session.commit()
    return zone


async def rename_zone(
    *, session: AsyncSession, caller: Caller, site_id: int, zone_id: int, name: str, now: datetime
) -> Zone:
    """Rename a zone; `zone.not_found`, `zone.exists`."""
    site = await _managed_site(session, caller, site_id)
    zone = await sites.rename_zone(
        session,
        organization_id=caller.organization_id,
        site_id=site.id,
        zone_id=zone_id,
        name=name,
        actor=caller.ref,
        now=now,
    )
    await session.commit()
    return zone


async def delete_zone(
    *, session: AsyncSession, caller: Caller, site_id: int, zone_id: int, now: datetime
) -> None:
    """Delete a zone; its devices and enrollment codes stay on the site without a zone."""
    site = await _managed_site(session, caller, site_id)
    await sites.delete_zone(
        session,
        organization_id=caller.organization_id,
        site_id=site.id,
        zone_id=zone_id,
        actor=caller.ref,
        now=now,
    )
    await session.commit()
