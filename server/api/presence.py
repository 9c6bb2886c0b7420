"""Device presence: which devices of a site are reachable right now.

    GET /presence?site_id=   VIEW_ROLLCALL or MANAGE_DEVICES on the sites
        → {"at", "stale_after_s",
           "sites": [{"site_id", "name", "reachable": n, "unreachable": n,
                      "push": {"queued", "sent", "delivered", "receipted", "failed"},
                      "devices": [{"id", "name", "kind", "zone_id", "person_id",
                                   "last_seen_at", "reachable", "connected",
                                   "push": {"type", "state", "reason", "alert_id",
                                            "seq", "attempts", "at"} | null}]}]}

Without `site_id`: every site where the caller may look, by id; devices reachable first,
then by name. A device is reachable when it is not revoked and either some node saw it
connected within 2.5 heartbeats (`connected`), or it has a push registration and its latest
push got through (server/core/delivery.py). Errors: `site.not_found` (unknown or another
organization's site), `auth.forbidden` (no such right on the site, or on any site).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from protocol.codec import to_dict
from protocol.vocabulary import PushState
from server.api.base import QueryId
from server.api.deps import CurrentCaller, SessionDep, SettingsDep
from server.clock import utcnow
from server.services import presence
from server.storage.presence import stale_after as stale_after_of

router = APIRouter(tags=["presence"])


class DevicePush(BaseModel):
    """A device's push registration and its latest push, of any alert."""

    type: str | None = Field(description="webpush | apns; null: no registration (any more)")
    state: PushState | None = Field(description="the latest push's state; null: never pushed")
    reason: str | None = Field(description="the provider's latest answer, or why it failed")
    alert_id: int | None
    seq: int | None
    attempts: int
    at: datetime | None = Field(description="the latest push's last attempt, else its queuing")


class PushStateCounts(BaseModel):
    """How many devices' latest push stands at each state."""

    queued: int
    sent: int
    delivered: int
    receipted: int
    failed: int


class DevicePresence(BaseModel):
    id: int
    name: str
    kind: str
    zone_id: int | None
    person_id: int | None
    last_seen_at: datetime | None
    reachable: bool
    connected: bool = Field(description="a live connection now")
    push: DevicePush | None


class SitePresence(BaseModel):
    site_id: int
    name: str
    reachable: int
    unreachable: int
    push: PushStateCounts
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
                push=PushStateCounts(**to_dict(site.push)),
                devices=[
                    *(DevicePresence(**device, reachable=True) for device in site.reachable),
                    *(DevicePresence(**device, reachable=False) for device in site.unreachable),
                ],
            )
            for site in found
        ],
    )
