"""Sites and zones over HTTP: who sees and manages what, another organization's ids, and
every rejected input (which must change nothing)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from protocol.vocabulary import Role
from server.storage.tables import AuditEntry, Site, Zone
from tests import factories
from tests.factories import World, bearer

URL = "/api/v1/sites"


@pytest.fixture
async def world(client: httpx.AsyncClient) -> World:
    """Sites A and B with every kind of caller, plus another organization's admin."""
    database = client.app.state.database  # type: ignore[attr-defined]
    world = await factories.organization(database)
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    await factories.person(world, "site_admin", roles=((Role.ADMIN, "A"),))
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),))
    await factories.device(world, "desk", site="A")
    await factories.device(world, "desk_b", site="B")
    await factories.api_key(world, "button", site="A")
    other = await factories.organization(database, name="Arboga", sites=("X",))
    await factories.person(other, "stranger", roles=((Role.ADMIN, None),))
    world.tokens["stranger"] = other.tokens["stranger"]
    world.sites["X"] = other.sites["X"]
    return world


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def rows(world: World) -> dict[str, Any]:
    """Sites, zones and the audit count, for 'nothing changed' checks."""
    async with world.database.session() as session:
        return {
            "sites": (
                await session.execute(
                    select(Site.id, Site.name, Site.address, Site.staff_may_trigger).order_by(
                        Site.id
                    )
                )
            ).all(),
            "zones": (
                await session.execute(select(Zone.id, Zone.site_id, Zone.name).order_by(Zone.id))
            ).all(),
            "audit": await session.scalar(select(func.count()).select_from(AuditEntry)),
        }


async def add_zone(client: httpx.AsyncClient, world: World, site: str, name: str) -> int:
    response = await client.post(
        f"{URL}/{world.sites[site]}/zones", json={"name": name}, headers=bearer(world, "admin")
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


# -- reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("admin", ["A", "B"]),
        ("staff", ["A", "B"]),
        ("principal", ["A", "B"]),
        ("desk", ["A"]),
        ("desk_b", ["B"]),
        ("button", ["A"]),
        ("stranger", ["X"]),
    ],
)
async def test_list_sites_shows_what_the_caller_may_see(
    client: httpx.AsyncClient, world: World, who: str, visible: list[str]
) -> None:
    """Persons see all their organization's sites, devices and keys only their own."""
    zone = await add_zone(client, world, "A", "Hus B")
    response = await client.get(URL, headers=bearer(world, who))
    assert response.status_code == 200, response.text
    assert [site["name"] for site in response.json()] == visible
    if "A" in visible:
        site_a = response.json()[0]
        assert site_a == {
            "id": world.sites["A"],
            "name": "A",
            "address": "",
            "staff_may_trigger": True,
            "zones": [{"id": zone, "name": "Hus B"}],
        }


async def test_get_site(client: httpx.AsyncClient, world: World) -> None:
    """One site with its zones by name."""
    second = await add_zone(client, world, "B", "Östra")
    first = await add_zone(client, world, "B", "Aulan")
    response = await client.get(f"{URL}/{world.sites['B']}", headers=bearer(world, "staff"))
    assert response.json()["zones"] == [
        {"id": first, "name": "Aulan"},
        {"id": second, "name": "Östra"},
    ]


@pytest.mark.parametrize(
    ("who", "site", "expected"),
    [
        ("desk", "B", "site.not_found"),
        ("stranger", "A", "site.not_found"),
        ("admin", "X", "site.not_found"),
    ],
)
async def test_get_site_out_of_reach_is_not_found(
    client: httpx.AsyncClient, world: World, who: str, site: str, expected: str
) -> None:
    """Another organization's site, or another site of a device, does not exist for them."""
    response = await client.get(f"{URL}/{world.sites[site]}", headers=bearer(world, who))
    assert response.status_code == 404 and code(response) == expected


async def test_reading_needs_authentication(client: httpx.AsyncClient, world: World) -> None:
    """No credentials, a bad token or a revoked device get 401."""
    assert code(await client.get(URL)) == "auth.required"
    bad = {"Authorization": "Bearer pdvk_nothing"}
    assert code(await client.get(URL, headers=bad)) == "auth.invalid_token"
    cookie = {"Cookie": "pdv_session=pdvs_expired"}
    assert code(await client.get(f"{URL}/{world.sites['A']}", headers=cookie)) == (
        "auth.session_expired"
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/abc", "request.invalid"),
        ("/0", "request.invalid"),
        ("/99999999999", "request.invalid"),
        ("/999999", "site.not_found"),
    ],
)
async def test_bad_site_ids(
    client: httpx.AsyncClient, world: World, path: str, expected: str
) -> None:
    """Ids that are not positive 32-bit integers are invalid; unknown ones not found."""
    assert code(await client.get(URL + path, headers=bearer(world, "admin"))) == expected


# -- creating and changing sites -----------------------------------------------------------


