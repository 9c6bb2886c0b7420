"""Device presence for a caller: which of the sites it may look at, and who is reachable
there now (server/storage/presence.py reads). Read-only: nothing is committed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from protocol.messages import PushCounts
from server.core.permissions import Action
from server.services.access import allowed_sites
from server.storage import presence
from server.storage.callers import Caller

VIEW_PRESENCE = (Action.VIEW_ROLLCALL, Action.MANAGE_DEVICES)


@dataclass(frozen=True)
class SiteDevices:
    """One site's non-revoked devices, reachable and not, each by name (the rows of
    `server.storage.presence.site_presence`), and its devices by the state of their latest
    push."""

    site_id: int
    name: str
    reachable: list[dict[str, Any]]
    unreachable: list[dict[str, Any]]
    push: PushCounts


async def site_presence(
    *,
    session: AsyncSession,
    caller: Caller,
    site_id: int | None,
    now: datetime,
    stale_after: timedelta,
) -> list[SiteDevices]:
    """Per site where the caller may view the roll call or manage devices (only `site_id`
    when given), by id: its devices, reachable now or not. `site.not_found` for a site not
    in the caller's organization, `auth.forbidden` when no site is left."""
    names = await presence.site_names(session, organization_id=caller.organization_id)
    allowed = allowed_sites(caller, VIEW_PRESENCE, all_site_ids=names, site_id=site_id)
    found = await presence.site_presence(
        session,
        organization_id=caller.organization_id,
        site_ids=sorted(allowed),
        now=now,
        stale_after=stale_after,
    )
    return [
        SiteDevices(
            site_id=site,
            name=names[site],
            reachable=split.reachable,
            unreachable=split.unreachable,
            push=split.push,
        )
        for site, split in sorted(found.items())
    ]
