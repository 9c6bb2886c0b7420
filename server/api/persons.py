"""People administration (MANAGE_PEOPLE organization-wide: a site-level admin can't hand out
roles elsewhere). Persons are never deleted, only deactivated, so the audit log and old
receipts keep pointing at someone; deactivating ends their login sessions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from protocol.vocabulary import Language, Role
from server.api.base import MAX_ID, Body, PatchBody, PathId, QueryId
from server.api.deps import CurrentCaller, SessionDep
from server.clock import utcnow
from server.core.permissions import Action, require
from server.errors import ServiceError
from server.storage import persons, sites
from server.storage.callers import Caller
from server.storage.organizations import get_organization
from server.storage.tables import Person

log = logging.getLogger(__name__)
router = APIRouter(tags=["persons"])

Email = Annotated[str, Field(max_length=320), AfterValidator(persons.normalize_email)]
# Passwords are taken exactly as typed; strength is checked by storage (person.weak_password).
Password = Annotated[str, StringConstraints(strip_whitespace=False, max_length=1024)]


class RoleIn(Body):
    role: Role
    site_id: int | None = Field(default=None, ge=1, le=MAX_ID)  # None: organization-wide


class RoleOut(BaseModel):
    role: Role
    site_id: int | None


class PersonOut(BaseModel):
    id: int
    email: str
    name: str
    phone: str
    language: str
    active: bool
    roles: list[RoleOut]
    created_at: datetime


class PersonCreate(Body):
    email: Email
    name: str = Field(min_length=1, max_length=200)
    password: Password | None = None  # None: cannot log in until a password is set
    phone: str = Field(default="", max_length=40)
    language: Language | None = None  # None: the organization's language
    roles: list[RoleIn] = Field(default_factory=list, max_length=100)


class PersonPatch(PatchBody):
    """`roles` replaces every role."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    language: Language | None = None
    active: bool | None = None
    roles: list[RoleIn] | None = Field(default=None, max_length=100)
    password: Password | None = None


def _person_out(person: Person, roles: persons.RoleList) -> PersonOut:
    return PersonOut(
        id=person.id,
        email=person.email,
        name=person.name,
        phone=person.phone,
        language=person.language,
        active=person.active,
        roles=[RoleOut(role=role, site_id=site_id) for role, site_id in roles],
        created_at=person.created_at,
    )


def _require_manage(caller: Caller) -> None:
    require(caller.actor, Action.MANAGE_PEOPLE, organization_id=caller.organization_id)


def _pairs(roles: list[RoleIn]) -> list[tuple[Role, int | None]]:
    return [(role.role, role.site_id) for role in roles]


async def signed_out(request: Request, person_id: int) -> None:
    """Tell the realtime service (when running) to close the person's live connections."""
    hook = getattr(request.app.state, "person_signed_out", None)
    if hook is None:
        return
    try:
        await hook(person_id)
    except Exception:  # committed already; their tokens fail on the next request anyway
        log.exception("closing the connections of person %s failed", person_id)


@router.get("/persons")
async def list_persons(
    caller: CurrentCaller,
    session: SessionDep,
    site_id: QueryId = None,
    role: Role | None = None,
    active: bool | None = None,
) -> Sequence[PersonOut]:
    """The organization's persons by name; `site_id` matches roles held at that site."""
    _require_manage(caller)
    if site_id is not None:
        await sites.get_site(session, organization_id=caller.organization_id, site_id=site_id)
    rows = await persons.list_persons(
        session, organization_id=caller.organization_id, site_id=site_id, role=role, active=active
    )
    roles = await persons.roles_by_person(
        session, organization_id=caller.organization_id, person_ids=[p.id for p in rows]
    )
    return [_person_out(person, roles[person.id]) for person in rows]


@router.post("/persons", status_code=201)
async def create_person(
    body: PersonCreate, caller: CurrentCaller, session: SessionDep
) -> PersonOut:
    """Add a person with roles; `person.email_taken`, `person.weak_password`, `site.not_found`."""
    _require_manage(caller)
    language = body.language
    if language is None:
        org = await get_organization(session, organization_id=caller.organization_id)
        language = Language(org.language)
    person = await persons.create_person(
        session,
        organization_id=caller.organization_id,
        email=body.email,
        name=body.name,
        password=body.password,
        roles=_pairs(body.roles),
        language=language.value,
        phone=body.phone,
        actor=caller.ref,
        now=utcnow(),
    )
    roles = await persons.roles_of(session, person_id=person.id)
    await session.commit()
    return _person_out(person, roles)


@router.get("/persons/{person_id}")
async def get_person(person_id: PathId, caller: CurrentCaller, session: SessionDep) -> PersonOut:
    """One person with roles."""
    _require_manage(caller)
    person = await persons.get_person(
        session, organization_id=caller.organization_id, person_id=person_id
    )
    return _person_out(person, await persons.roles_of(session, person_id=person.id))


@router.patch("/persons/{person_id}")
async def update_person(
    person_id: PathId,
    body: PersonPatch,
    request: Request,
    caller: CurrentCaller,
    session: SessionDep,
) -> PersonOut:
    """Change name, phone, language, active, roles or password; `person.last_admin` when the
    organization would be left without an active org-wide admin."""
    _require_manage(caller)
    if not body.model_fields_set:
        raise ServiceError("request.invalid", "nothing to change")
    own = caller.person is not None and caller.person.id == person_id
    person = await persons.update_person(
        session,
        organization_id=caller.organization_id,
        person_id=person_id,
        name=body.name,
        phone=body.phone,
        language=body.language.value if body.language is not None else None,
        active=body.active,
        roles=_pairs(body.roles) if body.roles is not None else None,
        password=body.password,
        actor=caller.ref,
        now=utcnow(),
        keep_session=caller.session_hash if own else None,
    )
    roles = await persons.roles_of(session, person_id=person.id)
    await session.commit()
    if body.active is False or (body.password is not None and not own):
        await signed_out(request, person.id)
    return _person_out(person, roles)
