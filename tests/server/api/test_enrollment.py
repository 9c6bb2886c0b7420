"""Enrollment codes over HTTP: creating, listing and revoking them, and enrolling devices."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from protocol.vocabulary import DeviceKind
from server.api.deps import SESSION_COOKIE
from server.clock import utcnow
from server.credentials import token_hash
from server.qr import qr_svg
from server.settings import Settings
from server.storage import enrollment
from server.storage.tables import AuditEntry, Device, EnrollmentCode, Zone
from tests import factories
from tests.factories import World
from tests.server.api.worlds import Worlds, count, error, staffed_worlds

CODES = "/api/v1/enrollment-codes"
ENROLL = "/api/v1/devices/enroll"
SELF = "/api/v1/devices/self"
CODE_PATTERN = r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}"


@pytest.fixture
async def worlds(client: httpx.AsyncClient) -> Worlds:
    """Köping (sites A, B) with one person per role, and Arboga with its own admin."""
    return await staffed_worlds(client)


async def _create(
    client: httpx.AsyncClient, world: World, key: str = "admin", **body: Any
) -> httpx.Response:
    body.setdefault("site_id", world.sites["A"])
    return await client.post(CODES, json=body, headers=factories.bearer(world, key))


async def _new_code(client: httpx.AsyncClient, world: World, **body: Any) -> dict[str, Any]:
    response = await _create(client, world, **body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def _enroll(
    client: httpx.AsyncClient,
    code: str,
    *,
    kind: str = "desktop",
    name: str = "Lärarrum 2",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    body = {"code": code, "kind": kind, "name": name, **extra}
    return await client.post(ENROLL, json=body, headers=headers or {})


# --- creating codes ---------------------------------------------------------------------


async def test_admin_creates_a_code_shown_once(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """201 with the plaintext code, defaults (1 use, any kind, 24 h) and an enroll URL; the
    database holds only the hash, and the creation is audited."""
    before = utcnow()
    response = await _create(client, worlds.home, label="Expeditionen")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id", "code", "site_id", "zone_id", "label", "device_kind", "max_uses", "uses",
        "expires_at", "enroll_url", "qr_svg",
    }  # fmt: skip
    assert re.fullmatch(CODE_PATTERN, body["code"])
    assert body["site_id"] == worlds.home.sites["A"] and body["zone_id"] is None
    assert (body["label"], body["device_kind"], body["max_uses"], body["uses"]) == (
        "Expeditionen",
        None,
        1,
        0,
    )
    expires = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(hours=24) <= expires <= utcnow() + timedelta(hours=24)
    assert body["enroll_url"] == f"http://testserver/enroll?code={body['code']}"
    assert body["qr_svg"] == qr_svg(body["enroll_url"])
    async with worlds.database.session() as session:
        row = await session.get_one(EnrollmentCode, body["id"])
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "enrollment_code.created")
        )
    assert row.code_hash == token_hash(body["code"])
    assert row.created_by == worlds.home.persons["admin"]
    assert entry is not None and entry.actor == f"person:{worlds.home.persons['admin']}"


async def test_enroll_url_uses_the_public_url(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """With PDV_PUBLIC_URL set, enroll_url is absolute (a QR code can carry it)."""
    client.app.state.settings = Settings(  # type: ignore[attr-defined]
        database_url="sqlite+aiosqlite:///unused.db", public_url="https://larm.koping.se/"
    )
    body = await _new_code(client, worlds.home)
    assert body["enroll_url"] == f"https://larm.koping.se/enroll?code={body['code']}"
    assert body["qr_svg"] == qr_svg(body["enroll_url"])


async def test_enroll_url_without_public_url_is_the_requests_own_address(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Without public_url the link is absolute on the address the browser used (scheme,
    host and port of the request), and the QR code carries exactly that link."""
    response = await client.post(
        f"https://larm.skola.se:8443{CODES}",
        json={"site_id": worlds.home.sites["A"]},
        headers=factories.bearer(worlds.home, "admin"),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["enroll_url"] == f"https://larm.skola.se:8443/enroll?code={body['code']}"
    assert body["qr_svg"].startswith("<svg") and body["qr_svg"] == qr_svg(body["enroll_url"])


async def test_create_with_every_option(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """Zone, device kind, uses and lifetime are kept."""
    async with worlds.database.session() as session:
        zone = Zone(
            organization_id=worlds.home.organization_id,
            site_id=worlds.home.sites["A"],
            name="Hus B",
            created_at=utcnow(),
        )
        session.add(zone)
        await session.commit()
    body = await _new_code(
        client,
        worlds.home,
        zone_id=zone.id,
        device_kind="ios",
        max_uses=1000,
        expires_in_hours=0.1,
    )
    assert (body["zone_id"], body["device_kind"], body["max_uses"]) == (zone.id, "ios", 1000)
    lifetime = datetime.fromisoformat(body["expires_at"]) - utcnow()
    assert timedelta(minutes=5) < lifetime <= timedelta(minutes=6)


async def test_site_admin_creates_codes_only_for_their_site(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """An admin of site B may create codes for B but not for A."""
    response = await _create(client, worlds.home, "site_admin", site_id=worlds.home.sites["A"])
    assert (response.status_code, error(response)) == (403, "auth.forbidden")
    response = await _create(client, worlds.home, "site_admin", site_id=worlds.home.sites["B"])
    assert response.status_code == 201
    assert await count(worlds.database, EnrollmentCode) == 1


@pytest.mark.parametrize("key", ["staff", "principal", "chief", "desk"])
async def test_only_device_managers_create_codes(
    client: httpx.AsyncClient, worlds: Worlds, key: str
) -> None:
    """Staff, principals, security chiefs and devices get 403 and nothing is stored."""
    response = await _create(client, worlds.home, key)
    assert (response.status_code, error(response)) == (403, "auth.forbidden")
    assert await count(worlds.database, EnrollmentCode) == 0
    assert await count(worlds.database, AuditEntry) == 0


async def test_create_needs_a_login(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """No credentials: 401 auth.required; a made-up token: 401 auth.invalid_token."""
    body = {"site_id": worlds.home.sites["A"]}
    response = await client.post(CODES, json=body)
    assert (response.status_code, error(response)) == (401, "auth.required")
    response = await client.post(CODES, json=body, headers={"Authorization": "Bearer pdvs_nope"})
    assert (response.status_code, error(response)) == (401, "auth.invalid_token")
    assert await count(worlds.database, EnrollmentCode) == 0


async def test_create_for_another_organizations_site_is_not_found(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Another organization's site and a site that does not exist both answer 404."""
    for site_id in (worlds.other.sites["A"], 999_999):
        response = await _create(client, worlds.home, site_id=site_id)
        assert (response.status_code, error(response)) == (404, "site.not_found")
    assert await count(worlds.database, EnrollmentCode) == 0


async def test_create_with_a_zone_of_another_site(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """A zone that is not in the code's site answers zone.not_found."""
    async with worlds.database.session() as session:
        zone = Zone(
            organization_id=worlds.home.organization_id,
            site_id=worlds.home.sites["B"],
            name="Hus C",
            created_at=utcnow(),
        )
        session.add(zone)
        await session.commit()
    response = await _create(client, worlds.home, zone_id=zone.id)
    assert (response.status_code, error(response)) == (404, "zone.not_found")
    assert await count(worlds.database, EnrollmentCode) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_uses", 0),
        ("max_uses", 1001),
        ("max_uses", "many"),
        ("expires_in_hours", 0.05),
        ("expires_in_hours", 721),
        ("device_kind", "phone"),
        ("label", "x" * 201),
        ("site_id", "A"),
        ("site_id", 2**40),
        ("zone_id", [1]),
    ],
)
async def test_create_rejects_invalid_values(
    client: httpx.AsyncClient, worlds: Worlds, field: str, value: Any
) -> None:
    """Out-of-range or wrongly typed values answer 422 request.invalid."""
    response = await _create(client, worlds.home, **{field: value})
    assert (response.status_code, error(response)) == (422, "request.invalid")
    assert await count(worlds.database, EnrollmentCode) == 0


async def test_create_rejects_unknown_fields_and_bad_json(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """An unknown field is 422 request.unknown_field; broken JSON is 400."""
    response = await _create(client, worlds.home, uses=5)
    assert (response.status_code, error(response)) == (422, "request.unknown_field")
    response = await client.post(
        CODES,
        content=b'{"site_id": ',
        headers={**factories.bearer(worlds.home, "admin"), "Content-Type": "application/json"},
    )
    assert (response.status_code, error(response)) == (400, "request.malformed_json")
    assert await count(worlds.database, EnrollmentCode) == 0


# --- listing and revoking codes ---------------------------------------------------------


async def _old_code(worlds: Worlds) -> int:
    """A code that expired an hour ago."""
    async with worlds.database.session() as session:
        row, _ = await enrollment.create_enrollment_code(
            session,
            organization_id=worlds.home.organization_id,
            site_id=worlds.home.sites["A"],
            expires_in=timedelta(hours=1),
            actor="system",
            now=utcnow() - timedelta(hours=2),
        )
        await session.commit()
        return row.id


async def test_list_shows_states_without_plaintext(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Codes are listed newest first with their state, and never with the code itself."""
    expired = await _old_code(worlds)
    used = await _new_code(client, worlds.home)
    assert (await _enroll(client, used["code"])).status_code == 201
    revoked = await _new_code(client, worlds.home)
    await client.delete(f"{CODES}/{revoked['id']}", headers=factories.bearer(worlds.home, "admin"))
    active = await _new_code(client, worlds.home, site_id=worlds.home.sites["B"])
    await _new_code(client, worlds.other)
    response = await client.get(CODES, headers=factories.bearer(worlds.home, "admin"))
    assert response.status_code == 200
    listed = response.json()
    assert [(item["id"], item["state"]) for item in listed] == [
        (active["id"], "active"),
        (revoked["id"], "revoked"),
        (used["id"], "used_up"),
        (expired, "expired"),
    ]
    assert set(listed[0]) == {
        "id", "site_id", "zone_id", "label", "device_kind", "max_uses", "uses", "expires_at",
        "created_at", "revoked_at", "state",
    }  # fmt: skip
    assert used["code"] not in response.text and active["code"] not in response.text


async def test_list_is_limited_to_managed_sites(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """A site admin sees only their site's codes; site_id narrows the list."""
    await _new_code(client, worlds.home, site_id=worlds.home.sites["A"])
    code_b = await _new_code(client, worlds.home, site_id=worlds.home.sites["B"])
    response = await client.get(CODES, headers=factories.bearer(worlds.home, "site_admin"))
    assert [item["id"] for item in response.json()] == [code_b["id"]]
    response = await client.get(
        CODES,
        params={"site_id": worlds.home.sites["B"]},
        headers=factories.bearer(worlds.home, "admin"),
    )
    assert [item["id"] for item in response.json()] == [code_b["id"]]
    response = await client.get(
        CODES,
        params={"site_id": worlds.home.sites["A"]},
        headers=factories.bearer(worlds.home, "site_admin"),
    )
    assert (response.status_code, error(response)) == (403, "auth.forbidden")
    response = await client.get(
        CODES,
        params={"site_id": worlds.other.sites["A"]},
        headers=factories.bearer(worlds.home, "admin"),
    )
    assert (response.status_code, error(response)) == (404, "site.not_found")


@pytest.mark.parametrize("key", ["staff", "principal", "chief", "desk"])
async def test_list_needs_device_management(
    client: httpx.AsyncClient, worlds: Worlds, key: str
) -> None:
    """Without MANAGE_DEVICES anywhere the list answers 403."""
    response = await client.get(CODES, headers=factories.bearer(worlds.home, key))
    assert (response.status_code, error(response)) == (403, "auth.forbidden")


async def test_list_needs_a_login(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """No credentials: 401."""
    response = await client.get(CODES)
    assert (response.status_code, error(response)) == (401, "auth.required")


async def test_revoke_stops_the_code(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """DELETE answers 204, is audited, is idempotent, and the code no longer enrolls."""
    code = await _new_code(client, worlds.home, max_uses=5)
    headers = factories.bearer(worlds.home, "admin")
    for _ in range(2):
        response = await client.delete(f"{CODES}/{code['id']}", headers=headers)
        assert response.status_code == 204 and response.content == b""
    response = await _enroll(client, code["code"])
    assert (response.status_code, error(response)) == (400, "enrollment.invalid_code")
    assert (
        await count(worlds.database, AuditEntry, AuditEntry.action == "enrollment_code.revoked")
        == 1
    )


async def test_revoke_refuses_others(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """Another organization's code and an unknown id answer 404; staff and another site's
    admin answer 403; the code stays usable."""
    code = await _new_code(client, worlds.home)
    other = await _new_code(client, worlds.other)
    response = await client.delete(
        f"{CODES}/{other['id']}", headers=factories.bearer(worlds.home, "admin")
    )
    assert (response.status_code, error(response)) == (404, "enrollment.not_found")
    response = await client.delete(
        f"{CODES}/999999", headers=factories.bearer(worlds.home, "admin")
    )
    assert (response.status_code, error(response)) == (404, "enrollment.not_found")
    for key in ("staff", "site_admin", "principal"):
        response = await client.delete(
            f"{CODES}/{code['id']}", headers=factories.bearer(worlds.home, key)
        )
        assert (response.status_code, error(response)) == (403, "auth.forbidden")
    response = await client.delete(f"{CODES}/{code['id']}")
    assert (response.status_code, error(response)) == (401, "auth.required")
    response = await client.delete(f"{CODES}/abc", headers=factories.bearer(worlds.home, "admin"))
    assert (response.status_code, error(response)) == (422, "request.invalid")
    assert (await _enroll(client, other["code"])).status_code == 201
    assert (await _enroll(client, code["code"])).status_code == 201


# --- enrolling ---------------------------------------------------------------------------


async def test_enroll_without_login(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """The code alone enrolls: 201 with the device and a token that works at once."""
    code = await _new_code(client, worlds.home, site_id=worlds.home.sites["B"])
    response = await _enroll(
        client, code["code"].lower(), kind="web", name="iPad", client_version="1.2.0"
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"device", "token"} and body["token"].startswith("pdvd_")
    device = body["device"]
    assert (device["kind"], device["name"], device["site_id"], device["person_id"]) == (
        "web",
        "iPad",
        worlds.home.sites["B"],
        None,
    )
    assert device["client_version"] == "1.2.0" and device["revoked_at"] is None
    response = await client.get(SELF, headers={"Authorization": f"Bearer {body['token']}"})
    assert response.status_code == 200 and response.json()["id"] == device["id"]
    async with worlds.database.session() as session:
        row = await session.get_one(Device, device["id"])
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "device.enrolled")
        )
    assert row.token_hash == token_hash(body["token"])
    assert entry is not None and entry.target == f"device:{device['id']}"


async def test_enroll_binds_the_logged_in_person(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """A session cookie or pdvs_ bearer of the code's organization binds the device."""
    code = await _new_code(client, worlds.home, max_uses=2)
    staff_token = worlds.home.tokens["staff"]
    response = await _enroll(
        client, code["code"], headers={"Cookie": f"{SESSION_COOKIE}={staff_token}"}
    )
    assert response.json()["device"]["person_id"] == worlds.home.persons["staff"]
    response = await _enroll(client, code["code"], headers=factories.bearer(worlds.home, "chief"))
    assert response.json()["device"]["person_id"] == worlds.home.persons["chief"]


async def test_enroll_ignores_foreign_or_invalid_sessions(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Another organization's person, an unknown session and a device token bind nobody,
    and do not stop the enrollment."""
    code = await _new_code(client, worlds.home, max_uses=4)
    for headers in (
        factories.bearer(worlds.other, "admin"),
        {"Cookie": f"{SESSION_COOKIE}=pdvs_unknown"},
        {"Authorization": "Bearer pdvs_unknown"},
        factories.bearer(worlds.home, "desk"),
    ):
        response = await _enroll(client, code["code"], headers=headers)
        assert response.status_code == 201, headers
        assert response.json()["device"]["person_id"] is None


async def test_enroll_with_a_used_code(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """The second enrollment with a one-use code answers invalid_code and adds no device."""
    code = await _new_code(client, worlds.home)
    assert (await _enroll(client, code["code"])).status_code == 201
    devices_before = await count(worlds.database, Device)
    response = await _enroll(client, code["code"])
    assert (response.status_code, error(response)) == (400, "enrollment.invalid_code")
    assert await count(worlds.database, Device) == devices_before


async def test_enroll_with_expired_or_unknown_codes(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Expired and unknown codes answer the same invalid_code."""
    expired = await _old_code(worlds)
    async with worlds.database.session() as session:
        row = await session.get_one(EnrollmentCode, expired)
        assert row.uses == 0
    for code in ("ABCD-EFGH-JKLM", "x"):
        response = await _enroll(client, code)
        assert (response.status_code, error(response)) == (400, "enrollment.invalid_code")
    assert await count(worlds.database, Device) == 1  # the fixture's own desktop


async def test_enroll_with_the_wrong_kind(client: httpx.AsyncClient, worlds: Worlds) -> None:
    """A desktop-only code refuses a phone without using the code up."""
    code = await _new_code(client, worlds.home, device_kind="desktop")
    response = await _enroll(client, code["code"], kind="ios")
    assert (response.status_code, error(response)) == (400, "enrollment.wrong_device_kind")
    async with worlds.database.session() as session:
        assert (await session.get_one(EnrollmentCode, code["id"])).uses == 0
    assert (await _enroll(client, code["code"], kind="desktop")).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"code": "ABCD-EFGH-JKLM", "kind": "phone", "name": "x"},
        {"code": "ABCD-EFGH-JKLM", "kind": "web", "name": ""},
        {"code": "ABCD-EFGH-JKLM", "kind": "web"},
        {"code": "", "kind": "web", "name": "x"},
        {"code": 12, "kind": "web", "name": "x"},
        {"code": "ABCD-EFGH-JKLM", "kind": "web", "name": "x", "client_version": "v" * 101},
    ],
)
async def test_enroll_rejects_invalid_bodies(
    client: httpx.AsyncClient, worlds: Worlds, body: dict[str, Any]
) -> None:
    """Missing, empty, too long or wrongly typed fields answer 422 request.invalid."""
    response = await client.post(ENROLL, json=body)
    assert (response.status_code, error(response)) == (422, "request.invalid")


async def test_enroll_rejects_unknown_fields_and_bad_json(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Unknown fields (even a site_id) and broken JSON are refused; the code is not used."""
    code = await _new_code(client, worlds.home)
    response = await _enroll(client, code["code"], site_id=worlds.home.sites["B"])
    assert (response.status_code, error(response)) == (422, "request.unknown_field")
    response = await client.post(
        ENROLL, content=b"{code", headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, error(response)) == (400, "request.malformed_json")
    async with worlds.database.session() as session:
        assert (await session.get_one(EnrollmentCode, code["id"])).uses == 0


async def test_concurrent_enrollments_share_the_last_use(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """Four devices enrolling at once with a one-use code: one 201, three invalid_code."""
    code = await _new_code(client, worlds.home)
    responses = await asyncio.gather(
        *(_enroll(client, code["code"], name=f"Dator {n}") for n in range(4))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 400, 400, 400]
    assert await count(worlds.database, Device, Device.enrollment_code_id == code["id"]) == 1


async def test_enrolled_kind_is_any_when_the_code_allows_any(
    client: httpx.AsyncClient, worlds: Worlds
) -> None:
    """A code without device_kind enrolls every kind."""
    code = await _new_code(client, worlds.home, max_uses=len(DeviceKind))
    for kind in DeviceKind:
        response = await _enroll(client, code["code"], kind=kind.value)
        assert response.json()["device"]["kind"] == kind.value
