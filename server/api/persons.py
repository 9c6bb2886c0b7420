"""People administration: the HTTP face of server/services/persons.py (MANAGE_PEOPLE
organization-wide; persons are never deleted, only deactivated, which ends their sessions),
and the CSV import of server/services/person_import.py:

    POST /persons/import?dry_run=true|false   body text/csv (≤ max_import_bytes)
        → 200 {"dry_run", "lines", "created", "updated", "unchanged",
               "errors": [{"line", "code", "message"}]}
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from protocol.vocabulary import Language, Role
from server.api.base import MAX_ID, Body, PatchBody, PathId, QueryId
from server.api.deps import CurrentCaller, SessionDep, SinkDep
from server.api.errors import error_body
from server.clock import utcnow
from server.core.languages import preferred_language
from server.errors import ServiceError
from server.services import person_import
from server.services import persons as service
from server.services.persons import PersonView
from server.storage import persons

router = APIRouter(tags=["persons"])

IMPORT_PATH = "/persons/import"  # its own body limit: `max_import_bytes` (server/app.py)
IMPORT_MEDIA_TYPES = frozenset({"text/csv", "text/plain", "application/csv"})

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


def _person_out(view: PersonView) -> PersonOut:
    person = view.person
    return PersonOut(
        id=person.id,
        email=person.email,
        name=person.name,
        phone=person.phone,
        language=person.language,
        active=person.active,
        roles=[RoleOut(role=role, site_id=site_id) for role, site_id in view.roles],
        created_at=person.created_at,
    )


def _pairs(roles: list[RoleIn] | None) -> list[tuple[Role, int | None]] | None:
    return None if roles is None else [(role.role, role.site_id) for role in roles]


@router.get("/persons")
async def list_persons(
    caller: CurrentCaller,
    session: SessionDep,
    site_id: QueryId = None,
    role: Role | None = None,
    active: bool | None = None,
) -> Sequence[PersonOut]:
    """The organization's persons by name; `site_id` matches roles held at that site."""
    views = await service.list_persons(
        session=session, who=caller, site_id=site_id, role=role, active=active
    )
    return [_person_out(view) for view in views]


@router.post("/persons", status_code=201)
async def create_person(
    body: PersonCreate, caller: CurrentCaller, session: SessionDep
) -> PersonOut:
    """Add a person with roles; `person.email_taken`, `person.weak_password`, `site.not_found`."""
    view = await service.create_person(
        session=session,
        who=caller,
        email=body.email,
        name=body.name,
        password=body.password,
        roles=_pairs(body.roles) or [],
        language=body.language,
        phone=body.phone,
        now=utcnow(),
    )
    return _person_out(view)


@router.get("/persons/{person_id}")
async def get_person(person_id: PathId, caller: CurrentCaller, session: SessionDep) -> PersonOut:
    """One person with roles."""
    return _person_out(
        await service.get_person(session=session, caller=caller, person_id=person_id)
    )


@router.patch("/persons/{person_id}")
async def update_person(
    person_id: PathId, body: PersonPatch, caller: CurrentCaller, session: SessionDep, sink: SinkDep
) -> PersonOut:
    """Change name, phone, language, active, roles or password; `person.last_admin` when the
    organization would be left without an active org-wide admin."""
    view = await service.update_person(
        session=session,
        sink=sink,
        caller=caller,
        person_id=person_id,
        name=body.name,
        phone=body.phone,
        language=body.language,
        active=body.active,
        roles=_pairs(body.roles),
        password=body.password,
        now=utcnow(),
    )
    return _person_out(view)


class ImportErrorOut(BaseModel):
    """One line's problem: `line` as in the file (the header is line 1)."""

    line: int
    code: str
    message: str


class ImportOut(BaseModel):
    """What the import did — or, for a dry run or a file with errors, would do."""

    dry_run: bool
    lines: int
    created: int
    updated: int
    unchanged: int
    errors: list[ImportErrorOut]


@router.post(
    IMPORT_PATH,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def import_persons(
    request: Request,
    caller: CurrentCaller,
    session: SessionDep,
    sink: SinkDep,
    dry_run: bool = True,
) -> ImportOut:
    """Create or update persons from a CSV file (`email,name,role,site[,language]`, `,` or
    `;`); all or nothing: with any error nothing is written. `dry_run` (default true) only
    checks."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in IMPORT_MEDIA_TYPES:
        raise ServiceError("request.unsupported_media_type", media_type)
    result = await person_import.import_persons(
        session=session,
        sink=sink,
        who=caller,
        data=await request.body(),
        dry_run=dry_run,
        now=utcnow(),
    )
    language = preferred_language(request.headers.get("accept-language"))
    return ImportOut(
        dry_run=result.dry_run,
        lines=result.lines,
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        errors=[
            ImportErrorOut(
                line=error.line,
                code=error.code,
                message=_line_message(error.code, error.detail, language),
            )
            for error in result.errors
        ],
    )


def _line_message(code: str, detail: str, language: Language) -> str:
    """The error table's message for `code` in `language`, with what was wrong."""
    message = str(error_body(code, language=language)["error"]["message"])
    return f"{message} ({detail})" if detail else message
