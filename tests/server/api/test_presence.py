"""Device presence over HTTP: reachable now / unreachable per site, with every error path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from protocol.vocabulary import DeviceKind, Role
from server.clock import utcnow
from server.settings import Settings
from server.storage.database import Database
from server.storage.tables import AuditEntry, Device
from tests import factories
from tests.conftest import app_client
from tests.factories import World, bearer

PRESENCE = "/api/v1/presence"
DEVICE_FIELDS = {
    "id",
    "name",
    "kind",
    "zone_id",
    "person_id",
    "last_seen_at",
    "reachable",
    "connected",
    "push",
}


@dataclass
class Worlds:
    home: World
    other: World

    @property
    def database(self) -> Database:
        return self.home.database


async def seen(world: World, key: str, when: datetime | None) -> None:
    async with world.database.session() as session:
        await session.execute(
            update(Device)
            .where(Device.id == world.devices[key])
            # seen at `when` over a live connection held by some node
            .values(last_seen_at=when, connected_node=None if when is None else "node-1")
        )
        await session.commit()


@pytest.fixture
async def client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """These tests run on SQLite and on PostgreSQL."""
    async with app_client(settings, database) as http:
        yield http


@pytest.fixture
async def worlds(client: httpx.AsyncClient) -> Worlds:
    """Köping (sites A, B): devices seen just now, long ago, never, and a revoked one."""
    database = client.app.state.database  # type: ignore[attr-defined]
    home = await factories.organization(database)
    await factories.person(home, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.person(home, "principal_a", roles=((Role.PRINCIPAL, "A"),))
    await factories.person(home, "admin_b", roles=((Role.ADMIN, "B"),))
    await factories.person(home, "staff_a", roles=((Role.STAFF, "A"),))
    await factories.device(home, "phone_a", site="A", kind=DeviceKind.IOS, person_key="staff_a")
    await factories.device(home, "pc_a", site="A")
    await factories.device(home, "old_a", site="A")
    await factories.device(home, "revoked_a", site="A")
    await factories.device(home, "pc_b", site="B")
    await factories.api_key(home, "button", site="A")
    now = utcnow()
    await seen(home, "phone_a", now)
    await seen(home, "old_a", now - timedelta(hours=1))
    await seen(home, "revoked_a", now)
    await seen(home, "pc_b", now)
    async with database.session() as session:
        await session.execute(
            update(Device).where(Device.id == home.devices["revoked_a"]).values(revoked_at=now)
        )
        await session.commit()
    other = await factories.organization(database, name="Arboga")
    await factories.person(other, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.device(other, "pc", site="A")
    return Worlds(home=home, other=other)


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def _audit_count(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


async def test_chief_sees_every_site_with_counts_and_devices(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Per site: reachable/unreachable counts and devices, reachable first; revoked omitted."""
    home = worlds.home
    response = await client.get(PRESENCE, headers=bearer(home, "chief"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"at", "stale_after_s", "sites"}
    assert body["stale_after_s"] == 2.5 * client.app.state.settings.heartbeat_seconds  # type: ignore[attr-defined]
    site_a, site_b = body["sites"]
    assert (site_a["site_id"], site_a["name"]) == (home.sites["A"], "A")
    assert (site_a["reachable"], site_a["unreachable"]) == (1, 2)
    assert [(d["name"], d["reachable"]) for d in site_a["devices"]] == [
        ("phone_a", True),
        ("old_a", False),
        ("pc_a", False),
    ]
    phone = site_a["devices"][0]
    assert set(phone) == DEVICE_FIELDS
    assert phone["kind"] == "ios" and phone["person_id"] == home.persons["staff_a"]
    assert phone["last_seen_at"] is not None and site_a["devices"][2]["last_seen_at"] is None
    assert (site_b["site_id"], site_b["reachable"], site_b["unreachable"]) == (
        home.sites["B"],
        1,
        0,
    )


async def test_site_id_narrows_to_one_site(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """?site_id= answers that site only."""
    home = worlds.home
    response = await client.get(
        PRESENCE, params={"site_id": home.sites["B"]}, headers=bearer(home, "chief")
    )
    assert response.status_code == 200
    assert [site["site_id"] for site in response.json()["sites"]] == [home.sites["B"]]


async def test_each_role_sees_its_own_sites(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """A principal of A (VIEW_ROLLCALL) sees A; an admin of B (MANAGE_DEVICES) sees B."""
    home = worlds.home
    for key, site in (("principal_a", "A"), ("admin_b", "B")):
        response = await client.get(PRESENCE, headers=bearer(home, key))
        assert response.status_code == 200
        assert [s["site_id"] for s in response.json()["sites"]] == [home.sites[site]]


async def test_a_site_without_the_right_is_forbidden(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """A principal of A asking for B: 403, nothing changed."""
    home = worlds.home
    before = await _audit_count(worlds.database)
    response = await client.get(
        PRESENCE, params={"site_id": home.sites["B"]}, headers=bearer(home, "principal_a")
    )
    assert _error(response) == (403, "auth.forbidden")
    assert await _audit_count(worlds.database) == before


@pytest.mark.parametrize("key", ["staff_a", "phone_a", "button"])
async def test_callers_without_any_right_are_forbidden(
    client: httpx.AsyncClient, worlds: Worlds, key: str
) -> None:
    """Staff, devices and API keys may not look at presence."""
    response = await client.get(PRESENCE, headers=bearer(worlds.home, key))
    assert _error(response) == (403, "auth.forbidden")


async def test_other_organizations_and_unknown_sites_are_not_found(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Arboga's site id and a non-existing id both answer site.not_found."""
    for site_id in (worlds.other.sites["A"], 999_999):
        response = await client.get(
            PRESENCE, params={"site_id": site_id}, headers=bearer(worlds.home, "chief")
        )
        assert _error(response) == (404, "site.not_found")


async def test_other_organization_sees_only_its_own_devices(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Arboga's chief gets Arboga's sites and device, none of Köping's."""
    response = await client.get(PRESENCE, headers=bearer(worlds.other, "chief"))
    assert response.status_code == 200
    body = response.json()
    assert [site["site_id"] for site in body["sites"]] == list(worlds.other.sites.values())
    names = [d["name"] for site in body["sites"] for d in site["devices"]]
    assert names == ["pc"]


@pytest.mark.parametrize("bad", ["abc", "0", "-3", str(2**31), "1.5"])
async def test_malformed_site_ids_are_invalid(
    client: httpx.AsyncClient, worlds: Worlds, bad: str
) -> None:
    """site_id must be a positive 32-bit integer: 422 request.invalid."""
    response = await client.get(
        PRESENCE, params={"site_id": bad}, headers=bearer(worlds.home, "chief")
    )
    assert _error(response) == (422, "request.invalid")


async def test_unauthenticated_and_invalid_tokens_are_refused(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """No credentials: auth.required; an unknown or revoked token: auth.invalid_token."""
    assert _error(await client.get(PRESENCE)) == (401, "auth.required")
    wrong = {"Authorization": "Bearer pdvd_unknown"}
    assert _error(await client.get(PRESENCE, headers=wrong)) == (401, "auth.invalid_token")
    revoked = bearer(worlds.home, "revoked_a")
    assert _error(await client.get(PRESENCE, headers=revoked)) == (401, "auth.invalid_token")


async def test_presence_is_read_only(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """POST answers 405 and changes nothing."""
    before = await _audit_count(worlds.database)
    response = await client.post(PRESENCE, json={}, headers=bearer(worlds.home, "chief"))
    assert _error(response) == (405, "request.method_not_allowed")
    assert await _audit_count(worlds.database) == before


async def test_presence_shows_push_state_and_push_reaches_without_a_socket(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """A web device never connected whose last push was delivered is reachable; an iPad
    whose last push failed is not, with the reason; the site counts devices by push state."""
    home = worlds.home
    await factories.device(home, "web_a", site="A", kind=DeviceKind.WEB)
    await factories.device(home, "ipad_a", site="A", kind=DeviceKind.IOS)
    await factories.push_registration(home, "web_a")
    await factories.push_registration(home, "ipad_a", type="apns")
    response = await client.post(
        "/api/v1/alerts",
        json={"kind": "pdv_lockdown", "mode": "test", "site_ids": [home.sites["A"]]},
        headers=bearer(home, "chief"),
    )
    assert response.status_code == 201, response.text
    alert_id = response.json()["alert"]["id"]
    await factories.push_delivery(home, "web_a", alert_id=alert_id, seq=1, state="delivered")
    await factories.push_delivery(
        home, "ipad_a", alert_id=alert_id, seq=1, state="failed", last_result="Unregistered"
    )
    response = await client.get(
        PRESENCE, params={"site_id": home.sites["A"]}, headers=bearer(home, "principal_a")
    )
    assert response.status_code == 200, response.text
    [site] = response.json()["sites"]
    assert (site["reachable"], site["unreachable"]) == (2, 3)
    assert site["push"] == {"queued": 0, "sent": 0, "delivered": 1, "receipted": 0, "failed": 1}
    devices = {d["name"]: d for d in site["devices"]}
    web = devices["web_a"]
    assert (web["reachable"], web["connected"]) == (True, False)
    assert web["push"]["type"] == "webpush" and web["push"]["state"] == "delivered"
    assert web["push"]["alert_id"] == alert_id and web["push"]["seq"] == 1
    ipad = devices["ipad_a"]
    assert (ipad["reachable"], ipad["push"]["state"]) == (False, "failed")
    assert ipad["push"]["reason"] == "Unregistered"
    phone = devices["phone_a"]
    assert (phone["reachable"], phone["connected"], phone["push"]) == (True, True, None)
