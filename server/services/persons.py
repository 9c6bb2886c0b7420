"""People and their per-site roles (MANAGE_PEOPLE organization-wide: a site-level admin can't
hand out roles elsewhere). Persons are never deleted, only deactivated, so the audit log and
old receipts keep pointing at someone. Deactivating a person, or an admin setting someone's
password, ends their login sessions and, after the commit, the sink closes their live
connections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import Role
from server.core.permissions import Action
from server.errors import ServiceError
from server.services.access import Acting, authorize
from server.services.sink import EventSink, tell
from server.storage import login_sessions, organizations, persons, sites
from server.storage.callers import Caller
from server.storage.persons import RoleList
from server.storage.tables import Person

RolePairs = Sequence[tuple[Role, int | None]]


@dataclass(frozen=True)
class PersonView:
    """A person with their roles as (role, site id or None for organization-wide)."""

    person: Person
    roles: RoleList


def _require_manage(who: Acting) -> None:
    authorize(who, Action.MANAGE_PEOPLE)


async def _view(session: AsyncSession, person: Person) -> PersonView:
    return PersonView(person, await persons.roles_of(session, person_id=person.id))


async def list_persons(
    *,
    session: AsyncSession,
    who: Acting,
    site_id: int | None = None,
    role: Role | None = None,
    active: bool | None = None,
) -> list[PersonView]:
    """The organization's persons by name; `site_id` matches roles held at that site."""
    _require_manage(who)
    organization_id = who.organization_id
    if site_id is not None:
        await sites.get_site(session, organization_id=organization_id, site_id=site_id)
    rows = await persons.list_persons(
        session, organization_id=organization_id, site_id=site_id, role=role, active=active
    )
    roles = await persons.roles_by_person(
        session, organization_id=organization_id, person_ids=[p.id for p in rows]
    )
    return [PersonView(person, roles[person.id]) for person in rows]


async def get_person(*, session: AsyncSession, caller: Caller, person_id: int) -> PersonView:
    """One person with roles."""
    _require_manage(caller)
    person = await persons.get_person(
        session, organization_id=caller.organization_id, person_id=person_id
    )
    return await _view(session, person)


async def create_person(
    *,
    session: AsyncSession,
    who: Acting,
    email: str,
    name: str,
    password: str | None,
    roles: RolePairs,
    language: str | None = None,
    phone: str = "",
    now: datetime,
) -> PersonView:
    """Add a person with roles (language None: the organization's); `person.email_taken`,
    `person.weak_password`, `site.not_found`, `request.invalid`."""
    _require_manage(who)
    if language is None:
        org = await organizations.get_organization(session, organization_id=who.organization_id)
        language = org.language
    person = await persons.create_person(
        session,
        organization_id=who.organization_id,
        email=email,
        name=name,
        password=password,
        roles=roles,
        language=language,
        phone=phone,
        actor=who.ref,
        now=now,
    )
    view = await _view(session, person)
    await session.commit()
    return view


async def update_person(
    *,
    session: AsyncSession,
    sink: EventSink,
    caller: Caller,
    person_id: int,
    name: str | None = None,
    phone: str | None = None,
    language: str | None = None,
    active: bool | None = None,
    roles: RolePairs | None = None,
    password: str | None = None,
    now: datetime,
) -> PersonView:
    """Change the given fields (None: unchanged; `roles` replaces every role);
    `person.last_admin` when the organization would be left without an active org-wide
    admin. A caller changing their own password keeps their session."""
    _require_manage(caller)
    if all(value is None for value in (name, phone, language, active, roles, password)):
        raise ServiceError("request.invalid", "nothing to change")
    own = caller.person is not None and caller.person.id == person_id
    ending = await _own_other_sessions(
        session, caller=caller, changing_password=own and password is not None
    )
    person = await persons.update_person(
        session,
        organization_id=caller.organization_id,
        person_id=person_id,
        name=name,
        phone=phone,
        language=language,
        active=active,
        roles=roles,
        password=password,
        actor=caller.ref,
        now=now,
        keep_session=caller.session_hash if own else None,
    )
    view = await _view(session, person)
    await session.commit()
    if active is False or (password is not None and not own):
        await tell(sink.person_signed_out(person.id), what=f"person {person.id} signed out")
    elif roles is not None:
        await tell(sink.person_rights_changed(person.id), what=f"person {person.id} rights")
    await sessions_closed(sink, ending)
    return view


async def _own_other_sessions(
    session: AsyncSession, *, caller: Caller, changing_password: bool
) -> list[str]:
    """The caller's other login sessions that their own password change ends."""
    if not changing_password or caller.person is None:
        return []
    return await login_sessions.hashes_for_person(
        session, person_id=caller.person.id, except_hash=caller.session_hash
    )


async def sessions_closed(sink: EventSink, hashes: list[str]) -> None:
    """After the commit: close the live connections of each ended login session."""
    for digest in hashes:
        await tell(sink.session_closed(digest), what="session closed")
