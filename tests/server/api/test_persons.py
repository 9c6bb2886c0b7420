"""People administration over HTTP: the permission matrix, another organization's ids,
roles, deactivation, the last-admin rule and every rejected input (which changes nothing)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from protocol.vocabulary import Role
from server.storage.tables import AuditEntry, Credential, LoginSession, Person, RoleAssignment
from tests import factories
from tests.factories import PASSWORD, World, bearer

URL = "/api/v1/persons"
NEW_PASSWORD = "ett långt lösenord"


@pytest.fixture
async def world(client: httpx.AsyncClient) -> World:
    """Sites A and B with every kind of caller, plus another organization with its admin."""
    database = client.app.state.database  # type: ignore[attr-defined]
    world = await factories.organization(database)
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    await factories.person(world, "site_admin", roles=((Role.ADMIN, "A"),))
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),), email="larare@skola.se")
    await factories.device(world, "desk", site="A")
    await factories.api_key(world, "button", site="A")
    other = await factories.organization(database, name="Arboga", sites=("X",))
    await factories.person(other, "stranger", roles=((Role.ADMIN, None),))
    world.tokens["stranger"] = other.tokens["stranger"]
    world.persons["stranger"] = other.persons["stranger"]
    world.sites["X"] = other.sites["X"]
    return world


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def rows(world: World) -> dict[str, Any]:
    """Persons, roles, credentials, sessions and the audit count."""
    async with world.database.session() as session:

        async def all_rows(*columns: Any) -> list[Any]:
            return list((await session.execute(select(*columns).order_by(*columns))).all())

        return {
            "persons": await all_rows(
                Person.id, Person.email, Person.name, Person.phone, Person.language, Person.active
            ),
            "roles": await all_rows(
                RoleAssignment.person_id, RoleAssignment.role, RoleAssignment.site_id
            ),
            "credentials": await all_rows(Credential.person_id, Credential.password_hash),
            "sessions": await all_rows(LoginSession.token_hash),
            "audit": await session.scalar(select(func.count()).select_from(AuditEntry)),
        }


def new_person(world: World, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": "Ny.Larare@Skola.SE",
        "name": "Ny Lärare",
        "password": NEW_PASSWORD,
        "phone": "+46 70 123 45 67",
        "language": "en",
        "roles": [{"role": "staff", "site_id": world.sites["A"]}],
    }
    body.update(changes)
    return body


# -- permission matrix ---------------------------------------------------------------------


@pytest.mark.parametrize("who", ["site_admin", "chief", "principal", "staff", "desk", "button"])
async def test_only_org_wide_admins_manage_people(
    client: httpx.AsyncClient, world: World, who: str
) -> None:
    """Everyone but an organization-wide admin gets 403 on every endpoint; nothing changes."""
    before = await rows(world)
    headers = bearer(world, who)
    staff = world.persons["staff"]
    answers = [
        await client.get(URL, headers=headers),
        await client.post(URL, json=new_person(world), headers=headers),
        await client.get(f"{URL}/{staff}", headers=headers),
        await client.patch(f"{URL}/{staff}", json={"name": "X"}, headers=headers),
    ]
    assert [(a.status_code, code(a)) for a in answers] == [(403, "auth.forbidden")] * 4
    assert await rows(world) == before


async def test_unauthenticated_callers_are_refused(client: httpx.AsyncClient, world: World) -> None:
    """Without credentials every endpoint answers auth.required."""
    staff = world.persons["staff"]
    answers = [
        await client.get(URL),
        await client.post(URL, json=new_person(world)),
        await client.get(f"{URL}/{staff}"),
        await client.patch(f"{URL}/{staff}", json={"name": "X"}),
    ]
    assert [code(a) for a in answers] == ["auth.required"] * 4


async def test_another_organizations_admin_sees_none_of_ours(
    client: httpx.AsyncClient, world: World
) -> None:
    """Our persons and sites don't exist for another organization's admin."""
    before = await rows(world)
    headers = bearer(world, "stranger")
    staff = world.persons["staff"]
    listed = await client.get(URL, headers=headers)
    assert [p["id"] for p in listed.json()] == [world.persons["stranger"]]
    assert code(await client.get(f"{URL}/{staff}", headers=headers)) == "person.not_found"
    patch = await client.patch(f"{URL}/{staff}", json={"active": False}, headers=headers)
    assert patch.status_code == 404 and code(patch) == "person.not_found"
    on_our_site = await client.post(URL, json=new_person(world), headers=headers)
    assert code(on_our_site) == "site.not_found"
    filtered = await client.get(URL, params={"site_id": world.sites["A"]}, headers=headers)
    assert code(filtered) == "site.not_found"
    assert await rows(world) == before


# -- creating ------------------------------------------------------------------------------


async def test_admin_creates_a_person_who_can_log_in(
    client: httpx.AsyncClient, world: World
) -> None:
    """201 with the person; the address is lower-cased and the password works for login."""
    response = await client.post(URL, json=new_person(world), headers=bearer(world, "admin"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        "id": body["id"],
        "email": "ny.larare@skola.se",
        "name": "Ny Lärare",
        "phone": "+46 70 123 45 67",
        "language": "en",
        "active": True,
        "roles": [{"role": "staff", "site_id": world.sites["A"]}],
        "created_at": body["created_at"],
    }
    assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")
    login = await client.post(
        "/api/v1/auth/login", json={"email": "NY.larare@skola.se", "password": NEW_PASSWORD}
    )
    assert login.status_code == 200, login.text
    async with world.database.session() as session:
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "person.created")
        )
    assert entry is not None and entry.target == f"person:{body['id']}"


async def test_defaults_language_of_the_organization_and_no_password(
    client: httpx.AsyncClient, world: World
) -> None:
    """Without language the organization's is used; without password nobody can log in."""
    response = await client.post(
        URL,
        json={"email": "a@skola.se", "name": "A", "roles": [{"role": "admin"}]},
        headers=bearer(world, "admin"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["language"] == "sv"
    assert response.json()["roles"] == [{"role": "admin", "site_id": None}]
    login = await client.post("/api/v1/auth/login", json={"email": "a@skola.se", "password": ""})
    assert code(login) == "auth.invalid_credentials"


@pytest.mark.parametrize(
    ("changes", "status", "expected"),
    [
        ({"email": "LARARE@skola.se"}, 409, "person.email_taken"),
        ({"password": "kort"}, 422, "person.weak_password"),
        ({"roles": [{"role": "staff", "site_id": 999999}]}, 404, "site.not_found"),
        ({"email": "not an address"}, 422, "request.invalid"),
        ({"email": "a@b"}, 422, "request.invalid"),
        ({"name": "  "}, 422, "request.invalid"),
        ({"name": None}, 422, "request.invalid"),
        ({"phone": "ring mig"}, 422, "request.invalid"),
        ({"phone": "1" * 41}, 422, "request.invalid"),
        ({"language": "de"}, 422, "request.invalid"),
        ({"roles": [{"role": "king", "site_id": None}]}, 422, "request.invalid"),
        ({"roles": [{"role": "staff", "site_id": "A"}]}, 422, "request.invalid"),
        ({"roles": [{"role": "staff", "site_id": 0}]}, 422, "request.invalid"),
        ({"roles": [{"role": "staff", "zone": 1}]}, 422, "request.unknown_field"),
        ({"roles": "staff"}, 422, "request.invalid"),
        ({"password": 1234567890}, 422, "request.invalid"),
        ({"active": False}, 422, "request.unknown_field"),
    ],
)
async def test_bad_new_persons(
    client: httpx.AsyncClient, world: World, changes: dict[str, Any], status: int, expected: str
) -> None:
    """Every bad value has its status and code, and nothing is written."""
    before = await rows(world)
    body = new_person(world, **changes)
    response = await client.post(URL, json=body, headers=bearer(world, "admin"))
    assert (response.status_code, code(response)) == (status, expected), response.text
    assert await rows(world) == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"{", "request.malformed_json"), (b"[]", "request.invalid"), (b"{}", "request.invalid")],
)
async def test_malformed_person_bodies(
    client: httpx.AsyncClient, world: World, content: bytes, expected: str
) -> None:
    """Broken or empty JSON creates nothing."""
    before = await rows(world)
    headers = {**bearer(world, "admin"), "Content-Type": "application/json"}
    assert code(await client.post(URL, content=content, headers=headers)) == expected
    patch_url = f"{URL}/{world.persons['staff']}"
    assert code(await client.patch(patch_url, content=content, headers=headers)) == expected
    assert await rows(world) == before


