"""The organization (tenant) and its settings: name, language and alert text overrides.

Any person of the organization may read it; changing it needs MANAGE_SETTINGS. Creating an
organization with its first admin is the operator's (`pdv-alert init`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import Role
from server.core.permissions import Action
from server.errors import ServiceError
from server.services.access import authorize
from server.storage import organizations, persons
from server.storage.callers import Caller
from server.storage.tables import Organization, Person


async def find_by_slug(*, session: AsyncSession, slug: str) -> Organization:
    """The organization with that slug (any case, surrounding space ignored), for the
    operator's commands; `organization.not_found`."""
    org = await organizations.get_by_slug(session, slug=slug.strip().lower())
    if org is None:
        raise ServiceError("organization.not_found", slug)
    return org


async def get_organization(*, session: AsyncSession, caller: Caller) -> Organization:
    """The caller's organization."""
    return await organizations.get_organization(session, organization_id=caller.organization_id)


async def update_organization(
    *,
    session: AsyncSession,
    caller: Caller,
    name: str | None = None,
    language: str | None = None,
    templates: Any = None,
    now: datetime,
) -> Organization:
    """Change the name, language or alert text overrides (None: unchanged); `templates`
    replaces the override document (`settings.invalid_templates` when it is not valid)."""
    authorize(caller, Action.MANAGE_SETTINGS)
    if name is None and language is None and templates is None:
        raise ServiceError("request.invalid", "nothing to change")
    org = await organizations.update_organization(
        session,
        organization_id=caller.organization_id,
        name=name,
        language=language,
        templates=templates,
        actor=caller.ref,
        now=now,
    )
    await session.commit()
    return org


async def create_with_admin(
    *,
    session: AsyncSession,
    operator: str,
    name: str,
    slug: str | None,
    admin_email: str,
    admin_name: str,
    admin_password: str,
    now: datetime,
) -> tuple[Organization, Person]:
    """A new organization and its first, organization-wide admin, in one commit; the
    operator is audited as `operator` (e.g. `cli:root`)."""
    if await persons.get_by_email(session, email=admin_email) is not None:
        raise ServiceError("person.email_taken", admin_email)
    org = await organizations.create_organization(
        session, name=name, slug=slug, actor=operator, now=now
    )
    admin = await persons.create_person(
        session,
        organization_id=org.id,
        email=admin_email,
        name=admin_name,
        password=admin_password,
        roles=[(Role.ADMIN, None)],
        actor=operator,
        now=now,
    )
    await session.commit()
    return org, admin


async def rotate_epochs(
    *, session: AsyncSession, operator: str, slug: str | None, now: datetime
) -> list[tuple[Organization, str]]:
    """The operator's step after restoring a backup (`pdv-alert epoch rotate`): every
    organization (or the one with `slug`) gets a new epoch, in one commit, so every client
    that resumes with the old one gets `recovered: false` and a full snapshot instead of
    trusting seqs that the restore rewound. (organization, old epoch) for each."""
    if slug is None:
        chosen = list(await organizations.list_organizations(session))
    else:
        chosen = [await find_by_slug(session=session, slug=slug)]
    rotated = []
    for org in chosen:
        old, _new = await organizations.rotate_epoch(
            session, organization_id=org.id, actor=operator, now=now
        )
        rotated.append((org, old))
    await session.commit()
    return rotated