async def test_admin_creates_a_site(client: httpx.AsyncClient, world: World) -> None:
    """201 with the new site; the name is stripped and the creation audited."""
    body = {
        "name": " Ullvigymnasiet ",
        "address": "Ullvigatan 1, Köping",
        "staff_may_trigger": False,
    }
    response = await client.post(URL, json=body, headers=bearer(world, "admin"))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created == {
        "id": created["id"],
        "name": "Ullvigymnasiet",
        "address": "Ullvigatan 1, Köping",
        "staff_may_trigger": False,
        "zones": [],
    }
    async with world.database.session() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "site.created"))
    assert entry is not None and entry.actor == f"person:{world.persons['admin']}"


@pytest.mark.parametrize("who", ["site_admin", "chief", "principal", "staff", "desk", "button"])
async def test_only_org_wide_admins_create_sites(
    client: httpx.AsyncClient, world: World, who: str
) -> None:
    """Everyone else gets 403 and nothing is created."""
    before = await rows(world)
    response = await client.post(URL, json={"name": "Ny skola"}, headers=bearer(world, who))
    assert response.status_code == 403 and code(response) == "auth.forbidden"
    assert await rows(world) == before


async def test_duplicate_site_name(client: httpx.AsyncClient, world: World) -> None:
    """A second site of the same name (any case) is `site.exists`; other organizations may."""
    before = await rows(world)
    response = await client.post(URL, json={"name": "a"}, headers=bearer(world, "admin"))
    assert response.status_code == 409 and code(response) == "site.exists"
    assert await rows(world) == before
    response = await client.post(URL, json={"name": "A"}, headers=bearer(world, "stranger"))
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{", "request.malformed_json"),
        (b"{}", "request.invalid"),
        (b'{"name": "   "}', "request.invalid"),
        (b'{"name": 12}', "request.invalid"),
        (b'{"name": null}', "request.invalid"),
        (b'{"name": "' + b"n" * 201 + b'"}', "request.invalid"),
        (b'{"name": "S", "address": "' + b"a" * 301 + b'"}', "request.invalid"),
        (b'{"name": "S", "staff_may_trigger": "maybe"}', "request.invalid"),
        (b'{"name": "S", "zones": []}', "request.unknown_field"),
        (b'["S"]', "request.invalid"),
    ],
)
async def test_bad_site_bodies(
    client: httpx.AsyncClient, world: World, content: bytes, expected: str
) -> None:
    """Bad bodies for a new site get their code and create nothing."""
    before = await rows(world)
    response = await client.post(
        URL,
        content=content,
        headers={**bearer(world, "admin"), "Content-Type": "application/json"},
    )
    assert code(response) == expected, response.text
    assert await rows(world) == before


@pytest.mark.parametrize(("who", "site"), [("admin", "A"), ("site_admin", "A"), ("admin", "B")])
async def test_site_managers_patch_sites(
    client: httpx.AsyncClient, world: World, who: str, site: str
) -> None:
    """Org-wide admins patch any site, a site's admin their own; fields left out stay."""
    url = f"{URL}/{world.sites[site]}"
    response = await client.patch(
        url, json={"name": "Nya namnet", "staff_may_trigger": False}, headers=bearer(world, who)
    )
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["staff_may_trigger"]) == ("Nya namnet", False)
    response = await client.patch(url, json={"address": "Storgatan 2"}, headers=bearer(world, who))
    assert response.json()["name"] == "Nya namnet" and response.json()["address"] == "Storgatan 2"


@pytest.mark.parametrize(
    ("who", "site", "expected"),
    [
        ("site_admin", "B", "auth.forbidden"),
        ("chief", "A", "auth.forbidden"),
        ("principal", "A", "auth.forbidden"),
        ("staff", "A", "auth.forbidden"),
        ("desk", "A", "auth.forbidden"),
        ("button", "A", "auth.forbidden"),
        ("desk", "B", "site.not_found"),
        ("stranger", "A", "site.not_found"),
        ("admin", "X", "site.not_found"),
    ],
)
async def test_patch_site_refused(
    client: httpx.AsyncClient, world: World, who: str, site: str, expected: str
) -> None:
    """Non-managers are forbidden; sites out of reach don't exist; nothing changes."""
    before = await rows(world)
    response = await client.patch(
        f"{URL}/{world.sites[site]}", json={"name": "Hacked"}, headers=bearer(world, who)
    )
    assert code(response) == expected
    assert await rows(world) == before


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "request.invalid"),
        ({"name": None}, "request.invalid"),
        ({"staff_may_trigger": None}, "request.invalid"),
        ({"name": ""}, "request.invalid"),
        ({"name": "B"}, "site.exists"),
        ({"staff_may_trigger": "perhaps"}, "request.invalid"),
        ({"organization_id": 2}, "request.unknown_field"),
    ],
)
async def test_bad_site_patches(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], expected: str
) -> None:
    """Bad patches get their code and change nothing."""
    before = await rows(world)
    response = await client.patch(
        f"{URL}/{world.sites['A']}", json=body, headers=bearer(world, "admin")
    )
    assert code(response) == expected, response.text
    assert await rows(world) == before


# -- zones ---------------------------------------------------------------------------------


