"""Persons (staff members), their roles and their passwords.

E-mail addresses are stored lower-cased and are unique across the whole service (they are the
login name). Passwords are hashed with argon2id in a worker thread so a login burst never
stalls the event loop that fans alerts out. The audit log (append-only, never erased) gets
which fields changed and the roles, not personal details such as phone numbers.

A repository: functions flush and audit in the caller's transaction; they never commit and
never check permissions (server/services/persons.py does both).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, any_, bindparam, delete, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import Role
from server.credentials import hash_password, verify_password
from server.errors import ServiceError
from server.storage import audit, login_sessions
from server.storage.organizations import clean_language, clean_name
from server.storage.sites import existing_site_ids
from server.storage.tables import Credential, Organization, Person, RoleAssignment

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
MAX_EMAIL = 320
MAX_PHONE = 40
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")
_PHONE = re.compile(r"^[0-9+()\-. ]*$")

RoleList = list[tuple[Role, int | None]]


def normalize_email(email: str) -> str:
    """The address lower-cased and stripped; ValueError when it is not a plausible address."""
    address = email.strip().lower() if isinstance(email, str) else ""
    if len(address) > MAX_EMAIL or not _EMAIL.match(address):
        raise ValueError("not a valid e-mail address")
    return address


def check_password(password: str) -> str:
    """`person.weak_password` under 10 characters; `request.invalid` when absurdly long."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ServiceError("person.weak_password")
    if len(password) > MAX_PASSWORD:
        raise ServiceError("request.invalid", f"password: at most {MAX_PASSWORD} characters")
    return password


def clean_email(email: str) -> str:
    """The address normalized; `request.invalid` when it is not a plausible address."""
    try:
        return normalize_email(email)
    except ValueError:
        raise ServiceError("request.invalid", "email: not a valid e-mail address") from None


def _clean_phone(phone: str) -> str:
    text = phone.strip() if isinstance(phone, str) else ""
    if len(text) > MAX_PHONE or not _PHONE.match(text):
        raise ServiceError(
            "request.invalid", "phone: digits, spaces, + - ( ) only, at most 40 characters"
        )
    return text


def clean_role(role: Role | str) -> Role:
    """The role as an enum; `request.invalid` for an unknown one."""
    try:
        return Role(role)
    except ValueError:
        raise ServiceError("request.invalid", f"roles: unknown role {role!r}") from None


async def _clean_roles(
    session: AsyncSession, *, organization_id: int, roles: Iterable[tuple[Role | str, int | None]]
) -> RoleList:
    """Roles as enums without duplicates; every site must be the organization's."""
    cleaned: RoleList = []
    for role, site_id in roles:
        pair = (clean_role(role), site_id)
        if pair not in cleaned:
            cleaned.append(pair)
    await _check_sites(
        session, organization_id=organization_id, site_ids={site for _, site in cleaned}
    )
    return cleaned


async def _check_sites(
    session: AsyncSession, *, organization_id: int, site_ids: Iterable[int | None]
) -> None:
    """`site.not_found` unless every site (None: organization-wide) is the organization's."""
    wanted = {site for site in site_ids if site is not None}
    found = await existing_site_ids(session, organization_id=organization_id, site_ids=wanted)
    if wanted - found:
        raise ServiceError("site.not_found", ", ".join(str(s) for s in sorted(wanted - found)))


def _roles_detail(roles: RoleList) -> list[dict[str, Any]]:
    return [{"role": role.value, "site_id": site} for role, site in roles]