# -- reading -------------------------------------------------------------------------------


async def test_list_and_filter(client: httpx.AsyncClient, world: World) -> None:
    """Persons by name, filtered by site role, role and active."""
    headers = bearer(world, "admin")
    await factories.person(world, "zed", roles=((Role.STAFF, "B"),), active=False, login=False)

    async def names(**params: Any) -> list[str]:
        response = await client.get(URL, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [p["name"] for p in response.json()]

    assert await names() == ["Admin", "Chief", "Principal", "Site_Admin", "Staff", "Zed"]
    assert await names(site_id=world.sites["A"]) == ["Principal", "Site_Admin", "Staff"]
    assert await names(role="admin") == ["Admin", "Site_Admin"]
    assert await names(role="staff", site_id=world.sites["B"]) == ["Zed"]
    assert await names(active="false") == ["Zed"]
    assert await names(active="true", role="staff") == ["Staff"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"role": "king"}, "request.invalid"),
        ({"active": "perhaps"}, "request.invalid"),
        ({"site_id": "A"}, "request.invalid"),
        ({"site_id": 999999}, "site.not_found"),
    ],
)
async def test_bad_filters(
    client: httpx.AsyncClient, world: World, params: dict[str, Any], expected: str
) -> None:
    """Unknown roles, non-booleans and unknown sites are refused."""
    response = await client.get(URL, params=params, headers=bearer(world, "admin"))
    assert code(response) == expected


