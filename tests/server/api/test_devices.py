"""Devices over HTTP: listing, showing, changing and revoking them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from protocol.vocabulary import DeviceKind, Role
from server.clock import utcnow
from server.services.sink import NullSink, RecordingSink
from server.storage.database import Database
from server.storage.tables import AuditEntry, Device, Zone
from tests import factories
from tests.factories import World
from tests.server.api.worlds import Worlds, add_people, error

DEVICES = "/api/v1/devices"
SELF = "/api/v1/devices/self"
DEVICE_FIELDS = {
    "id", "name", "kind", "site_id", "zone_id", "person_id", "created_at", "revoked_at",
    "last_seen_at", "client_version", "push",
}  # fmt: skip


@pytest.fixture
async def worlds(client: httpx.AsyncClient) -> Worlds:
    """Köping (sites A, B) with one person per role and devices at A and B; Arboga with its
    own admin and device."""
    database = client.app.state.database  # type: ignore[attr-defined]
    home = await factories.organization(database)
    await add_people(home)
    await factories.device(home, "desk_a", site="A")
    await factories.device(home, "phone_a", site="A", kind=DeviceKind.IOS, person_key="staff")
    await factories.device(home, "desk_b", site="B")
    await factories.api_key(home, "button", site="A")
    other = await factories.organization(database, name="Arboga")
    await factories.person(other, "admin", roles=((Role.ADMIN, None),))
    await factories.device(other, "desk", site="A")
    return Worlds(home=home, other=other)


async def _audit_count(database: Database, action: str | None = None) -> int:
    async with database.session() as session:
        query = select(func.count()).select_from(AuditEntry)
        if action:
            query = query.where(AuditEntry.action == action)
        return int(await session.scalar(query) or 0)


async def _row(database: Database, device_id: int) -> Device:
    async with database.session() as session:
        return await session.get_one(Device, device_id)


async def _zone(world: World, site: str, name: str) -> int:
    async with world.database.session() as session:
        zone = Zone(
            organization_id=world.organization_id,
            site_id=world.sites[site],
            name=name,
            created_at=utcnow(),
        )
        session.add(zone)
        await session.commit()
        return zone.id


async def _ids(client: httpx.AsyncClient, world: World, key: str, **params: Any) -> list[int]:
    response = await client.get(DEVICES, params=params, headers=factories.bearer(world, key))
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


async def _revoke(
    client: httpx.AsyncClient, world: World, device_id: int, key: str = "admin"
) -> httpx.Response:
    return await client.post(f"{DEVICES}/{device_id}/revoke", headers=factories.bearer(world, key))


# --- listing ------------------------------------------------------------------------------


async def test_admin_lists_the_organizations_devices(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Every device of the organization, none of another, with the documented fields and
    never a token."""
    devices = worlds.home.devices
    response = await client.get(DEVICES, headers=factories.bearer(worlds.home, "admin"))
    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body] == [
        devices["desk_a"],
        devices["phone_a"],
        devices["desk_b"],
    ]
    assert all(set(item) == DEVICE_FIELDS for item in body)
    assert body[1]["person_id"] == worlds.home.persons["staff"] and body[1]["kind"] == "ios"
    assert worlds.home.tokens["desk_a"] not in response.text


