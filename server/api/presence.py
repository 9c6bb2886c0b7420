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
from server.api.devices import allowed_sites
from server.clock import utcnow
from server.core.permissions import Action
from server.storage import presence

router = APIRouter(tags=["presence"])

VIEW_PRESENCE = (Action.VIEW_ROLLCALL, Action.MANAGE_DEVICES)


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
    names = await presence.site_names(session, organization_id=caller.organization_id)
    allowed = allowed_sites(caller, VIEW_PRESENCE, all_site_ids=names, site_id=site_id)
    now = utcnow()
    stale_after = presence.stale_after(settings.heartbeat_seconds)
    found = await presence.site_presence(
        session,
        organization_id=caller.organization_id,
        site_ids=sorted(allowed),
        now=now,
        stale_after=stale_after,
    )
    return PresenceOut(
        at=now,
        stale_after_s=stale_after.total_seconds(),
        sites=[
            SitePresence(
                site_id=site,
                name=names[site],
                reachable=len(split["reachable"]),
                unreachable=len(split["unreachable"]),
                devices=[
                    DevicePresence(**device, reachable=reachable)
                    for reachable, bucket in ((True, "reachable"), (False, "unreachable"))
                    for device in split[bucket]
                ],
            )
            for site, split in sorted(found.items())
        ],
    )
