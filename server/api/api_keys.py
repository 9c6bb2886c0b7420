"""API keys for integrations such as panic buttons; all need MANAGE_DEVICES at the key's site.

POST /api-keys               {site_id, name, kind?} -> 201 with `key` in plaintext, once
GET  /api-keys               keys of the sites the caller manages (never the key)
POST /api-keys/{id}/revoke   -> the key, with revoked_at
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from protocol.vocabulary import Kind
from server.api.base import Body, BodyId, PathId, QueryId
from server.api.deps import CurrentCaller, SessionDep
from server.clock import utcnow
from server.services import api_keys
from server.storage.devices import NAME_MAX

router = APIRouter(tags=["api keys"])

KeyKind = Literal["pdv_lockdown", "evacuate", "secure"]


class ApiKeyCreate(Body):
    site_id: BodyId
    name: str = Field(min_length=1, max_length=NAME_MAX)
    kind: KeyKind = "pdv_lockdown"  # the alert the key triggers


class ApiKeyOut(BaseModel):
    """A key as listed: `prefix` recognizes it, the key itself is never shown again."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    site_id: int
    kind: KeyKind
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(BaseModel):
    id: int
    name: str
    site_id: int
    kind: KeyKind
    prefix: str
    key: str  # the bearer token, shown once
    created_at: datetime


@router.post("/api-keys", status_code=201)
async def create_key(
    body: ApiKeyCreate, session: SessionDep, caller: CurrentCaller
) -> ApiKeyCreated:
    """A key that may trigger `kind` at one site; store `key` in the integration now."""
    row, key = await api_keys.create_key(
        session=session,
        who=caller,
        site_id=body.site_id,
        name=body.name,
        kind=Kind(body.kind),
        now=utcnow(),
    )
    return ApiKeyCreated(
        id=row.id,
        name=row.name,
        site_id=row.site_id,
        kind=body.kind,
        prefix=row.prefix,
        key=key,
        created_at=row.created_at,
    )


@router.get("/api-keys")
async def list_keys(
    session: SessionDep, caller: CurrentCaller, site_id: QueryId = None
) -> list[ApiKeyOut]:
    """Keys (revoked ones too) of the sites where the caller manages devices."""
    rows = await api_keys.list_keys(session=session, caller=caller, site_id=site_id)
    return [ApiKeyOut.model_validate(row) for row in rows]


@router.post("/api-keys/{api_key_id}/revoke")
async def revoke_key(api_key_id: PathId, session: SessionDep, caller: CurrentCaller) -> ApiKeyOut:
    """Revoke a key: it answers `auth.invalid_token` from now on."""
    row = await api_keys.revoke_key(
        session=session, caller=caller, api_key_id=api_key_id, now=utcnow()
    )
    return ApiKeyOut.model_validate(row)
