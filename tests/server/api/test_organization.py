"""The organization's settings over HTTP: reading with effective alert texts, changing the
name, language and text overrides, who may do it, and every rejected input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from protocol.vocabulary import Role
from server.core.templates import BUILT_IN
from server.storage.tables import AuditEntry, Organization
from tests import factories
from tests.factories import World, bearer

URL = "/api/v1/organization"
ORDER = "INRYMNING – lås dörren, släck lampan, var tyst"


@pytest.fixture
async def world(client: httpx.AsyncClient) -> World:
    """An organization with an admin, a site admin, a chief and staff; another with its admin."""
    database = client.app.state.database  # type: ignore[attr-defined]
    world = await factories.organization(database)
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    await factories.person(world, "site_admin", roles=((Role.ADMIN, "A"),))
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),))
    await factories.device(world, "desk", site="A")
    await factories.api_key(world, "button", site="A")
    other = await factories.organization(database, name="Arboga")
    await factories.person(other, "stranger", roles=((Role.ADMIN, None),))
    world.tokens["stranger"] = other.tokens["stranger"]
    return world


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def rows(world: World) -> list[Any]:
    """Every organization's settings and the audit count."""
    async with world.database.session() as session:
        organizations = (
            await session.execute(
                select(
                    Organization.id,
                    Organization.name,
                    Organization.language,
                    Organization.templates,
                    Organization.epoch,
                ).order_by(Organization.id)
            )
        ).all()
        audit = await session.scalar(select(func.count()).select_from(AuditEntry))
    return [*organizations, audit]


async def test_any_person_reads_the_organization(client: httpx.AsyncClient, world: World) -> None:
    """Staff get the settings and the effective (built-in) text of every kind."""
    response = await client.get(URL, headers=bearer(world, "staff"))
    assert response.status_code == 200, response.text
    body = response.json()
    async with world.database.session() as session:
        org = await session.get_one(Organization, world.organization_id)
    assert {k: body[k] for k in ("id", "name", "slug", "language", "epoch", "templates")} == {
        "id": org.id,
        "name": "Köpings kommun",
        "slug": org.slug,
        "language": "sv",
        "epoch": org.epoch,
        "templates": {},
    }
    assert set(body["kinds"]) == {"pdv_lockdown", "evacuate", "secure", "custom"}
    lockdown = BUILT_IN["pdv_lockdown"]  # type: ignore[index]
    assert body["kinds"]["pdv_lockdown"] == {
        "name": lockdown.name.as_dict(),
        "order": lockdown.order.as_dict(),
        "instructions": lockdown.instructions.as_dict(),
    }


@pytest.mark.parametrize(
    ("headers", "expected"),
    [("desk", "auth.forbidden"), ("button", "auth.forbidden"), (None, "auth.required")],
)
async def test_only_persons_read_the_organization(
    client: httpx.AsyncClient, world: World, headers: str | None, expected: str
) -> None:
    """Devices, API keys and the unauthenticated are refused."""
    response = await client.get(URL, headers=bearer(world, headers) if headers else {})
    assert code(response) == expected


async def test_admin_changes_settings_and_texts(client: httpx.AsyncClient, world: World) -> None:
    """Name, language and overrides change; the effective texts follow; it is audited."""
    overrides = {"pdv_lockdown": {"order_sv": f"  {ORDER}  "}, "custom": {"instructions_en": "Go"}}
    response = await client.patch(
        URL,
        json={"name": "Köpings skolor", "language": "en", "templates": overrides},
        headers=bearer(world, "admin"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["language"]) == ("Köpings skolor", "en")
    assert body["templates"] == {
        "pdv_lockdown": {"order_sv": ORDER},
        "custom": {"instructions_en": "Go"},
    }
    assert body["kinds"]["pdv_lockdown"]["order"] == {
        "sv": ORDER,
        "en": BUILT_IN["pdv_lockdown"].order.en,  # type: ignore[index]
    }
    assert body["kinds"]["custom"]["instructions"]["en"] == "Go"
    assert (await client.get(URL, headers=bearer(world, "staff"))).json() == body
    cleared = await client.patch(URL, json={"templates": {}}, headers=bearer(world, "admin"))
    assert cleared.json()["templates"] == {} and cleared.json()["name"] == "Köpings skolor"
    async with world.database.session() as session:
        entries = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "organization.updated")
            )
        ).all()
    assert len(entries) == 2 and entries[0].details["language"] == "en"


@pytest.mark.parametrize("who", ["site_admin", "chief", "staff", "desk", "button"])
async def test_only_org_wide_admins_change_settings(
    client: httpx.AsyncClient, world: World, who: str
) -> None:
    """Everyone else is forbidden and nothing changes."""
    before = await rows(world)
    response = await client.patch(URL, json={"name": "X"}, headers=bearer(world, who))
    assert code(response) == "auth.forbidden"
    assert await rows(world) == before


async def test_another_admin_changes_only_their_own(
    client: httpx.AsyncClient, world: World
) -> None:
    """Another organization's admin can't reach ours: their change lands on theirs."""
    response = await client.patch(URL, json={"name": "Arboga 2"}, headers=bearer(world, "stranger"))
    assert response.status_code == 200 and response.json()["id"] != world.organization_id
    ours = await client.get(URL, headers=bearer(world, "admin"))
    assert ours.json()["name"] == "Köpings kommun"


@pytest.mark.parametrize(
    ("templates", "fragment"),
    [
        (["pdv_lockdown"], "must be an object"),
        ("text", "must be an object"),
        ({"earthquake": {}}, "unknown alert kind"),
        ({"pdv_lockdown": {"order_de": "x"}}, "unknown key"),
        ({"pdv_lockdown": {"order_sv": 5}}, "must be a string"),
        ({"pdv_lockdown": {"order_sv": "   "}}, "must not be blank"),
        ({"pdv_lockdown": {"order_sv": "x" * 501}}, "at most 500"),
        ({"pdv_lockdown": "x"}, "must be an object"),
        ({"custom": {"order_sv": "Spring"}}, "unknown key"),
    ],
)
async def test_invalid_templates(
    client: httpx.AsyncClient, world: World, templates: Any, fragment: str
) -> None:
    """Overrides that validate_overrides rejects are settings.invalid_templates with its reason."""
    before = await rows(world)
    response = await client.patch(
        URL, json={"name": "Nytt namn", "templates": templates}, headers=bearer(world, "admin")
    )
    assert response.status_code == 422 and code(response) == "settings.invalid_templates"
    assert fragment in response.json()["error"]["detail"]
    assert await rows(world) == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{", "request.malformed_json"),
        (b"{}", "request.invalid"),
        (b"[]", "request.invalid"),
        (b'{"name": null}', "request.invalid"),
        (b'{"name": ""}', "request.invalid"),
        (b'{"name": 3}', "request.invalid"),
        (b'{"language": "no"}', "request.invalid"),
        (b'{"language": null}', "request.invalid"),
        (b'{"templates": null}', "request.invalid"),
        (b'{"slug": "x"}', "request.unknown_field"),
        (b'{"epoch": "0"}', "request.unknown_field"),
    ],
)
async def test_bad_bodies(
    client: httpx.AsyncClient, world: World, content: bytes, expected: str
) -> None:
    """Bad bodies have their code and change nothing."""
    before = await rows(world)
    response = await client.patch(
        URL,
        content=content,
        headers={**bearer(world, "admin"), "Content-Type": "application/json"},
    )
    assert code(response) == expected, response.text
    assert await rows(world) == before
