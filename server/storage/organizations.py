"""Organizations (tenants): creation, look-up and their settings (name, language, templates).

A repository: functions flush and audit in the caller's transaction; they never commit and
never check permissions (server/services/organization.py does both).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import Language
from server.core.templates import validate_overrides
from server.errors import ServiceError
from server.storage import audit
from server.storage.tables import Organization

MAX_NAME = 200
MAX_SLUG = 100
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def slugify(name: str) -> str:
    """`Köpings kommun` → `kopings-kommun`: ASCII letters and digits joined by dashes."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:MAX_SLUG].strip("-")


def clean_name(name: str, *, field: str = "name", max_length: int = MAX_NAME) -> str:
    """A name stripped of surrounding whitespace; blank or too long is `request.invalid`."""
    text = name.strip() if isinstance(name, str) else ""
    if not text:
        raise ServiceError("request.invalid", f"{field}: must not be blank")
    if len(text) > max_length:
        raise ServiceError("request.invalid", f"{field}: at most {max_length} characters")
    return text


def clean_language(language: str) -> str:
    """`sv` or `en`, else `request.invalid`."""
    try:
        return Language(language).value
    except ValueError:
        raise ServiceError("request.invalid", "language: must be 'sv' or 'en'") from None


async def create_organization(
    session: AsyncSession,
    *,
    name: str,
    slug: str | None = None,
    language: str = "sv",
    actor: str,
    now: datetime,
) -> Organization:
    """A new organization with a random epoch; `organization.exists` when the slug is taken.
    Without `slug` one is made from the name."""
    name = clean_name(name)
    language = clean_language(language)
    if slug is None:
        slug = slugify(name) or f"org-{secrets.token_hex(4)}"
    slug = slug.strip().lower()
    if not slug or len(slug) > MAX_SLUG or not _SLUG.match(slug):
        raise ServiceError(
            "request.invalid", "slug: lower-case letters, digits and single dashes (at most 100)"
        )
    if await get_by_slug(session, slug=slug) is not None:
        raise ServiceError("organization.exists", slug)
    org = Organization(
        name=name,
        slug=slug,
        epoch=secrets.token_hex(8),
        last_seq=0,
        audit_seq=0,
        audit_head="0" * 64,
        language=language,
        templates={},
        created_at=now,
    )
    session.add(org)
    try:
        await session.flush()
    except IntegrityError:  # created by someone else since the check above
        raise ServiceError("organization.exists", slug) from None
    await audit.record(
        session,
        organization_id=org.id,
        actor=actor,
        action="organization.created",
        at=now,
        target=f"organization:{org.id}",
        details={"name": name, "slug": slug, "language": language},
    )
    return org


async def get_by_slug(session: AsyncSession, *, slug: str) -> Organization | None:
    return await session.scalar(select(Organization).where(Organization.slug == slug))


async def get_organization(session: AsyncSession, *, organization_id: int) -> Organization:
    """The organization, or `organization.not_found`."""
    org = await session.get(Organization, organization_id)
    if org is None:
        raise ServiceError("organization.not_found")
    return org


async def list_organizations(session: AsyncSession) -> Sequence[Organization]:
    """Every organization, oldest first."""
    return (await session.scalars(select(Organization).order_by(Organization.id))).all()


async def update_organization(
    session: AsyncSession,
    *,
    organization_id: int,
    name: str | None = None,
    language: str | None = None,
    templates: Mapping[str, Any] | None = None,
    actor: str,
    now: datetime,
) -> Organization:
    """Change the given settings (None: unchanged). `templates` replaces the whole override
    document and must pass `validate_overrides` (else `settings.invalid_templates`)."""
    org = await get_organization(session, organization_id=organization_id)
    changes: dict[str, Any] = {}
    if name is not None:
        org.name = changes["name"] = clean_name(name)
    if language is not None:
        org.language = changes["language"] = clean_language(language)
    if templates is not None:
        try:
            normalized = validate_overrides(templates)
        except ValueError as exc:
            raise ServiceError("settings.invalid_templates", str(exc)) from None
        org.templates = changes["templates"] = normalized
    await session.flush()
    await audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="organization.updated",
        at=now,
        target=f"organization:{organization_id}",
        details=changes,
    )
    return org


async def rotate_epoch(
    session: AsyncSession, *, organization_id: int, actor: str, now: datetime
) -> tuple[str, str]:
    """Give the organization's event stream a new random epoch (after a restore rewound its
    seq), audited as `organization.epoch_rotated`; (old, new). The caller commits."""
    org = await get_organization(session, organization_id=organization_id)
    old, org.epoch = org.epoch, secrets.token_hex(8)
    await session.flush()
    await audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="organization.epoch_rotated",
        at=now,
        target=f"organization:{organization_id}",
        details={"old_epoch": old, "new_epoch": org.epoch, "seq": int(org.last_seq)},
    )
    return old, org.epoch
