"""Sites (schools) and their zones.

Anyone of the organization may read sites: persons see all of them, devices and API keys
only their own. Creating a site needs MANAGE_SITES organization-wide; changing a site or its
zones needs MANAGE_SITES at that site.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from server.api.base import Body, PatchBody, PathId
from server.api.deps import CurrentCaller, SessionDep
from server.clock import utcnow
from server.core.permissions import Action, require
from server.errors import ServiceError
from server.storage import sites
from server.storage.callers import Caller
from server.storage.tables import Site, Zone

router = APIRouter(tags=["sites"])


class ZoneOut(BaseModel):
    id: int
    name: str


class SiteOut(BaseModel):
    id: int
    name: str
    address: str
    staff_may_trigger: bool
    zones: list[ZoneOut]


class SiteCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    address: str = Field(default="", max_length=300)
    staff_may_trigger: bool = True


class SitePatch(PatchBody):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    address: str | None = Field(default=None, max_length=300)
    staff_may_trigger: bool | None = None


class ZoneBody(Body):
    name: str = Field(min_length=1, max_length=200)


def _zone_out(zone: Zone) -> ZoneOut:
    return ZoneOut(id=zone.id, name=zone.name)


def _site_out(site: Site, zones: Iterable[Zone] = ()) -> SiteOut:
    return SiteOut(
        id=site.id,
        name=site.name,
        address=site.address,
        staff_may_trigger=site.staff_may_trigger,
        zones=[_zone_out(zone) for zone in zones],
    )


def _sees(caller: Caller, site_id: int) -> bool:
    """Persons see every site of their organization; devices and keys only their own."""
    return caller.person is not None or site_id in caller.actor.site_ids


async def _visible_site(session: SessionDep, caller: Caller, site_id: int) -> Site:
    site = await sites.get_site(session, organization_id=caller.organization_id, site_id=site_id)
    if not _sees(caller, site.id):
        raise ServiceError("site.not_found")
    return site


async def _managed_site(session: SessionDep, caller: Caller, site_id: int) -> Site:
    site = await _visible_site(session, caller, site_id)
    require(
        caller.actor,
        Action.MANAGE_SITES,
        organization_id=caller.organization_id,
        site_ids=[site.id],
    )
    return site


async def _with_zones(session: SessionDep, caller: Caller, site: Site) -> SiteOut:
    zones = await sites.zones_by_site(
        session, organization_id=caller.organization_id, site_ids=[site.id]
    )
    return _site_out(site, zones.get(site.id, []))


@router.get("/sites")
async def list_sites(caller: CurrentCaller, session: SessionDep) -> Sequence[SiteOut]:
    """The sites the caller may see, by name, with their zones."""
    rows = [
        site
        for site in await sites.list_sites(session, organization_id=caller.organization_id)
        if _sees(caller, site.id)
    ]
    zones = await sites.zones_by_site(
        session, organization_id=caller.organization_id, site_ids=[site.id for site in rows]
    )
    return [_site_out(site, zones.get(site.id, [])) for site in rows]


@router.post("/sites", status_code=201)
async def create_site(body: SiteCreate, caller: CurrentCaller, session: SessionDep) -> SiteOut:
    """Add a site (MANAGE_SITES organization-wide); `site.exists` on a duplicate name."""
    require(caller.actor, Action.MANAGE_SITES, organization_id=caller.organization_id)
    site = await sites.create_site(
        session,
        organization_id=caller.organization_id,
        name=body.name,
        address=body.address,
        staff_may_trigger=body.staff_may_trigger,
        actor=caller.ref,
        now=utcnow(),
    )
    await session.commit()
    return _site_out(site)


@router.get("/sites/{site_id}")
async def get_site(site_id: PathId, caller: CurrentCaller, session: SessionDep) -> SiteOut:
    """One site with its zones."""
    site = await _visible_site(session, caller, site_id)
    return await _with_zones(session, caller, site)


@router.patch("/sites/{site_id}")
async def update_site(
    site_id: PathId, body: SitePatch, caller: CurrentCaller, session: SessionDep
) -> SiteOut:
    """Rename a site, change its address or whether its staff may trigger."""
    site = await _managed_site(session, caller, site_id)
    if not body.model_fields_set:
        raise ServiceError("request.invalid", "nothing to change")
    site = await sites.update_site(
        session,
        organization_id=caller.organization_id,
        site_id=site.id,
        name=body.name,
        address=body.address,
        staff_may_trigger=body.staff_may_trigger,
        actor=caller.ref,
        now=utcnow(),
    )
    result = await _with_zones(session, caller, site)
    await session.commit()
    return result


@router.post("/sites/{site_id}/zones", status_code=201)
async def create_zone(
    site_id: PathId, body: ZoneBody, caller: CurrentCaller, session: SessionDep
) -> ZoneOut:
    """Add a zone to a site; `zone.exists` on a duplicate name within the site."""
    site = await _managed_site(session, caller, site_id)
    zone = await sites.create_zone(
        session,
        organization_id=caller.organization_id,
        site_id=site.id,
        name=body.name,
        actor=caller.ref,
        now=utcnow(),
    )
    await session.commit()
    return _zone_out(zone)


@router.patch("/sites/{site_id}/zones/{zone_id}")
async def rename_zone(
    site_id: PathId, zone_id: PathId, body: ZoneBody, caller: CurrentCaller, session: SessionDep
) -> ZoneOut:
    """Rename a zone."""
    site = await _managed_site(session, caller, site_id)
    zone = await sites.rename_zone(
        session,
        organization_id=caller.organization_id,
        site_id=site.id,
        zone_id=zone_id,
        name=body.name,
        actor=caller.ref,
        now=utcnow(),
    )
    await session.commit()
    return _zone_out(zone)


@router.delete("/sites/{site_id}/zones/{zone_id}", status_code=204)
async def delete_zone(
    site_id: PathId, zone_id: PathId, caller: CurrentCaller, session: SessionDep
) -> Response:
    """Delete a zone; its devices and enrollment codes stay on the site without a zone."""
    site = await _managed_site(session, caller, site_id)
    await sites.delete_zone(
        session,
        organization_id=caller.organization_id,
        site_id=site.id,
        zone_id=zone_id,
        actor=caller.ref,
        now=utcnow(),
    )
    await session.commit()
    return Response(status_code=204)
