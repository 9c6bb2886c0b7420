"""Rows for tests, written straight to the tables (the code under test writes its own)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from protocol.vocabulary import DeviceKind, Role
from server.clock import utcnow
from server.credentials import (
    API_KEY_PREFIX,
    DEVICE_PREFIX,
    SESSION_PREFIX,
    hash_password,
    new_token,
    token_hash,
)
from server.storage.database import Database
from server.storage.tables import (
    ApiKey,
    Device,
    LoginSession,
    Organization,
    Person,
    PushDelivery,
    PushRegistration,
    RoleAssignment,
    Site,
)

PASSWORD = "correct horse battery"
_PASSWORD_HASH = hash_password(PASSWORD)  # argon2 is slow on purpose: hash once


@dataclass
class World:
    """One organization with sites; `tokens` maps a name to a bearer token."""

    database: Database
    organization_id: int
    sites: dict[str, int] = field(default_factory=dict)
    persons: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    devices: dict[str, int] = field(default_factory=dict)


async def organization(
    database: Database, *, name: str = "Köpings kommun", sites: tuple[str, ...] = ("A", "B")
) -> World:
    now = utcnow()
    async with database.session() as session:
        org = Organization(
            name=name,
            slug=f"{name.lower().replace(' ', '-')}-{secrets.token_hex(3)}",
            epoch=secrets.token_hex(8),
            last_seq=0,
            audit_seq=0,
            audit_head="0" * 64,
            language="sv",
            templates={},
            created_at=now,
        )
        session.add(org)
        await session.flush()
        world = World(database=database, organization_id=org.id)
        for site_name in sites:
            site = Site(
                organization_id=org.id,
                name=site_name,
                address="",
                staff_may_trigger=True,
                created_at=now,
            )
            session.add(site)
            await session.flush()
            world.sites[site_name] = site.id
        await session.commit()
    return world


async def person(
    world: World,
    key: str,
    *,
    roles: tuple[tuple[Role, str | None], ...] = (),
    email: str | None = None,
    active: bool = True,
    login: bool = True,
) -> int:
    """A person with roles (site name or None for organization-wide) and the shared test
    password; with `login` a session token is stored in `world.tokens[key]`."""
    from server.storage.tables import Credential

    now = utcnow()
    async with world.database.session() as session:
        row = Person(
            organization_id=world.organization_id,
            email=email or f"{key}-{secrets.token_hex(3)}@example.se",
            name=key.title(),
            phone="",
            language="sv",
            active=active,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        session.add(Credential(person_id=row.id, password_hash=_PASSWORD_HASH, updated_at=now))
        for role, site in roles:
            session.add(
                RoleAssignment(
                    organization_id=world.organization_id,
                    person_id=row.id,
                    site_id=world.sites[site] if site else None,
                    role=role.value,
                )
            )
        if login:
            token = new_token(SESSION_PREFIX)
            session.add(
                LoginSession(
                    token_hash=token_hash(token),
                    organization_id=world.organization_id,
                    person_id=row.id,
                    created_at=now,
                    expires_at=now + timedelta(hours=1),
                    last_seen_at=now,
                )
            )
            world.tokens[key] = token
        await session.commit()
        world.persons[key] = row.id
        return row.id


async def device(
    world: World,
    key: str,
    *,
    site: str,
    kind: DeviceKind = DeviceKind.DESKTOP,
    person_key: str | None = None,
) -> int:
    now = utcnow()
    token = new_token(DEVICE_PREFIX)
    async with world.database.session() as session:
        row = Device(
            organization_id=world.organization_id,
            site_id=world.sites[site],
            person_id=world.persons[person_key] if person_key else None,
            kind=kind.value,
            name=key,
            token_hash=token_hash(token),
            created_at=now,
            client_version="",
        )
        session.add(row)
        await session.commit()
        world.tokens[key] = token
        world.devices[key] = row.id
        return row.id


async def api_key(world: World, key: str, *, site: str) -> int:
    now = utcnow()
    token = new_token(API_KEY_PREFIX)
    async with world.database.session() as session:
        row = ApiKey(
            organization_id=world.organization_id,
            site_id=world.sites[site],
            name=key,
            prefix=token[:12],
            key_hash=token_hash(token),
            kind="pdv_lockdown",
            created_at=now,
        )
        session.add(row)
        await session.commit()
        world.tokens[key] = token
        return row.id


async def push_registration(world: World, device_key: str, *, type: str = "webpush") -> None:
    """A push registration for the device (made-up keys: nothing is sent in these tests)."""
    async with world.database.session() as session:
        session.add(
            PushRegistration(
                device_id=world.devices[device_key],
                organization_id=world.organization_id,
                type=type,
                endpoint="https://fcm.googleapis.com/fcm/send/test" if type == "webpush" else "",
                p256dh="B" * 87 if type == "webpush" else "",
                auth="A" * 22 if type == "webpush" else "",
                token="ab" * 32 if type == "apns" else "",
                environment="sandbox" if type == "apns" else "",
                since=utcnow(),
            )
        )
        await session.commit()


async def push_delivery(
    world: World,
    device_key: str,
    *,
    alert_id: int,
    seq: int,
    state: str,
    last_result: str = "",
    attempts: int = 1,
) -> None:
    """A row of the push outbox as the dispatcher would leave it — written over the row the
    running dispatcher may have made for the same event meanwhile (it is then no longer due,
    so the dispatcher leaves it as written)."""
    now = utcnow()
    row = {
        "organization_id": world.organization_id,
        "alert_id": alert_id,
        "device_id": world.devices[device_key],
        "seq": seq,
        "state": state,
        "attempts": attempts,
        "next_attempt_at": now if state in ("queued", "sent") else None,
        "last_attempt_at": now if attempts else None,
        "last_result": last_result,
        "created_at": now,
    }
    insert = postgresql_insert if world.database.dialect == "postgresql" else sqlite_insert
    statement = insert(PushDelivery).values(**row)
    statement = statement.on_conflict_do_update(
        index_elements=["device_id", "seq"],
        set_={k: statement.excluded[k] for k in row if k not in ("device_id", "seq")},
    )
    async with world.database.session() as session:
        await session.execute(statement)
        await session.commit()


def bearer(world: World, key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[key]}"}
