"""The audit log: search it and verify its hash chain (VIEW_AUDIT, organization level)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from server.core.permissions import Action
from server.services.access import Acting, authorize
from server.services.organization import find_by_slug
from server.storage import audit, organizations
from server.storage.audit import Verification
from server.storage.tables import AuditEntry, Organization


@dataclass(frozen=True)
class AuditPage:
    """Entries newest first; `next_before_seq` continues the search, None at the end."""

    entries: Sequence[AuditEntry]
    next_before_seq: int | None


async def search(
    *,
    session: AsyncSession,
    who: Acting,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_seq: int | None = None,
    limit: int = 100,
) -> AuditPage:
    """One page of the organization's audit entries, newest first, filtered."""
    authorize(who, Action.VIEW_AUDIT)
    entries = await audit.search(
        session,
        organization_id=who.organization_id,
        action=action or None,
        actor=actor or None,
        target=target or None,
        since=since,
        until=until,
        before_seq=before_seq,
        limit=limit,
    )
    more = len(entries) == limit and int(entries[-1].seq) > 1
    return AuditPage(entries, int(entries[-1].seq) if more else None)


async def verify(*, session: AsyncSession, who: Acting) -> Verification:
    """Check every entry's keyed hash and link, and the stored chain head."""
    authorize(who, Action.VIEW_AUDIT)
    return await audit.verify(session, organization_id=who.organization_id)


async def verify_organizations(
    *, session: AsyncSession, slug: str | None = None
) -> list[tuple[Organization, Verification]]:
    """The operator's check of every organization's chain (or the one with `slug`, else
    `organization.not_found`)."""
    if slug is None:
        orgs: Sequence[Organization] = await organizations.list_organizations(session)
    else:
        orgs = [await find_by_slug(session=session, slug=slug)]
    return [(org, await audit.verify(session, organization_id=org.id)) for org in orgs]