async def test_zone_lifecycle(client: httpx.AsyncClient, world: World) -> None:
    """Create, rename and delete a zone; each step is audited."""
    base = f"{URL}/{world.sites['A']}/zones"
    created = await client.post(base, json={"name": "Hus B"}, headers=bearer(world, "site_admin"))
    assert created.status_code == 201 and created.json()["name"] == "Hus B"
    zone = created.json()["id"]
    renamed = await client.patch(
        f"{base}/{zone}", json={"name": "Hus C"}, headers=bearer(world, "site_admin")
    )
    assert renamed.status_code == 200 and renamed.json() == {"id": zone, "name": "Hus C"}
    deleted = await client.delete(f"{base}/{zone}", headers=bearer(world, "site_admin"))
    assert deleted.status_code == 204 and deleted.content == b""
    again = await client.delete(f"{base}/{zone}", headers=bearer(world, "site_admin"))
    assert code(again) == "zone.not_found"
    site = await client.get(f"{URL}/{world.sites['A']}", headers=bearer(world, "admin"))
    assert site.json()["zones"] == []
    async with world.database.session() as session:
        actions = (
            await session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.target == f"zone:{zone}")
                .order_by(AuditEntry.seq)
            )
        ).all()
    assert actions == ["zone.created", "zone.updated", "zone.deleted"]


async def test_zone_names_are_unique_per_site(client: httpx.AsyncClient, world: World) -> None:
    """The same name twice in a site is `zone.exists`; in another site it is fine."""
    first = await add_zone(client, world, "A", "Hus B")
    other = await add_zone(client, world, "A", "Hus C")
    await add_zone(client, world, "B", "Hus B")
    before = await rows(world)
    base = f"{URL}/{world.sites['A']}/zones"
    duplicate = await client.post(base, json={"name": "hus b"}, headers=bearer(world, "admin"))
    assert duplicate.status_code == 409 and code(duplicate) == "zone.exists"
    clash = await client.patch(
        f"{base}/{other}", json={"name": "Hus B"}, headers=bearer(world, "admin")
    )
    assert code(clash) == "zone.exists"
    same = await client.patch(
        f"{base}/{first}", json={"name": "Hus B"}, headers=bearer(world, "admin")
    )
    assert same.status_code == 200
    assert (await rows(world))["zones"] == before["zones"]


async def test_zones_out_of_reach(client: httpx.AsyncClient, world: World) -> None:
    """A zone through the wrong site is not found; another organization's site is not found."""
    zone = await add_zone(client, world, "A", "Hus B")
    before = await rows(world)
    wrong_site = f"{URL}/{world.sites['B']}/zones/{zone}"
    assert code(
        await client.patch(wrong_site, json={"name": "X"}, headers=bearer(world, "admin"))
    ) == ("zone.not_found")
    assert code(await client.delete(wrong_site, headers=bearer(world, "admin"))) == "zone.not_found"
    theirs = f"{URL}/{world.sites['A']}/zones/{zone}"
    assert code(await client.delete(theirs, headers=bearer(world, "stranger"))) == "site.not_found"
    assert (
        code(
            await client.post(
                f"{URL}/{world.sites['A']}/zones",
                json={"name": "Z"},
                headers=bearer(world, "stranger"),
            )
        )
        == "site.not_found"
    )
    assert await rows(world) == before


@pytest.mark.parametrize("who", ["principal", "staff", "chief", "desk", "button"])
async def test_zone_changes_need_manage_sites(
    client: httpx.AsyncClient, world: World, who: str
) -> None:
    """Creating, renaming and deleting zones is forbidden to non-managers."""
    zone = await add_zone(client, world, "A", "Hus B")
    before = await rows(world)
    base = f"{URL}/{world.sites['A']}/zones"
    headers = bearer(world, who)
    answers = [
        await client.post(base, json={"name": "Hus D"}, headers=headers),
        await client.patch(f"{base}/{zone}", json={"name": "Hus D"}, headers=headers),
        await client.delete(f"{base}/{zone}", headers=headers),
    ]
    assert [code(answer) for answer in answers] == ["auth.forbidden"] * 3
    assert await rows(world) == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{", "request.malformed_json"),
        (b"{}", "request.invalid"),
        (b'{"name": " "}', "request.invalid"),
        (b'{"name": ["Hus"]}', "request.invalid"),
        (b'{"name": "Hus", "floor": 2}', "request.unknown_field"),
    ],
)
async def test_bad_zone_bodies(
    client: httpx.AsyncClient, world: World, content: bytes, expected: str
) -> None:
    """Bad zone bodies, for creating and for renaming, change nothing."""
    zone = await add_zone(client, world, "A", "Hus B")
    before = await rows(world)
    headers = {**bearer(world, "admin"), "Content-Type": "application/json"}
    base = f"{URL}/{world.sites['A']}/zones"
    assert code(await client.post(base, content=content, headers=headers)) == expected
    assert code(await client.patch(f"{base}/{zone}", content=content, headers=headers)) == expected
    assert await rows(world) == before