async def hash_password_async(password: str) -> str:
    """argon2id off the event loop."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    """Checks a dummy hash when `password_hash` is None, so timing does not tell."""
    return await asyncio.to_thread(verify_password, password_hash, password)


async def create_person(
    session: AsyncSession,
    *,
    organization_id: int,
    email: str,
    name: str,
    password: str | None,
    roles: Sequence[tuple[Role, int | None]],
    language: str = "sv",
    phone: str = "",
    actor: str,
    now: datetime,
) -> Person:
    """A new active person. Without a password the person cannot log in until one is set.
    Errors: `request.invalid`, `person.email_taken`, `person.weak_password`, `site.not_found`."""
    email = clean_email(email)
    name = clean_name(name)
    language = clean_language(language)
    phone = _clean_phone(phone)
    if password is not None:
        check_password(password)
    cleaned = await _clean_roles(session, organization_id=organization_id, roles=roles)
    if await get_by_email(session, email=email) is not None:
        raise ServiceError("person.email_taken")
    person = Person(
        organization_id=organization_id,
        email=email,
        name=name,
        phone=phone,
        language=language,
        active=True,
        created_at=now,
    )
    session.add(person)
    try:
        await session.flush()
    except IntegrityError:  # the same address registered concurrently
        raise ServiceError("person.email_taken") from None
    _add_roles(session, organization_id=organization_id, person_id=person.id, roles=cleaned)
    if password is not None:
        session.add(
            Credential(
                person_id=person.id,
                password_hash=await hash_password_async(password),
                updated_at=now,
            )
        )
    await session.flush()
    await audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="person.created",
        at=now,
        target=f"person:{person.id}",
        details={"roles": _roles_detail(cleaned), "password": password is not None},
    )
    return person


@dataclass(frozen=True)
class NewPerson:
    """A person to create without a password (the CSV import)."""

    email: str
    name: str
    language: str
    roles: Sequence[tuple[Role, int | None]]


async def create_many(
    session: AsyncSession,
    *,
    organization_id: int,
    people: Sequence[NewPerson],
    now: datetime,
) -> list[Person]:
    """Many new active persons without passwords, in a few statements (a CSV import of
    thousands of people would take minutes one by one). The values are checked exactly as
    `create_person` checks them; addresses must be free (the caller looked them up:
    `person.email_taken` if one was taken meanwhile). No audit entry per person: the caller
    records one for all."""
    rows = [
        Person(
            organization_id=organization_id,
            email=clean_email(person.email),
            name=clean_name(person.name),
            phone="",
            language=clean_language(person.language),
            active=True,
            created_at=now,
        )
        for person in people
    ]
    await _check_sites(
        session,
        organization_id=organization_id,
        site_ids={site for person in people for _, site in person.roles},
    )
    session.add_all(rows)
    try:
        await session.flush()
    except IntegrityError:  # an address registered concurrently
        raise ServiceError("person.email_taken") from None
    for row, person in zip(rows, people, strict=True):
        roles = dict.fromkeys((clean_role(r), s) for r, s in person.roles)
        _add_roles(session, organization_id=organization_id, person_id=row.id, roles=roles)
    await session.flush()
    return rows


async def get_person(session: AsyncSession, *, organization_id: int, person_id: int) -> Person:
    """The organization's person, or `person.not_found`."""
    person = await session.scalar(
        select(Person).where(Person.id == person_id, Person.organization_id == organization_id)
    )
    if person is None:
        raise ServiceError("person.not_found")
    return person


async def list_persons(
    session: AsyncSession,
    *,
    organization_id: int,
    site_id: int | None = None,
    role: Role | None = None,
    active: bool | None = None,
) -> Sequence[Person]:
    """The organization's persons by name. `site_id`: holding a role at that site (roles held
    organization-wide do not count); `role`: holding that role (at `site_id` if given)."""
    query = select(Person).where(Person.organization_id == organization_id)
    if site_id is not None or role is not None:
        holders = select(RoleAssignment.person_id).where(
            RoleAssignment.organization_id == organization_id
        )
        if site_id is not None:
            holders = holders.where(RoleAssignment.site_id == site_id)
        if role is not None:
            holders = holders.where(RoleAssignment.role == Role(role).value)
        query = query.where(Person.id.in_(holders))
    if active is not None:
        query = query.where(Person.active.is_(active))
    return (await session.scalars(query.order_by(Person.name, Person.id))).all()


