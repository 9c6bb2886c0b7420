"""API keys over HTTP: creating, listing and revoking integration keys."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from server.credentials import token_hash
from server.storage.tables import ApiKey, AuditEntry
from tests import factories
from tests.factories import World
from tests.server.api.worlds import Worlds, count, error, staffed_worlds

KEYS = "/api/v1/api-keys"
SELF = "/api/v1/devices/self"  # any authenticated endpoint: a live key gets 403, a dead one 401


@pytest.fixture
async def worlds(client: httpx.AsyncClient) -> Worlds:
    """Köping (sites A, B) with one person per role and a device; Arboga with its admin."""
    return await staffed_worlds(client)


async def _create(
    client: httpx.AsyncClient, world: World, caller: str = "admin", **body: Any
) -> httpx.Response:
    body.setdefault("site_id", world.sites["A"])
    body.setdefault("name", "Panikknapp reception")
    return await client.post(KEYS, json=body, headers=factories.bearer(world, caller))


async def _new_key(client: httpx.AsyncClient, world: World, **body: Any) -> dict[str, Any]:
    response = await _create(client, world, **body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def _revoke(
    client: httpx.AsyncClient, world: World, key_id: int, key: str = "admin"
) -> httpx.Response:
    return await client.post(f"{KEYS}/{key_id}/revoke", headers=factories.bearer(world, key))


async def test_admin_creates_a_key_shown_once(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """201 with the pdvk_ key, its prefix and the default kind; only the hash is stored and
    the creation is audited without the key."""
    response = await _create(client, worlds.home)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "site_id", "kind", "prefix", "key", "created_at"}
    assert body["key"].startswith("pdvk_") and body["prefix"] == body["key"][:12]
    assert (body["name"], body["site_id"], body["kind"]) == (
        "Panikknapp reception",
        worlds.home.sites["A"],
        "pdv_lockdown",
    )
    async with worlds.database.session() as session:
        row = await session.get_one(ApiKey, body["id"])
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "api_key.created")
        )
    assert row.key_hash == token_hash(body["key"])
    assert row.created_by == worlds.home.persons["admin"]
    assert entry is not None and body["key"] not in str(entry.details)


async def test_created_key_authenticates(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """The new key is a valid bearer (an endpoint it may not use answers 403, not 401)."""
    body = await _new_key(client, worlds.home, kind="evacuate")
    assert body["kind"] == "evacuate"
    response = await client.get(SELF, headers={"Authorization": f"Bearer {body['key']}"})
    assert (response.status_code, error(response)) == (403, "auth.forbidden")


async def test_site_admin_creates_keys_only_for_their_site(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """An admin of site B may create keys for B but not for A."""
    response = await _create(client, worlds.home, "site_admin", site_id=worlds.home.sites["A"])
    assert (response.status_code, error(response)) == (403, "auth.forbidden")
    response = await _create(client, worlds.home, "site_admin", site_id=worlds.home.sites["B"])
    assert response.status_code == 201
    assert await count(worlds.database, ApiKey) == 1


@pytest.mark.parametrize("key", ["staff", "principal", "chief", "desk"])
async def test_only_device_managers_create_keys(
    client: httpx.AsyncClient, worlds: Worlds, key: str
) -> None:
    """Staff, principals, security chiefs and devices get 403 and nothing is stored."""
    response = await _create(client, worlds.home, key)
    assert (response.status_code, error(response)) == (403, "auth.forbidden")
    assert await count(worlds.database, ApiKey) == 0
    assert await count(worlds.database, AuditEntry) == 0


async def test_create_needs_a_login(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """No credentials: 401 and nothing stored."""
    response = await client.post(KEYS, json={"site_id": worlds.home.sites["A"], "name": "x"})
    assert (response.status_code, error(response)) == (401, "auth.required")
    assert await count(worlds.database, ApiKey) == 0


async def test_create_for_another_organizations_site(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Another organization's site and an unknown site answer 404 site.not_found."""
    for site_id in (worlds.other.sites["A"], 999_999):
        response = await _create(client, worlds.home, site_id=site_id)
        assert (response.status_code, error(response)) == (404, "site.not_found")
    assert await count(worlds.database, ApiKey) == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"kind": "custom"}, "request.invalid"),
        ({"kind": "party"}, "request.invalid"),
        ({"name": ""}, "request.invalid"),
        ({"name": "x" * 201}, "request.invalid"),
        ({"name": None}, "request.invalid"),
        ({"site_id": "A"}, "request.invalid"),
        ({"site_id": 2**40}, "request.invalid"),
        ({"prefix": "pdvk_mine"}, "request.unknown_field"),
        ({"key": "pdvk_chosen"}, "request.unknown_field"),
    ],
)
async def test_create_rejects_invalid_bodies(
    client: httpx.AsyncClient, worlds: Worlds, body: dict[str, Any], code: str
) -> None:
    """Bad kinds, names and ids are 422 request.invalid; unknown fields (a chosen key) are
    422 request.unknown_field; nothing is stored."""
    response = await _create(client, worlds.home, **body)
    assert (response.status_code, error(response)) == (422, code)
    assert await count(worlds.database, ApiKey) == 0


