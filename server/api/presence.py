"""Device presence: which devices of a site are reachable right now.

    GET /presence?site_id=   VIEW_ROLLCALL or MANAGE_DEVICES on the sites
        → {"at", "stale_after_s",
           "sites": [{"site_id", "name", "reachable": n, "unreachable": n,
                      "devices": [{"id", "name", "kind", "zone_id", "person_id",
                                   "last_seen_at", "reachable"}]}]}

Without `site_id`: every site where the caller may look, by id; devices reachable first,
then by name. A device is reachable when it is not revoked and some node saw it connected
within 2.5 heartbeats. Errors: `site.not_found` (unknown or another organization's site),
`auth.forbidden` (no such right on the site, or on any site).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from server.api.base import QueryId
from server.api.deps import CurrentCaller, SessionDep, SettingsDep
from server.clock import utcnow
from server.services import presence
from server.storage.presence import stale_after as stale_after_of

router = APIRouter(tags=["presence"])


class DevicePresence(BaseModel):
    id: int
    name: str
    kind: str
    zone_id: int | None
    person_id: int | None
    last_seen_at: datetime | None
    reachable: bool


class SitePresence(BaseModel):
    site_id: int
    name: str
    reachable: int
    unreachable: int
    devices: list[DevicePresence]


class PresenceOut(BaseModel):
    at: datetime
    stale_after_s: float
    sites: list[SitePresence]


@router.get("/presence")
async def get_presence(
    session: SessionDep,
    settings: SettingsDep,
    caller: CurrentCaller,
    site_id: QueryId = None,
) -> PresenceOut:
    """Per site, how many devices are reachable now and how many are not, and which."""
    now = utcnow()
    stale_after = stale_after_of(settings.heartbeat_seconds)
    found = await presence.site_presence(
        session=session, caller=caller, site_id=site_id, now=now, stale_after=stale_after
    )
    return PresenceOut(
        at=now,
        stale_after_s=stale_after.total_seconds(),
        sites=[
            SitePresence(
                site_id=site.site_id,
                name=site.name,
                reachable=len(site.reachable),
                unreachable=len(site.unreachable),
                devices=[
                    *(DevicePresence(**device, reachable=True) for device in site.reachable),
                    *(DevicePresence(**device, reachable=False) for device in site.unreachable),
                ],
            )
            for site in found
        ],
    )