async def by_emails(session: AsyncSession, *, emails: Iterable[str]) -> dict[str, Person]:
    """The persons (of any organization: addresses are unique service-wide) with these
    normalized addresses, by address. On PostgreSQL one array parameter (`= ANY`): with
    hundreds of `IN` parameters each query took most of a second there."""
    wanted = sorted(set(emails))
    found: dict[str, Person] = {}
    if session.get_bind().dialect.name == "postgresql":
        addresses = bindparam("addresses", wanted, type_=postgresql.ARRAY(String))
        rows = await session.scalars(select(Person).where(Person.email == any_(addresses)))
        return {person.email: person for person in rows}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = await session.scalars(select(Person).where(Person.email.in_(chunk)))
        found.update((person.email, person) for person in rows)
    return found


async def get_by_email(session: AsyncSession, *, email: str) -> Person | None:
    """The person with that address (any case), in any organization."""
    return await session.scalar(select(Person).where(Person.email == email.strip().lower()))


async def roles_of(session: AsyncSession, *, person_id: int) -> RoleList:
    """The person's roles as (role, site id or None for organization-wide)."""
    rows = await session.execute(
        select(RoleAssignment.role, RoleAssignment.site_id)
        .where(RoleAssignment.person_id == person_id)
        .order_by(RoleAssignment.id)
    )
    return [(Role(role), site_id) for role, site_id in rows.all()]


async def roles_by_person(
    session: AsyncSession, *, organization_id: int, person_ids: Iterable[int]
) -> dict[int, RoleList]:
    """Person id → roles, for many persons in one query."""
    ids = set(person_ids)
    roles: dict[int, RoleList] = {person_id: [] for person_id in ids}
    if not ids:
        return roles
    rows = await session.execute(
        select(RoleAssignment.person_id, RoleAssignment.role, RoleAssignment.site_id)
        .where(
            RoleAssignment.organization_id == organization_id,
            RoleAssignment.person_id.in_(ids),
        )
        .order_by(RoleAssignment.id)
    )
    for person_id, role, site_id in rows.all():
        roles[person_id].append((Role(role), site_id))
    return roles


async def password_hash_of(session: AsyncSession, *, person_id: int) -> str | None:
    credential = await session.get(Credential, person_id)
    return credential.password_hash if credential else None


async def check_credentials(
    session: AsyncSession, *, email: str, password: str
) -> tuple[Person | None, bool]:
    """(the account with that address or None, whether the login succeeds). It succeeds only
    for an active person with a matching password; a hash is verified in every case."""
    person = await get_by_email(session, email=email)
    stored = await password_hash_of(session, person_id=person.id) if person else None
    matches = await verify_password_async(stored, password)
    return person, bool(person is not None and person.active and matches)


async def _active_org_admins(session: AsyncSession, *, organization_id: int) -> set[int]:
    rows = await session.scalars(
        select(RoleAssignment.person_id)
        .join(Person, Person.id == RoleAssignment.person_id)
        .where(
            RoleAssignment.organization_id == organization_id,
            RoleAssignment.site_id.is_(None),
            RoleAssignment.role == Role.ADMIN.value,
            Person.active.is_(True),
        )
    )
    return set(rows.all())


