"""API keys of integrations (panic buttons): MANAGE_DEVICES at the key's site for all of it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import Kind
from server.core.permissions import Action
from server.services.access import Acting, permitted_sites
from server.services.devices import require_manage_devices, require_managed_site
from server.storage import api_keys
from server.storage.callers import Caller
from server.storage.tables import ApiKey


async def create_key(
    *, session: AsyncSession, who: Acting, site_id: int, name: str, kind: Kind, now: datetime
) -> tuple[ApiKey, str]:
    """A key that may trigger `kind` at one site: the row and the key, shown once."""
    await require_managed_site(session=session, who=who, site_id=site_id)
    row, key = await api_keys.create_api_key(
        session,
        organization_id=who.organization_id,
        site_id=site_id,
        name=name,
        kind=kind,
        actor=who.ref,
        now=now,
    )
    await session.commit()
    return row, key


async def list_keys(
    *, session: AsyncSession, caller: Caller, site_id: int | None = None
) -> Sequence[ApiKey]:
    """Keys (revoked ones too) of the sites where the caller manages devices."""
    site_ids = await permitted_sites(
        session=session, caller=caller, actions=(Action.MANAGE_DEVICES,), site_id=site_id
    )
    return await api_keys.list_api_keys(
        session, organization_id=caller.organization_id, site_ids=site_ids
    )


async def revoke_key(
    *, session: AsyncSession, caller: Caller, api_key_id: int, now: datetime
) -> ApiKey:
    """Revoke a key: it answers `auth.invalid_token` from now on; `api_key.revoked` twice."""
    row = await api_keys.get_api_key(
        session, organization_id=caller.organization_id, api_key_id=api_key_id
    )
    require_manage_devices(caller, site_id=row.site_id)
    row = await api_keys.revoke_api_key(
        session,
        organization_id=caller.organization_id,
        api_key_id=api_key_id,
        actor=caller.ref,
        now=now,
    )
    await session.commit()
    return row
