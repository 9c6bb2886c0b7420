"""POST /api/v1/persons/import: the people CSV import over HTTP on SQLite and PostgreSQL —
dry run, all or nothing, line numbers, admins only, per organization, its own body limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from protocol.vocabulary import Role
from server.settings import Settings
from server.storage.database import Database
from server.storage.tables import AuditEntry, Person, RoleAssignment
from tests import factories
from tests.conftest import app_client
from tests.factories import World, bearer

URL = "/api/v1/persons/import"
CSV = {"Content-Type": "text/csv"}
HEADER = "email,name,role,site,language\n"


@pytest.fixture
def settings() -> Settings:
    """A small import limit, so the limit tests need no megabyte."""
    return Settings(
        database_url="sqlite+aiosqlite:///unused.db",
        login_attempts_per_ip=1000,
        max_body_bytes=2048,
        max_import_bytes=8192,
    )


@pytest.fixture
async def client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """These tests run on SQLite and on PostgreSQL."""
    async with app_client(settings, database) as http:
        yield http


@pytest.fixture
async def world(client: httpx.AsyncClient) -> World:
    """Ullvi and Kyrkbacken with an admin, a site admin, a chief, a principal and a teacher;
    Arboga with its own admin."""
    database = client.app.state.database  # type: ignore[attr-defined]
    world = await factories.organization(database, sites=("Ullvi", "Kyrkbacken"))
    await factories.person(world, "admin", roles=((Role.ADMIN, None),), email="admin@koping.se")
    await factories.person(world, "site_admin", roles=((Role.ADMIN, "Ullvi"),))
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "Ullvi"),))
    await factories.person(
        world, "teacher", roles=((Role.STAFF, "Ullvi"),), email="larare@koping.se"
    )
    other = await factories.organization(database, name="Arboga", sites=("Ullvi",))
    await factories.person(other, "admin", roles=((Role.ADMIN, None),), email="admin@arboga.se")
    world.tokens["stranger"] = other.tokens["admin"]
    return world


async def snapshot(world: World) -> dict[str, Any]:
    """Every person, role and the audit count: what a refused import must leave as it was."""
    async with world.database.session() as session:
        persons = (
            await session.execute(
                select(Person.id, Person.email, Person.name, Person.language).order_by(Person.id)
            )
        ).all()
        roles = (
            await session.execute(
                select(
                    RoleAssignment.person_id, RoleAssignment.role, RoleAssignment.site_id
                ).order_by(RoleAssignment.person_id, RoleAssignment.role, RoleAssignment.site_id)
            )
        ).all()
        audit = await session.scalar(select(func.count()).select_from(AuditEntry))
    return {"persons": list(persons), "roles": list(roles), "audit": audit}


async def post(
    client: httpx.AsyncClient,
    world: World,
    text: str | bytes,
    *,
    dry_run: bool | None = None,
    who: str = "admin",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    params = {} if dry_run is None else {"dry_run": str(dry_run).lower()}
    data = text.encode() if isinstance(text, str) else text
    return await client.post(
        URL, content=data, params=params, headers={**bearer(world, who), **CSV, **(headers or {})}
    )


GOOD = (
    HEADER
    + "anna@koping.se,Anna Åberg,staff,Ullvi,sv\n"
    + "anna@koping.se,Anna Åberg,staff,Kyrkbacken,\n"
    + "bo@koping.se,Bo Ek,principal,kyrkbacken,en\n"
    + "larare@koping.se,Lärare Lind,staff,Ullvi,\n"
    + "admin@koping.se,Admin,admin,,\n"
)


async def test_a_dry_run_counts_and_writes_nothing(client: httpx.AsyncClient, world: World) -> None:
    """The default is a dry run: the counts of what would happen, nothing stored."""
    before = await snapshot(world)
    response = await post(client, world, GOOD)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "dry_run": True,
        "lines": 5,
        "created": 2,
        "updated": 1,
        "unchanged": 1,
        "errors": [],
    }
    assert await snapshot(world) == before


async def test_a_real_import_creates_updates_and_audits(
    client: httpx.AsyncClient, world: World
) -> None:
    """dry_run=false stores new persons with their roles, renames, audits; again: unchanged."""
    response = await post(client, world, GOOD, dry_run=False)
    assert response.json() == {
        "dry_run": False,
        "lines": 5,
        "created": 2,
        "updated": 1,
        "unchanged": 1,
        "errors": [],
    }
    listed = await client.get("/api/v1/persons", headers=bearer(world, "admin"))
    people = {p["email"]: p for p in listed.json()}
    anna = people["anna@koping.se"]
    assert anna["name"] == "Anna Åberg" and anna["language"] == "sv" and anna["active"]
    assert sorted(r["site_id"] for r in anna["roles"]) == sorted(world.sites.values())
    assert people["bo@koping.se"]["language"] == "en"
    assert people["bo@koping.se"]["roles"] == [
        {"role": "principal", "site_id": world.sites["Kyrkbacken"]}
    ]
    assert people["larare@koping.se"]["name"] == "Lärare Lind"
    async with world.database.session() as session:
        actions = list(
            (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq))).all()
        )
        imported = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "persons.imported")
        )
    assert actions.count("person.created") == 2 and actions.count("person.updated") == 1
    assert imported is not None and imported.details["created"] == 2
    assert imported.actor == f"person:{world.persons['admin']}"
    again = await post(client, world, GOOD, dry_run=False)
    assert (again.json()["unchanged"], again.json()["created"], again.json()["updated"]) == (
        4,
        0,
        0,
    )


async def test_any_bad_line_writes_nothing_and_names_its_line(
    client: httpx.AsyncClient, world: World
) -> None:
    """Errors by file line (header = 1) with stable codes; nothing written, even for real."""
    text = (
        HEADER
        + "ok@koping.se,Ok,staff,Ullvi,\n"
        + "not-an-address,Eva,staff,Ullvi,\n"
        + "\n"
        + "cia@koping.se,Cia,janitor,Ullvi,\n"
        + "dan@koping.se,Dan,staff,Nowhere,\n"
        + "admin@arboga.se,Stolen,staff,Ullvi,\n"
        + "eve@koping.se,Eve,staff\n"
        + "fia@koping.se,Fia,staff,Ullvi,de\n"
        + "ok@koping.se,Okay,staff,Kyrkbacken,\n"
    )
    before = await snapshot(world)
    response = await post(client, world, text, dry_run=False)
    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is False and body["created"] == 1
    assert [(e["line"], e["code"]) for e in body["errors"]] == [
        (3, "request.invalid"),
        (5, "request.invalid"),
        (6, "site.not_found"),
        (7, "person.email_taken"),
        (8, "import.bad_line"),
        (9, "request.invalid"),
        (10, "import.conflicting_lines"),
    ]
    assert all(e["message"] for e in body["errors"])
    assert "Nowhere" in body["errors"][2]["message"]
    assert await snapshot(world) == before


async def test_messages_follow_accept_language(client: httpx.AsyncClient, world: World) -> None:
    """Swedish messages by default, English for Accept-Language: en."""
    text = HEADER + "x@koping.se,X,staff,Nowhere,\n"
    swedish = (await post(client, world, text)).json()["errors"][0]["message"]
    english = (await post(client, world, text, headers={"Accept-Language": "en"})).json()["errors"][
        0
    ]["message"]
    assert swedish != english and "Nowhere" in english


async def test_swedish_excel_semicolons_and_bom(client: httpx.AsyncClient, world: World) -> None:
    """A `;` file with a BOM and CRLF, as Swedish Excel saves it, imports."""
    text = "\ufeffe-post;x\r\n"
    bad = await post(client, world, text)
    assert [(e["line"], e["code"]) for e in bad.json()["errors"]] == [(1, "import.bad_header")]
    text = "\ufeffEmail;Name;Role;Site\r\nörjan@koping.se;Örjan Ås;staff;Ullvi\r\n"
    response = await post(client, world, text, dry_run=False)
    assert response.json()["created"] == 1 and response.json()["errors"] == []


async def test_the_last_admin_cannot_be_imported_away(
    client: httpx.AsyncClient, world: World
) -> None:
    """Making the only org-wide admin staff: person.last_admin on that line, nothing written."""
    before = await snapshot(world)
    response = await post(
        client, world, HEADER + "admin@koping.se,Admin,staff,Ullvi,\n", dry_run=False
    )
    assert [(e["line"], e["code"]) for e in response.json()["errors"]] == [(2, "person.last_admin")]
    assert await snapshot(world) == before


@pytest.mark.parametrize("who", ["site_admin", "chief", "principal", "teacher"])
async def test_only_organization_admins_import(
    client: httpx.AsyncClient, world: World, who: str
) -> None:
    """Everyone else is auth.forbidden, also for a dry run; nothing written."""
    before = await snapshot(world)
    response = await post(client, world, GOOD, dry_run=False, who=who)
    assert response.status_code == 403 and response.json()["error"]["code"] == "auth.forbidden"
    assert await snapshot(world) == before


async def test_another_organizations_admin_cannot_touch_these_persons(
    client: httpx.AsyncClient, world: World
) -> None:
    """Arboga's admin naming Köping's people gets person.email_taken; no Köping site exists
    for them (site.not_found); nothing written."""
    before = await snapshot(world)
    text = HEADER + "larare@koping.se,Hijack,staff,Ullvi,\nny@arboga.se,Ny,staff,Kyrkbacken,\n"
    response = await post(client, world, text, dry_run=False, who="stranger")
    assert [(e["line"], e["code"]) for e in response.json()["errors"]] == [
        (2, "person.email_taken"),
        (3, "site.not_found"),
    ]
    assert await snapshot(world) == before


async def test_credentials_and_content_type_are_required(
    client: httpx.AsyncClient, world: World
) -> None:
    """No credentials: auth.required; a JSON body: request.unsupported_media_type."""
    response = await client.post(URL, content=GOOD.encode(), headers=CSV)
    assert response.status_code == 401 and response.json()["error"]["code"] == "auth.required"
    response = await client.post(URL, json={"csv": GOOD}, headers=bearer(world, "admin"))
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "request.unsupported_media_type"
    response = await post(client, world, GOOD, headers={"Content-Type": "text/csv; charset=utf-8"})
    assert response.status_code == 200


async def test_the_import_has_its_own_larger_body_limit(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    """A file over max_body_bytes but within max_import_bytes is read; over that it is
    request.too_large; other endpoints keep max_body_bytes."""
    line = "a@koping.se,A,staff,Ullvi,\n"
    middle = HEADER + line * ((settings.max_body_bytes + 100) // len(line))
    assert settings.max_body_bytes < len(middle) < settings.max_import_bytes
    assert (await post(client, world, middle)).status_code == 200
    big = HEADER + line * (settings.max_import_bytes // len(line) + 1)
    refused = await post(client, world, big, dry_run=False)
    assert refused.status_code == 413
    assert refused.json()["error"] == {
        "code": "request.too_large",
        "message": refused.json()["error"]["message"],
        "detail": settings.max_import_bytes,
    }
    other = await client.post(
        "/api/v1/persons",
        content=b'{"name": "' + b"x" * settings.max_body_bytes + b'"}',
        headers={**bearer(world, "admin"), "Content-Type": "application/json"},
    )
    assert other.status_code == 413


@pytest.mark.parametrize("value", ["maybe", "2"])
async def test_a_bad_dry_run_value_is_refused(
    client: httpx.AsyncClient, world: World, value: str
) -> None:
    """dry_run must be a boolean: request.invalid."""
    response = await client.post(
        URL,
        content=GOOD.encode(),
        params={"dry_run": value},
        headers={**bearer(world, "admin"), **CSV},
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "request.invalid"