async def test_list_filters(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """site_id, kind and revoked narrow the list."""
    devices = worlds.home.devices
    assert await _ids(client, worlds.home, "admin", site_id=worlds.home.sites["B"]) == [
        devices["desk_b"]
    ]
    assert await _ids(client, worlds.home, "admin", kind="ios") == [devices["phone_a"]]
    assert (await _revoke(client, worlds.home, devices["desk_a"])).status_code == 200
    assert await _ids(client, worlds.home, "admin", revoked="true") == [devices["desk_a"]]
    assert await _ids(client, worlds.home, "admin", revoked="false") == [
        devices["phone_a"],
        devices["desk_b"],
    ]
    assert len(await _ids(client, worlds.home, "admin")) == 3


async def test_leaders_list_devices_of_their_sites(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Security chiefs see every site (roll call rights); a principal of A only A; a site
    admin of B only B."""
    devices = worlds.home.devices
    assert len(await _ids(client, worlds.home, "chief")) == 3
    assert await _ids(client, worlds.home, "principal") == [devices["desk_a"], devices["phone_a"]]
    assert await _ids(client, worlds.home, "site_admin") == [devices["desk_b"]]


@pytest.mark.parametrize("key", ["staff", "desk_a", "button"])
async def test_list_refuses_staff_devices_and_keys(
    client: httpx.AsyncClient, worlds: Worlds, key: str
) -> None:
    """Staff, devices and API keys may not list devices."""
    response = await client.get(DEVICES, headers=factories.bearer(worlds.home, key))
    assert (response.status_code, error(response)) == (403, "auth.forbidden")


async def test_list_refuses_bad_filters(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """Another organization's site is 404, a site the caller may not see is 403, wrongly
    typed filters are 422, and no login is 401."""
    headers = factories.bearer(worlds.home, "principal")
    cases = [
        ({"site_id": worlds.other.sites["A"]}, 404, "site.not_found"),
        ({"site_id": worlds.home.sites["B"]}, 403, "auth.forbidden"),
        ({"kind": "phone"}, 422, "request.invalid"),
        ({"revoked": "maybe"}, 422, "request.invalid"),
        ({"site_id": "A"}, 422, "request.invalid"),
    ]
    for params, status, code in cases:
        response = await client.get(DEVICES, params=params, headers=headers)
        assert (response.status_code, error(response)) == (status, code), params
    response = await client.get(DEVICES)
    assert (response.status_code, error(response)) == (401, "auth.required")


# --- showing ------------------------------------------------------------------------------


async def test_get_one_device(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """An admin and the site's principal see the device; staff and another site's principal
    get 403; another organization's device is 404."""
    device_id = worlds.home.devices["desk_a"]
    for key in ("admin", "principal", "chief"):
        response = await client.get(
            f"{DEVICES}/{device_id}", headers=factories.bearer(worlds.home, key)
        )
        assert response.status_code == 200 and response.json()["id"] == device_id
    response = await client.get(
        f"{DEVICES}/{worlds.home.devices['desk_b']}",
        headers=factories.bearer(worlds.home, "principal"),
    )
    assert (response.status_code, error(response)) == (403, "auth.forbidden")
    response = await client.get(
        f"{DEVICES}/{device_id}", headers=factories.bearer(worlds.home, "staff")
    )
    assert (response.status_code, error(response)) == (403, "auth.forbidden")
    for missing in (worlds.other.devices["desk"], 999_999):
        response = await client.get(
            f"{DEVICES}/{missing}", headers=factories.bearer(worlds.home, "admin")
        )
        assert (response.status_code, error(response)) == (404, "device.not_found")
    response = await client.get(
        f"{DEVICES}/{2**40}", headers=factories.bearer(worlds.home, "admin")
    )
    assert (response.status_code, error(response)) == (422, "request.invalid")


async def test_device_reads_its_own_record(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """/devices/self answers the calling device; persons and API keys get 403."""
    response = await client.get(SELF, headers=factories.bearer(worlds.home, "phone_a"))
    assert response.status_code == 200
    assert response.json()["id"] == worlds.home.devices["phone_a"]
    for key in ("admin", "button"):
        response = await client.get(SELF, headers=factories.bearer(worlds.home, key))
        assert (response.status_code, error(response)) == (403, "auth.forbidden")
    response = await client.get(SELF)
    assert (response.status_code, error(response)) == (401, "auth.required")


# --- changing -----------------------------------------------------------------------------


async def _patch(
    client: httpx.AsyncClient, world: World, device_id: int, body: Any, key: str = "admin"
) -> httpx.Response:
    return await client.patch(
        f"{DEVICES}/{device_id}", json=body, headers=factories.bearer(world, key)
    )


async def test_patch_renames_moves_and_binds(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """Name, zone and person change; each change is audited; null clears zone and person."""
    device_id = worlds.home.devices["desk_a"]
    zone_id = await _zone(worlds.home, "A", "Hus B")
    body = {"name": "Expeditionen", "zone_id": zone_id, "person_id": worlds.home.persons["staff"]}
    response = await _patch(client, worlds.home, device_id, body)
    assert response.status_code == 200
    assert {key: response.json()[key] for key in body} == body
    response = await _patch(client, worlds.home, device_id, {"zone_id": None, "person_id": None})
    assert (response.json()["zone_id"], response.json()["person_id"]) == (None, None)
    assert response.json()["name"] == "Expeditionen"
    row = await _row(worlds.database, device_id)
    assert (row.name, row.zone_id, row.person_id) == ("Expeditionen", None, None)
    assert await _audit_count(worlds.database, "device.updated") == 2


async def test_patch_with_nothing_changes_nothing(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """An empty body or the same values answer 200 and write no audit entry."""
    device_id = worlds.home.devices["desk_a"]
    assert (await _patch(client, worlds.home, device_id, {})).status_code == 200
    assert (await _patch(client, worlds.home, device_id, {"name": "desk_a"})).status_code == 200
    assert await _audit_count(worlds.database) == 0


async def test_patch_refuses_foreign_zones_and_persons(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """A zone of another site and a person of another organization are 404; nothing changes."""
    device_id = worlds.home.devices["desk_a"]
    zone_b = await _zone(worlds.home, "B", "Hus C")
    stranger = await factories.person(worlds.other, "stranger")
    response = await _patch(client, worlds.home, device_id, {"zone_id": zone_b, "name": "Ny"})
    assert (response.status_code, error(response)) == (404, "zone.not_found")
    response = await _patch(client, worlds.home, device_id, {"person_id": stranger})
    assert (response.status_code, error(response)) == (404, "person.not_found")
    row = await _row(worlds.database, device_id)
    assert (row.name, row.zone_id, row.person_id) == ("desk_a", None, None)
    assert await _audit_count(worlds.database) == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": None}, "request.invalid"),
        ({"name": ""}, "request.invalid"),
        ({"name": "x" * 201}, "request.invalid"),
        ({"name": 5}, "request.invalid"),
        ({"zone_id": "Hus B"}, "request.invalid"),
        ({"person_id": 0}, "request.invalid"),
        ({"site_id": 1}, "request.unknown_field"),
        ({"kind": "web"}, "request.unknown_field"),
        ([1, 2], "request.invalid"),
    ],
)
async def test_patch_rejects_invalid_bodies(
    client: httpx.AsyncClient, worlds: Worlds, body: Any, code: str
) -> None:
    """Null or bad names, wrongly typed ids and unknown fields are 422; nothing changes."""
    device_id = worlds.home.devices["desk_a"]
    response = await _patch(client, worlds.home, device_id, body)
    assert (response.status_code, error(response)) == (422, code)
    assert (await _row(worlds.database, device_id)).name == "desk_a"


async def test_patch_rejects_broken_json(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """Broken JSON is 400 request.malformed_json."""
    response = await client.patch(
        f"{DEVICES}/{worlds.home.devices['desk_a']}",
        content=b'{"name": "x"',
        headers={**factories.bearer(worlds.home, "admin"), "Content-Type": "application/json"},
    )
    assert (response.status_code, error(response)) == (400, "request.malformed_json")


async def test_patch_refuses_non_managers_and_other_organizations(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Principals, chiefs, staff, devices and another site's admin get 403; another
    organization's device is 404; nothing changes."""
    device_id = worlds.home.devices["desk_a"]
    for key in ("principal", "chief", "staff", "desk_a", "site_admin", "button"):
        response = await _patch(client, worlds.home, device_id, {"name": "Hacked"}, key)
        assert (response.status_code, error(response)) == (403, "auth.forbidden"), key
    response = await _patch(client, worlds.home, worlds.other.devices["desk"], {"name": "Hacked"})
    assert (response.status_code, error(response)) == (404, "device.not_found")
    assert (await _row(worlds.database, device_id)).name == "desk_a"
    assert (await _row(worlds.database, worlds.other.devices["desk"])).name == "desk"


# --- revoking -----------------------------------------------------------------------------


async def test_revoke_stops_the_token_at_once(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """After revoking, the device's token answers auth.invalid_token everywhere; the
    revocation is audited."""
    device_id = worlds.home.devices["desk_a"]
    headers = factories.bearer(worlds.home, "desk_a")
    assert (await client.get(SELF, headers=headers)).status_code == 200
    response = await _revoke(client, worlds.home, device_id)
    assert response.status_code == 200
    assert response.json()["id"] == device_id and response.json()["revoked_at"] is not None
    for path in (SELF, "/api/v1/sites"):
        response = await client.get(path, headers=headers)
        assert (response.status_code, error(response)) == (401, "auth.invalid_token"), path
    assert await _audit_count(worlds.database, "device.revoked") == 1


async def test_revoke_twice(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """A second revoke answers 409 device.revoked and keeps the first revocation time."""
    device_id = worlds.home.devices["desk_b"]
    first = (await _revoke(client, worlds.home, device_id)).json()["revoked_at"]
    response = await _revoke(client, worlds.home, device_id, "site_admin")
    assert (response.status_code, error(response)) == (409, "device.revoked")
    row = await _row(worlds.database, device_id)
    assert row.revoked_at is not None and row.revoked_at.isoformat() == first.replace("Z", "+00:00")
    assert await _audit_count(worlds.database, "device.revoked") == 1


async def test_revoke_tells_the_realtime_hub(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """The app's sink hears `device_revoked` with the device id after the commit; a failing
    sink does not undo or fail the revocation."""
    closed: list[int] = []

    class Recording(NullSink):
        async def device_revoked(self, device_id: int) -> None:
            row = await _row(worlds.database, device_id)
            assert row.revoked_at is not None  # committed before the hub is told
            closed.append(device_id)

    client.app.state.sink = Recording()  # type: ignore[attr-defined]
    assert (await _revoke(client, worlds.home, worlds.home.devices["desk_a"])).status_code == 200
    assert closed == [worlds.home.devices["desk_a"]]

    client.app.state.sink = RecordingSink(fail=RuntimeError("hub is down"))  # type: ignore[attr-defined]
    response = await _revoke(client, worlds.home, worlds.home.devices["desk_b"])
    assert response.status_code == 200
    assert (await _row(worlds.database, worlds.home.devices["desk_b"])).revoked_at is not None


async def test_revoke_refuses_non_managers_and_other_organizations(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Principals, chiefs, staff, devices and another site's admin get 403, another
    organization's device 404, no login 401; every device keeps working."""
    device_id = worlds.home.devices["desk_a"]
    for key in ("principal", "chief", "staff", "desk_a", "site_admin", "button"):
        response = await _revoke(client, worlds.home, device_id, key)
        assert (response.status_code, error(response)) == (403, "auth.forbidden"), key
    response = await _revoke(client, worlds.home, worlds.other.devices["desk"])
    assert (response.status_code, error(response)) == (404, "device.not_found")
    response = await client.post(f"{DEVICES}/{device_id}/revoke")
    assert (response.status_code, error(response)) == (401, "auth.required")
    assert (await _row(worlds.database, device_id)).revoked_at is None
    assert (await _row(worlds.database, worlds.other.devices["desk"])).revoked_at is None
    assert await _audit_count(worlds.database) == 0
