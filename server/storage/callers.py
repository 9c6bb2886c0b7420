"""Who is calling: turns a session cookie, device token or API key into a `Caller`."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import Role
from server.core.permissions import Actor, ActorKind
from server.credentials import API_KEY_PREFIX, DEVICE_PREFIX, SESSION_PREFIX, token_hash
from server.storage.tables import ApiKey, Device, LoginSession, Person, RoleAssignment


@dataclass(frozen=True)
class Caller:
    """The authenticated party of a request: exactly one of person, device or api_key."""

    actor: Actor
    person: Person | None = None
    device: Device | None = None
    api_key: ApiKey | None = None
    session_hash: str | None = None
    session_expires_at: datetime | None = None  # when the login session ends (persons)

    @property
    def organization_id(self) -> int:
        return self.actor.organization_id

    @property
    def ref(self) -> str:
        """How the audit log and events name this caller, e.g. `person:12`."""
        return f"{self.actor.kind.value}:{self.actor.id}"


async def person_actor(session: AsyncSession, *, person: Person) -> Actor:
    rows = (
        await session.execute(
            select(RoleAssignment.site_id, RoleAssignment.role).where(
                RoleAssignment.person_id == person.id
            )
        )
    ).all()
    org_roles: set[Role] = set()
    site_roles: dict[int, set[Role]] = {}
    for site_id, role in rows:
        if site_id is None:
            org_roles.add(Role(role))
        else:
            site_roles.setdefault(site_id, set()).add(Role(role))
    return Actor(
        kind=ActorKind.PERSON,
        organization_id=person.organization_id,
        id=person.id,
        org_roles=frozenset(org_roles),
        site_roles={site: frozenset(roles) for site, roles in site_roles.items()},
    )


async def from_session_token(session: AsyncSession, *, token: str, now: datetime) -> Caller | None:
    """The person behind a live login session, or None (unknown, expired, inactive person)."""
    digest = token_hash(token)
    login = await session.get(LoginSession, digest)
    if login is None or login.expires_at <= now:
        return None
    person = await session.get(Person, login.person_id)
    if person is None or not person.active:
        return None
    return Caller(
        actor=await person_actor(session, person=person),
        person=person,
        session_hash=digest,
        session_expires_at=login.expires_at,
    )


async def session_expired(session: AsyncSession, *, token: str, now: datetime) -> bool:
    """True when the token names a login session that has expired (not an unknown one)."""
    login = await session.get(LoginSession, token_hash(token))
    return login is not None and login.expires_at <= now


def device_caller(device: Device) -> Caller:
    actor = Actor(
        kind=ActorKind.DEVICE,
        organization_id=device.organization_id,
        id=device.id,
        site_ids=frozenset({device.site_id}),
    )
    return Caller(actor=actor, device=device)


async def devices_by_token_hash(
    session: AsyncSession, *, hashes: Collection[str]
) -> dict[str, Caller]:
    """The non-revoked devices of these token hashes, as callers, by hash (one query)."""
    rows = await session.scalars(
        select(Device).where(Device.token_hash.in_(list(hashes)), Device.revoked_at.is_(None))
    )
    return {device.token_hash: device_caller(device) for device in rows}


async def from_bearer_token(session: AsyncSession, *, token: str, now: datetime) -> Caller | None:
    """The device or API key a bearer token belongs to, or None when unknown or revoked."""
    if token.startswith(SESSION_PREFIX):
        return await from_session_token(session, token=token, now=now)
    digest = token_hash(token)
    if token.startswith(DEVICE_PREFIX):
        found = await devices_by_token_hash(session, hashes=[digest])
        return found.get(digest)
    if token.startswith(API_KEY_PREFIX):
        key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
        if key is None or key.revoked_at is not None:
            return None
        key.last_used_at = now
        actor = Actor(
            kind=ActorKind.API_KEY,
            organization_id=key.organization_id,
            id=key.id,
            site_ids=frozenset({key.site_id}),
        )
        return Caller(actor=actor, api_key=key)
    return None
