"""Sites (schools) and their zones: the HTTP face of server/services/sites.py (who may see
and change which site is said there)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from server.api.base import Body, PatchBody, PathId
from server.api.deps import CurrentCaller, SessionDep
from server.clock import utcnow
from server.services import sites
from server.services.sites import SiteView
from server.storage.tables import Zone

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


def _site_out(view: SiteView) -> SiteOut:
    site = view.site
    return SiteOut(
        id=site.id,
        name=site.name,
        address=site.address,
        staff_may_trigger=site.staff_may_trigger,
        zones=[_zone_out(zone) for zone in view.zones],
    )


@router.get("/sites")
async def list_sites(caller: CurrentCaller, session: SessionDep) -> Sequence[SiteOut]:
    """The sites the caller may see, by name, with their zones."""
    return [_site_out(view) for view in await sites.list_sites(session=session, caller=caller)]


@router.post("/sites", status_code=201)
async def create_site(body: SiteCreate, caller: CurrentCaller, session: SessionDep) -> SiteOut:
    """Add a site (MANAGE_SITES organization-wide); `site.exists` on a duplicate name."""
    view = await sites.create_site(
        session=session,
        caller=caller,
        name=body.name,
        address=body.address,
        staff_may_trigger=body.staff_may_trigger,
        now=utcnow(),
    )
    return _site_out(view)


@router.get("/sites/{site_id}")
async def get_site(site_id: PathId, caller: CurrentCaller, session: SessionDep) -> SiteOut:
    """One site with its zones."""
    return _site_out(await sites.get_site(session=session, caller=caller, site_id=site_id))


@router.patch("/sites/{site_id}")
async def update_site(
    site_id: PathId, body: SitePatch, caller: CurrentCaller, session: SessionDep
) -> SiteOut:
    """Rename a site, change its address or whether its staff may trigger."""
    view = await sites.update_site(
        session=session,
        caller=caller,
        site_id=site_id,
        name=body.name,
        address=body.address,
        staff_may_trigger=body.staff_may_trigger,
        now=utcnow(),
    )
    return _site_out(view)


@router.post("/sites/{site_id}/zones", status_code=201)
async def create_zone(
    site_id: PathId, body: ZoneBody, caller: CurrentCaller, session: SessionDep
) -> ZoneOut:
    """Add a zone to a site; `zone.exists` on a duplicate name within the site."""
    zone = await sites.create_zone(
        session=session, caller=caller, site_id=site_id, name=body.name, now=utcnow()
    )
    return _zone_out(zone)


@router.patch("/sites/{site_id}/zones/{zone_id}")
async def rename_zone(
    site_id: PathId, zone_id: PathId, body: ZoneBody, caller: CurrentCaller, session: SessionDep
) -> ZoneOut:
    """Rename a zone."""
    zone = await sites.rename_zone(
        session=session,
        caller=caller,
        site_id=site_id,
        zone_id=zone_id,
        name=body.name,
        now=utcnow(),
    )
    return _zone_out(zone)


@router.delete("/sites/{site_id}/zones/{zone_id}", status_code=204)
async def delete_zone(
    site_id: PathId, zone_id: PathId, caller: CurrentCaller, session: SessionDep
) -> Response:
    """Delete a zone; its devices and enrollment codes stay on the site without a zone."""
    await sites.delete_zone(
        session=session, caller=caller, site_id=site_id, zone_id=zone_id, now=utcnow()
    )
    return Response(status_code=204)