async def test_create_rejects_broken_json_and_missing_fields(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Broken JSON is 400; a body without a name is 422."""
    headers = factories.bearer(worlds.home, "admin")
    response = await client.post(
        KEYS, content=b'{"name":', headers={**headers, "Content-Type": "application/json"}
    )
    assert (response.status_code, error(response)) == (400, "request.malformed_json")
    response = await client.post(KEYS, json={"site_id": worlds.home.sites["A"]}, headers=headers)
    assert (response.status_code, error(response)) == (422, "request.invalid")
    assert await count(worlds.database, ApiKey) == 0


async def test_list_keys(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """Keys of the organization are listed with prefix and never the key; a site admin sees
    only their site; site_id narrows; another organization's site is 404."""
    key_a = await _new_key(client, worlds.home)
    key_b = await _new_key(client, worlds.home, site_id=worlds.home.sites["B"], name="Knapp B")
    await _new_key(client, worlds.other)
    response = await client.get(KEYS, headers=factories.bearer(worlds.home, "admin"))
    assert response.status_code == 200
    listed = response.json()
    assert [item["id"] for item in listed] == [key_a["id"], key_b["id"]]
    assert set(listed[0]) == {
        "id", "name", "site_id", "kind", "prefix", "created_at", "revoked_at", "last_used_at",
    }  # fmt: skip
    assert listed[0]["prefix"] == key_a["prefix"]
    assert key_a["key"] not in response.text and key_b["key"] not in response.text
    response = await client.get(KEYS, headers=factories.bearer(worlds.home, "site_admin"))
    assert [item["id"] for item in response.json()] == [key_b["id"]]
    response = await client.get(
        KEYS,
        params={"site_id": worlds.home.sites["A"]},
        headers=factories.bearer(worlds.home, "admin"),
    )
    assert [item["id"] for item in response.json()] == [key_a["id"]]
    response = await client.get(
        KEYS,
        params={"site_id": worlds.other.sites["A"]},
        headers=factories.bearer(worlds.home, "admin"),
    )
    assert (response.status_code, error(response)) == (404, "site.not_found")


@pytest.mark.parametrize("key", ["staff", "principal", "chief", "desk"])
async def test_list_needs_device_management(
    client: httpx.AsyncClient, worlds: Worlds, key: str
) -> None:
    """Without MANAGE_DEVICES the list answers 403."""
    response = await client.get(KEYS, headers=factories.bearer(worlds.home, key))
    assert (response.status_code, error(response)) == (403, "auth.forbidden")


async def test_revoke_stops_the_key(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """A revoked key answers auth.invalid_token at once; the revocation is audited and
    listed."""
    key = await _new_key(client, worlds.home)
    response = await _revoke(client, worlds.home, key["id"])
    assert response.status_code == 200
    assert response.json()["id"] == key["id"] and response.json()["revoked_at"] is not None
    assert "key" not in response.json()
    response = await client.get(SELF, headers={"Authorization": f"Bearer {key['key']}"})
    assert (response.status_code, error(response)) == (401, "auth.invalid_token")
    listed = (await client.get(KEYS, headers=factories.bearer(worlds.home, "admin"))).json()
    assert listed[0]["revoked_at"] is not None
    assert await count(worlds.database, AuditEntry, AuditEntry.action == "api_key.revoked") == 1


async def test_revoke_twice(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """A second revoke answers 409 api_key.revoked and audits nothing more."""
    key = await _new_key(client, worlds.home)
    assert (await _revoke(client, worlds.home, key["id"])).status_code == 200
    response = await _revoke(client, worlds.home, key["id"])
    assert (response.status_code, error(response)) == (409, "api_key.revoked")
    assert await count(worlds.database, AuditEntry, AuditEntry.action == "api_key.revoked") == 1


async def test_revoke_refuses_others(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """Another organization's key and unknown ids are 404; staff, principals, chiefs,
    devices and another site's admin get 403; no login 401; the key keeps working."""
    key = await _new_key(client, worlds.home)
    foreign = await _new_key(client, worlds.other)
    for key_id in (foreign["id"], 999_999):
        response = await _revoke(client, worlds.home, key_id)
        assert (response.status_code, error(response)) == (404, "api_key.not_found")
    for caller in ("staff", "principal", "chief", "desk", "site_admin"):
        response = await _revoke(client, worlds.home, key["id"], caller)
        assert (response.status_code, error(response)) == (403, "auth.forbidden"), caller
    response = await client.post(f"{KEYS}/{key['id']}/revoke")
    assert (response.status_code, error(response)) == (401, "auth.required")
    response = await client.post(
        f"{KEYS}/{key['id']}/revoke", headers={"Authorization": f"Bearer {key['key']}"}
    )
    assert (response.status_code, error(response)) == (403, "auth.forbidden")
    assert await count(worlds.database, ApiKey, ApiKey.revoked_at.is_not(None)) == 0
    for live in (key["key"], foreign["key"]):
        response = await client.get(SELF, headers={"Authorization": f"Bearer {live}"})
        assert response.status_code == 403