async def test_get_person(client: httpx.AsyncClient, world: World) -> None:
    """One person with roles; bad ids are invalid, unknown ones not found."""
    headers = bearer(world, "admin")
    response = await client.get(f"{URL}/{world.persons['principal']}", headers=headers)
    assert response.json()["roles"] == [{"role": "principal", "site_id": world.sites["A"]}]
    assert code(await client.get(f"{URL}/abc", headers=headers)) == "request.invalid"
    assert code(await client.get(f"{URL}/-1", headers=headers)) == "request.invalid"
    assert code(await client.get(f"{URL}/999999", headers=headers)) == "person.not_found"


# -- changing ------------------------------------------------------------------------------


async def test_patch_fields_and_replace_roles(client: httpx.AsyncClient, world: World) -> None:
    """Given fields change, roles are replaced as a whole, the rest stays."""
    url = f"{URL}/{world.persons['staff']}"
    roles = [{"role": "principal", "site_id": world.sites["B"]}, {"role": "staff"}]
    response = await client.patch(
        url,
        json={"name": "Lärare Lisa", "phone": "070-1", "language": "en", "roles": roles},
        headers=bearer(world, "admin"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["phone"], body["language"], body["active"]) == (
        "Lärare Lisa",
        "070-1",
        "en",
        True,
    )
    assert body["roles"] == [
        {"role": "principal", "site_id": world.sites["B"]},
        {"role": "staff", "site_id": None},
    ]
    me = await client.get("/api/v1/me", headers=bearer(world, "staff"))
    assert set(me.json()["permissions"]) == {str(world.sites["A"]), str(world.sites["B"])}


async def test_deactivating_ends_sessions(client: httpx.AsyncClient, world: World) -> None:
    """A deactivated person's sessions are deleted at once and login is refused."""
    url = f"{URL}/{world.persons['staff']}"
    response = await client.patch(url, json={"active": False}, headers=bearer(world, "admin"))
    assert response.status_code == 200 and response.json()["active"] is False
    assert code(await client.get("/api/v1/me", headers=bearer(world, "staff"))) == (
        "auth.invalid_token"
    )
    login = await client.post(
        "/api/v1/auth/login", json={"email": "larare@skola.se", "password": PASSWORD}
    )
    assert code(login) == "auth.invalid_credentials"
    async with world.database.session() as session:
        left = await session.scalar(
            select(func.count())
            .select_from(LoginSession)
            .where(LoginSession.person_id == world.persons["staff"])
        )
    assert left == 0
    again = await client.patch(url, json={"active": True}, headers=bearer(world, "admin"))
    assert again.json()["active"] is True
    login = await client.post(
        "/api/v1/auth/login", json={"email": "larare@skola.se", "password": PASSWORD}
    )
    assert login.status_code == 200


async def test_password_reset_ends_the_persons_sessions(
    client: httpx.AsyncClient, world: World
) -> None:
    """An admin's new password for someone ends their sessions; the new password works."""
    url = f"{URL}/{world.persons['staff']}"
    response = await client.patch(
        url, json={"password": NEW_PASSWORD}, headers=bearer(world, "admin")
    )
    assert response.status_code == 200, response.text
    assert code(await client.get("/api/v1/me", headers=bearer(world, "staff"))) == (
        "auth.invalid_token"
    )
    login = await client.post(
        "/api/v1/auth/login", json={"email": "larare@skola.se", "password": NEW_PASSWORD}
    )
    assert login.status_code == 200
    assert (await client.get("/api/v1/me", headers=bearer(world, "admin"))).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        {"active": False},
        {"roles": [{"role": "staff"}]},
        {"roles": []},
        {"roles": [{"role": "admin", "site_id": 1}]},
    ],
)
async def test_last_admin_is_kept(
    client: httpx.AsyncClient, world: World, change: dict[str, Any]
) -> None:
    """The only active org-wide admin can't deactivate or demote themselves."""
    before = await rows(world)
    response = await client.patch(
        f"{URL}/{world.persons['admin']}", json=change, headers=bearer(world, "admin")
    )
    assert response.status_code == 409 and code(response) == "person.last_admin"
    assert await rows(world) == before


