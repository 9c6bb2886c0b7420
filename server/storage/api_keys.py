"""API keys of integrations (panic buttons): one site, one alert kind, trigger only.

The key is a `pdvk_` bearer token shown once; the table keeps its SHA-256 hash and a short
prefix so an admin can recognize it in lists. A repository: functions audit but never commit
and never check permissions (server/services/api_keys.py does both).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import Kind
from server.credentials import API_KEY_PREFIX, new_token, token_hash
from server.errors import ServiceError
from server.storage import audit
from server.storage.devices import check_name, person_id_of, revoke_row
from server.storage.sites import get_site
from server.storage.tables import ApiKey

PREFIX_LENGTH = 12  # "pdvk_" and 7 random characters
KEY_KINDS = frozenset({Kind.PDV_LOCKDOWN, Kind.EVACUATE, Kind.SECURE})  # no custom text


async def create_api_key(
    session: AsyncSession,
    *,
    organization_id: int,
    site_id: int,
    name: str,
    kind: Kind = Kind.PDV_LOCKDOWN,
    actor: str,
    now: datetime,
) -> tuple[ApiKey, str]:
    """A new key for a site; returns the row and the plaintext key (never stored)."""
    await get_site(session, organization_id=organization_id, site_id=site_id)
    name = check_name(name)
    try:
        kind = Kind(kind)
    except ValueError:
        raise ServiceError("request.invalid", f"unknown alert kind {kind!r}") from None
    if kind not in KEY_KINDS:
        raise ServiceError("request.invalid", "a key triggers pdv_lockdown, evacuate or secure")
    key = new_token(API_KEY_PREFIX)
    row = ApiKey(
        organization_id=organization_id,
        site_id=site_id,
        name=name,
        prefix=key[:PREFIX_LENGTH],
        key_hash=token_hash(key),
        kind=kind.value,
        created_by=person_id_of(actor),
        created_at=now,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="api_key.created",
        at=now,
        target=f"api_key:{row.id}",
        details={"site_id": site_id, "name": name, "kind": kind.value, "prefix": row.prefix},
    )
    return row, key


async def list_api_keys(
    session: AsyncSession,
    *,
    organization_id: int,
    site_ids: Collection[int] | None = None,
    include_revoked: bool = True,
) -> Sequence[ApiKey]:
    """The organization's keys, oldest first; `site_ids` None means every site."""
    query = select(ApiKey).where(ApiKey.organization_id == organization_id)
    if site_ids is not None:
        query = query.where(ApiKey.site_id.in_(list(site_ids)))
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    result = await session.scalars(query.order_by(ApiKey.id))
    return result.all()


async def get_api_key(session: AsyncSession, *, organization_id: int, api_key_id: int) -> ApiKey:
    """The organization's key, or `api_key.not_found` (also for another organization's)."""
    row = await session.scalar(
        select(ApiKey).where(ApiKey.id == api_key_id, ApiKey.organization_id == organization_id)
    )
    if row is None:
        raise ServiceError("api_key.not_found", f"api key {api_key_id}")
    return row


async def revoke_api_key(
    session: AsyncSession, *, organization_id: int, api_key_id: int, actor: str, now: datetime
) -> ApiKey:
    """Revoke a key: it stops working at once. `api_key.revoked` if it already is."""
    row = await get_api_key(session, organization_id=organization_id, api_key_id=api_key_id)
    await revoke_row(
        session,
        row,
        noun="api_key",
        organization_id=organization_id,
        actor=actor,
        now=now,
        details={"site_id": row.site_id, "name": row.name, "prefix": row.prefix},
    )
    return row
