"""Importing people from a CSV file (admins: MANAGE_PEOPLE organization-wide), all or
nothing.

The file (server/core/person_import.py reads its shape) states, for every person it names,
their name, their roles (one line per role) and optionally their language. A person is
matched by e-mail address: a new address is **created** (active, without a password: they
log in once an admin sets one, or they use an enrolled device); a person of this
organization is **updated** when the file differs from what is stored — name, language when
given, and the roles, which the file replaces in full — and otherwise **unchanged**. Persons
the file does not name are left alone, and nobody is deactivated.

Each value is checked by the persons' own validation (server/storage/persons.py, the same
as POST/PATCH /persons): the address, the name, the language, the role, the site (by name,
among the organization's), an address that belongs to another organization
(`person.email_taken`), an organization left without an admin (`person.last_admin`). The
changes are made in one transaction, exactly as a real import would make them; when any
line has an error, or for a dry run, the transaction is rolled back, so nothing is written
and the answer says what a real import would do. A real import is audited: each person's
`person.created` / `person.updated`, and one `persons.imported` with the counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from protocol.vocabulary import Role
from server.core.permissions import Action
from server.core.person_import import ImportLine, LineError, parse
from server.errors import ServiceError
from server.services.access import Acting, authorize
from server.services.sink import EventSink, tell
from server.storage import audit, organizations, persons, sites
from server.storage.organizations import clean_language, clean_name
from server.storage.tables import Person


@dataclass
class ImportResult:
    """What the import did (or, for a dry run or a file with errors, would do)."""

    dry_run: bool
    lines: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[LineError] = field(default_factory=list)


@dataclass
class _Wanted:
    """One person as the file states them: from their first line, roles from every line."""

    line: int
    email: str
    name: str
    language: str | None
    roles: list[tuple[Role, int | None]]


def _checked(
    line: ImportLine, site_ids: Mapping[str, int]
) -> tuple[str, str, str | None, Role, int | None]:
    """The line's values through the persons' validation; ServiceError for the first bad one."""
    email = persons.clean_email(line.email)
    name = clean_name(line.name)
    language = clean_language(line.language.lower()) if line.language else None
    role = persons.clean_role(line.role.strip().lower())
    site_id = None
    if line.site:
        site_id = site_ids.get(line.site.casefold())
        if site_id is None:
            raise ServiceError("site.not_found", f"site {line.site!r}")
    return email, name, language, role, site_id


def _wanted(
    lines: list[ImportLine], site_ids: Mapping[str, int], errors: list[LineError]
) -> list[_Wanted]:
    """The persons the lines state, in file order; a bad line or one that contradicts an
    earlier line of the same person is an error."""
    by_email: dict[str, _Wanted] = {}
    for line in lines:
        try:
            email, name, language, role, site_id = _checked(line, site_ids)
        except ServiceError as exc:
            errors.append(LineError(line.line, exc.code, exc.detail))
            continue
        person = by_email.get(email)
        if person is None:
            by_email[email] = _Wanted(line.line, email, name, language, [(role, site_id)])
            continue
        if name != person.name or (language or person.language) != (person.language or language):
            errors.append(
                LineError(
                    line.line,
                    "import.conflicting_lines",
                    f"{email}: name or language differs from line {person.line}",
                )
            )
            continue
        person.language = person.language or language
        if (role, site_id) not in person.roles:
            person.roles.append((role, site_id))
    return list(by_email.values())


async def import_persons(
    *,
    session: AsyncSession,
    sink: EventSink,
    who: Acting,
    data: bytes,
    dry_run: bool,
    now: datetime,
) -> ImportResult:
    """Import the CSV file `data` (see the module docstring); write only when `dry_run` is
    false and no line has an error."""
    authorize(who, Action.MANAGE_PEOPLE)
    organization_id = who.organization_id
    parsed = parse(data)
    result = ImportResult(dry_run=dry_run, errors=list(parsed.errors))
    result.lines = len(parsed.lines) + sum(1 for error in parsed.errors if error.line > 1)
    site_ids = {
        site.name.casefold(): site.id
        for site in await sites.list_sites(session, organization_id=organization_id)
    }
    wanted = _wanted(parsed.lines, site_ids, result.errors)
    stored = await persons.by_emails(session, emails=[person.email for person in wanted])
    org_language = (
        await organizations.get_organization(session, organization_id=organization_id)
    ).language
    rights_changed: list[int] = []
    for person in wanted:
        try:
            outcome = await _apply(
                session,
                person=person,
                existing=stored.get(person.email),
                organization_id=organization_id,
                org_language=org_language,
                actor=who.ref,
                now=now,
            )
        except ServiceError as exc:
            result.errors.append(LineError(person.line, exc.code, exc.detail))
            continue
        if outcome == "created":
            result.created += 1
        elif outcome == "unchanged":
            result.unchanged += 1
        else:
            result.updated += 1
            if outcome == "roles":
                rights_changed.append(stored[person.email].id)
    result.errors.sort(key=lambda error: error.line)
    if dry_run or result.errors:
        await session.rollback()
        return result
    await audit.record(
        session,
        organization_id=organization_id,
        actor=who.ref,
        action="persons.imported",
        at=now,
        details=_counts(result),
    )
    await session.commit()
    for person_id in rights_changed:
        await tell(sink.person_rights_changed(person_id), what=f"person {person_id} rights")
    return result


def _counts(result: ImportResult) -> dict[str, Any]:
    return {
        "lines": result.lines,
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
    }


async def _apply(
    session: AsyncSession,
    *,
    person: _Wanted,
    existing: Person | None,
    organization_id: int,
    org_language: str,
    actor: str,
    now: datetime,
) -> str:
    """Create or update one person in the transaction: "created", "unchanged", "updated"
    or "roles" (updated, roles among the changes)."""
    if existing is None:
        await persons.create_person(
            session,
            organization_id=organization_id,
            email=person.email,
            name=person.name,
            password=None,
            roles=person.roles,
            language=person.language or org_language,
            actor=actor,
            now=now,
        )
        return "created"
    if existing.organization_id != organization_id:
        raise ServiceError("person.email_taken", person.email)
    current = await persons.roles_of(session, person_id=existing.id)
    name = person.name if person.name != existing.name else None
    language = person.language if person.language not in (None, existing.language) else None
    roles = person.roles if set(person.roles) != set(current) else None
    if name is None and language is None and roles is None:
        return "unchanged"
    await persons.update_person(
        session,
        organization_id=organization_id,
        person_id=existing.id,
        name=name,
        language=language,
        roles=roles,
        actor=actor,
        now=now,
    )
    return "roles" if roles is not None else "updated"