async def test_a_second_admin_may_retire_the_first(client: httpx.AsyncClient, world: World) -> None:
    """Once someone else is an org-wide admin, the first may step down."""
    headers = bearer(world, "admin")
    promote = await client.patch(
        f"{URL}/{world.persons['chief']}",
        json={"roles": [{"role": "security_chief"}, {"role": "admin"}]},
        headers=headers,
    )
    assert promote.status_code == 200, promote.text
    response = await client.patch(
        f"{URL}/{world.persons['admin']}", json={"active": False}, headers=headers
    )
    assert response.status_code == 200
    assert code(await client.get(URL, headers=headers)) == "auth.invalid_token"
    assert (await client.get(URL, headers=bearer(world, "chief"))).status_code == 200


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "request.invalid"),
        ({"name": None}, "request.invalid"),
        ({"active": None}, "request.invalid"),
        ({"roles": None}, "request.invalid"),
        ({"active": "sometimes"}, "request.invalid"),
        ({"password": "kort"}, "person.weak_password"),
        ({"email": "new@skola.se"}, "request.unknown_field"),
        ({"roles": [{"role": "staff", "site_id": 999999}]}, "site.not_found"),
        ({"language": "fi"}, "request.invalid"),
        ({"phone": "+46 (0) 70!"}, "request.invalid"),
    ],
)
async def test_bad_patches(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], expected: str
) -> None:
    """Bad changes have their code and change nothing."""
    before = await rows(world)
    response = await client.patch(
        f"{URL}/{world.persons['staff']}", json=body, headers=bearer(world, "admin")
    )
    assert code(response) == expected, response.text
    assert await rows(world) == before


async def test_roles_at_another_organizations_site_are_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    """A role at another organization's site is `site.not_found`, on create and on patch."""
    before = await rows(world)
    roles = [{"role": "staff", "site_id": world.sites["X"]}]
    headers = bearer(world, "admin")
    created = await client.post(URL, json=new_person(world, roles=roles), headers=headers)
    patched = await client.patch(
        f"{URL}/{world.persons['staff']}", json={"roles": roles}, headers=headers
    )
    assert [code(created), code(patched)] == ["site.not_found", "site.not_found"]
    assert await rows(world) == before
