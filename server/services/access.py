"""Who is acting in a use case, and the permission checks the services share.

A service is called by a `Caller` (a person, device or API key authenticated by the API) or
by the `Operator`: whoever runs `pdv-alert` on the server. The operator already holds the
database, so no permission check applies to them; they are audited as `cli:<OS user>`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from server.core.errors import Forbidden
from server.core.permissions import Action, can, sites_where
from server.errors import ServiceError
from server.storage import sites
from server.storage.callers import Caller


@dataclass(frozen=True)
class Operator:
    """The server's operator at the command line, acting in one organization."""

    organization_id: int
    ref: str  # how the audit log names them, e.g. `cli:root`


Acting = Caller | Operator


def allows(who: Acting, action: Action, *, site_ids: Iterable[int] = ()) -> bool:
    """Whether `who` may do `action` at all of `site_ids` (none: organization level)."""
    if isinstance(who, Operator):
        return True
    return can(who.actor, action, organization_id=who.organization_id, site_ids=site_ids)


def require_any(who: Acting, actions: Iterable[Action], *, site_ids: Iterable[int] = ()) -> None:
    """Any of `actions` at all of `site_ids`, or `auth.forbidden` naming them."""
    wanted = tuple(actions)
    sites_ = tuple(site_ids)
    if not any(allows(who, action, site_ids=sites_) for action in wanted):
        raise Forbidden(detail=" or ".join(str(action) for action in wanted))


def authorize(who: Acting, action: Action, *, site_ids: Iterable[int] = ()) -> None:
    """`action` at all of `site_ids` (none: organization level), or `auth.forbidden`."""
    require_any(who, (action,), site_ids=site_ids)


def allowed_sites(
    caller: Caller, actions: Iterable[Action], *, all_site_ids: Collection[int], site_id: int | None
) -> frozenset[int]:
    """Of `all_site_ids` (the caller's organization's sites), those where the caller may do
    any of `actions`, narrowed to `site_id` when given. Raises `site.not_found` for a site
    not among them and `auth.forbidden` when nothing is left."""
    allowed: frozenset[int] = frozenset()
    for action in actions:
        allowed |= sites_where(caller.actor, action, all_site_ids=all_site_ids)
    if site_id is not None:
        if site_id not in all_site_ids:
            raise ServiceError("site.not_found", f"site {site_id}")
        allowed &= {site_id}
    if not allowed:
        raise Forbidden(detail=" or ".join(str(action) for action in actions))
    return allowed


async def permitted_sites(
    *, session: AsyncSession, caller: Caller, actions: Iterable[Action], site_id: int | None
) -> frozenset[int]:
    """`allowed_sites` among all sites of the caller's organization."""
    all_ids = await sites.organization_site_ids(session, organization_id=caller.organization_id)
    return allowed_sites(caller, actions, all_site_ids=all_ids, site_id=site_id)