async def update_person(
    session: AsyncSession,
    *,
    organization_id: int,
    person_id: int,
    name: str | None = None,
    phone: str | None = None,
    language: str | None = None,
    active: bool | None = None,
    roles: Sequence[tuple[Role, int | None]] | None = None,
    password: str | None = None,
    actor: str,
    now: datetime,
    keep_session: str | None = None,
) -> Person:
    """Change the given fields (None: unchanged); `roles` replaces every role.

    Deactivating closes all the person's login sessions; a new password closes them all but
    `keep_session` (the hash of the session making the change, if it is the person's own).
    `person.last_admin` when the organization would lose its last active org-wide admin.
    Everything is checked before anything changes.
    """
    person = await get_person(session, organization_id=organization_id, person_id=person_id)
    wanted: dict[str, Any] = {
        "name": clean_name(name) if name is not None else None,
        "phone": _clean_phone(phone) if phone is not None else None,
        "language": clean_language(language) if language is not None else None,
        "active": active,
    }
    if password is not None:
        check_password(password)
    new_roles = (
        await _clean_roles(session, organization_id=organization_id, roles=roles)
        if roles is not None
        else None
    )
    if active is not None or new_roles is not None:
        await _keep_an_admin(
            session, organization_id=organization_id, person=person, active=active, roles=new_roles
        )
    fields = [f for f, value in wanted.items() if value is not None and value != getattr(person, f)]
    changes: dict[str, Any] = {f: wanted[f] for f in fields if f in _AUDITED_VALUES}
    for field in fields:
        setattr(person, field, wanted[field])
    if new_roles is not None:
        await _replace_roles(
            session, organization_id=organization_id, person_id=person_id, roles=new_roles
        )
        changes["roles"] = _roles_detail(new_roles)
        fields.append("roles")
    if password is not None:
        await set_password(session, person_id=person_id, password=password, now=now)
        fields.append("password")
    await session.flush()
    closed = await _close_sessions(
        session, person_id=person_id, active=active, password=password, keep_session=keep_session
    )
    if closed:
        changes["sessions_closed"] = closed
    await audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="person.updated",
        at=now,
        target=f"person:{person_id}",
        details={"fields": fields, **changes},
    )
    return person


_AUDITED_VALUES = frozenset({"language", "active"})  # name and phone are personal details


async def _keep_an_admin(
    session: AsyncSession,
    *,
    organization_id: int,
    person: Person,
    active: bool | None,
    roles: RoleList | None,
) -> None:
    """`person.last_admin` when the change would leave the organization, which has an active
    org-wide admin, without one. Locks the organization row: two admins can't demote each
    other at once."""
    await session.execute(
        select(Organization.id).where(Organization.id == organization_id).with_for_update()
    )
    before = await _active_org_admins(session, organization_id=organization_id)
    current_roles = roles if roles is not None else await roles_of(session, person_id=person.id)
    still_active = person.active if active is None else active
    admin_after = still_active and (Role.ADMIN, None) in current_roles
    after = (before - {person.id}) | ({person.id} if admin_after else set())
    if before and not after:
        raise ServiceError("person.last_admin")


async def _replace_roles(
    session: AsyncSession, *, organization_id: int, person_id: int, roles: RoleList
) -> None:
    await session.execute(delete(RoleAssignment).where(RoleAssignment.person_id == person_id))
    _add_roles(session, organization_id=organization_id, person_id=person_id, roles=roles)


def _add_roles(
    session: AsyncSession,
    *,
    organization_id: int,
    person_id: int,
    roles: Iterable[tuple[Role, int | None]],
) -> None:
    """Give the person these (already checked) roles, in order."""
    for role, site_id in roles:
        session.add(
            RoleAssignment(
                organization_id=organization_id,
                person_id=person_id,
                site_id=site_id,
                role=role.value,
            )
        )


async def _close_sessions(
    session: AsyncSession,
    *,
    person_id: int,
    active: bool | None,
    password: str | None,
    keep_session: str | None,
) -> int:
    """Deactivating ends every session; a new password all but `keep_session`."""
    if active is False:
        return await login_sessions.close_all_for_person(session, person_id=person_id)
    if password is not None:
        return await login_sessions.close_all_for_person(
            session, person_id=person_id, except_hash=keep_session
        )
    return 0


async def set_password(
    session: AsyncSession, *, person_id: int, password: str, now: datetime
) -> None:
    """Store a new password hash (checks strength; no audit: callers record the change)."""
    check_password(password)
    digest = await hash_password_async(password)
    credential = await session.get(Credential, person_id)
    if credential is None:
        session.add(Credential(person_id=person_id, password_hash=digest, updated_at=now))
    else:
        credential.password_hash = digest
        credential.updated_at = now
    await session.flush()
