"""Push registrations over HTTP: a web or iOS device registers its own push address, the
device views show `push` without keys, bad input stores nothing, and unregistering or
revoking the device deletes the registration and its pending deliveries. SQLite and
PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from protocol.vocabulary import DeviceKind, Role
from server.clock import utcnow
from server.settings import PUBLIC_PUSH_SERVICES, Settings
from server.storage.database import Database
from server.storage.tables import AuditEntry, PushDelivery, PushRegistration
from tests import factories
from tests.conftest import app_client
from tests.factories import World, bearer
from tests.server.api.worlds import count, error

PUSH = "/api/v1/devices/self/push"
SELF = "/api/v1/devices/self"
LOCAL_PUSH = "http://127.0.0.1:9999"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def subscription(endpoint: str = "https://fcm.googleapis.com/fcm/send/d1:x") -> dict[str, Any]:
    """What a browser's `PushSubscription.toJSON()` gives."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {
        "endpoint": endpoint,
        "expirationTime": None,
        "keys": {"p256dh": b64url(point), "auth": b64url(b"sixteen byte key")},
    }


@pytest.fixture
def push_settings() -> Settings:
    return Settings(
        database_url="sqlite+aiosqlite:///unused.db",
        login_attempts_per_ip=1000,
        push_allowed_origins=[*PUBLIC_PUSH_SERVICES, LOCAL_PUSH],
    )


@pytest.fixture
async def http(push_settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(push_settings, database) as client:
        yield client


@pytest.fixture
async def world(http: httpx.AsyncClient) -> World:
    """Sites A and B; a web phone, an iPad and a desktop at A; an admin and a chief."""
    world = await factories.organization(http.app.state.database)  # type: ignore[attr-defined]
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.device(world, "phone", site="A", kind=DeviceKind.WEB)
    await factories.device(world, "ipad", site="A", kind=DeviceKind.IOS)
    await factories.device(world, "desk", site="A")
    await factories.api_key(world, "button", site="A")
    return world


async def registrations(world: World) -> int:
    return await count(world.database, PushRegistration)


async def test_a_web_device_registers_its_subscription(
    http: httpx.AsyncClient, world: World
) -> None:
    """PUT stores the subscription and answers the device with `push` (no keys); the views
    of /devices/self, /devices/{id} and the list show the same."""
    body = subscription()
    response = await http.put(PUSH, json={"webpush": body}, headers=bearer(world, "phone"))
    assert response.status_code == 200, response.text
    device = response.json()
    assert device["id"] == world.devices["phone"]
    assert set(device["push"]) == {"type", "since", "last_result"}
    assert device["push"]["type"] == "webpush" and device["push"]["last_result"] is None
    assert body["keys"]["p256dh"] not in response.text and "fcm" not in response.text
    views = [
        (await http.get(SELF, headers=bearer(world, "phone"))).json(),
        (
            await http.get(
                f"/api/v1/devices/{world.devices['phone']}", headers=bearer(world, "admin")
            )
        ).json(),
        *[
            item
            for item in (await http.get("/api/v1/devices", headers=bearer(world, "admin"))).json()
            if item["id"] == world.devices["phone"]
        ],
    ]
    assert [view["push"] for view in views] == [device["push"]] * 3
    async with world.database.session() as session:
        row = await session.get_one(PushRegistration, world.devices["phone"])
    assert (row.type, row.endpoint, row.p256dh, row.auth) == (
        "webpush",
        body["endpoint"],
        body["keys"]["p256dh"],
        body["keys"]["auth"],
    )
    assert row.organization_id == world.organization_id
    desk = await http.get(
        f"/api/v1/devices/{world.devices['desk']}", headers=bearer(world, "admin")
    )
    assert desk.json()["push"] is None


async def test_an_ios_device_registers_its_apns_token(
    http: httpx.AsyncClient, world: World
) -> None:
    """An iPad's hex token is stored lower-case with its environment."""
    token = "A1" * 32
    response = await http.put(
        PUSH,
        json={"apns": {"token": token, "environment": "sandbox"}},
        headers=bearer(world, "ipad"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["push"]["type"] == "apns"
    async with world.database.session() as session:
        row = await session.get_one(PushRegistration, world.devices["ipad"])
    assert (row.token, row.environment, row.endpoint) == ("a1" * 32, "sandbox", "")


async def test_the_same_subscription_again_changes_nothing_a_new_one_replaces_it(
    http: httpx.AsyncClient, world: World
) -> None:
    """A PWA re-sends its subscription at each start: `since` stays and nothing is audited;
    a new subscription replaces the old one (one row), with a new `since`, audited."""
    body = subscription()
    first = (await http.put(PUSH, json={"webpush": body}, headers=bearer(world, "phone"))).json()
    audited = await count(world.database, AuditEntry, AuditEntry.action == "device.push_registered")
    again = (await http.put(PUSH, json={"webpush": body}, headers=bearer(world, "phone"))).json()
    assert again["push"] == first["push"]
    assert audited == 1
    registered = AuditEntry.action == "device.push_registered"
    assert await count(world.database, AuditEntry, registered) == 1
    other = subscription("https://updates.push.services.mozilla.com/wpush/v2/x")
    replaced = await http.put(PUSH, json={"webpush": other}, headers=bearer(world, "phone"))
    assert replaced.json()["push"]["since"] >= first["push"]["since"]
    assert await registrations(world) == 1
    async with world.database.session() as session:
        row = await session.get_one(PushRegistration, world.devices["phone"])
        entries = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "device.push_registered")
            )
        ).all()
    assert row.endpoint == other["endpoint"]
    assert [entry.details for entry in entries] == [
        {"type": "webpush", "replaced": False},
        {"type": "webpush", "replaced": True},
    ]
    assert {entry.actor for entry in entries} == {f"device:{world.devices['phone']}"}


def _bad(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    keys = {**body["keys"], **changes.pop("keys", {})}
    return {"webpush": {**body, **changes, "keys": keys}}


GOOD = subscription()
SHORT_KEY = {"p256dh": GOOD["keys"]["p256dh"][:-2]}
HTTP_FCM = "http://fcm.googleapis.com/fcm/send/1"
TOKEN = {"token": "ab" * 32, "environment": "sandbox"}
INVALID, NOT_ALLOWED = "push.invalid_subscription", "push.endpoint_not_allowed"


@pytest.mark.parametrize(
    ("device", "payload", "code"),
    [
        ("phone", _bad(GOOD, keys=SHORT_KEY), INVALID),
        ("phone", _bad(GOOD, keys={"auth": b64url(b"x" * 15)}), INVALID),
        ("phone", _bad(GOOD, keys={"auth": "***"}), INVALID),
        ("phone", _bad(GOOD, endpoint=HTTP_FCM), NOT_ALLOWED),
        ("phone", _bad(GOOD, endpoint="https://push.evil.example/1"), NOT_ALLOWED),
        ("phone", {"apns": TOKEN}, "push.wrong_type"),
        ("ipad", {"webpush": GOOD}, "push.wrong_type"),
        ("desk", {"webpush": GOOD}, "push.wrong_type"),
        ("ipad", {"apns": {"token": "xyz", "environment": "sandbox"}}, "push.invalid_token"),
        ("ipad", {"apns": {"token": "ab" * 32, "environment": "dev"}}, "push.invalid_token"),
        ("phone", {}, "request.invalid"),
        ("phone", {"webpush": GOOD, "apns": TOKEN}, "request.invalid"),
        ("phone", {"webpush": {**GOOD, "extra": 1}}, "request.unknown_field"),
        ("button", {"webpush": GOOD}, "auth.forbidden"),
    ],
)  # fmt: skip
async def test_bad_registrations_get_their_code_and_store_nothing(
    http: httpx.AsyncClient, world: World, device: str, payload: dict[str, Any], code: str
) -> None:
    """Wrong key lengths, non-base64url, non-https or foreign endpoints, malformed tokens,
    the wrong type for the device's kind, and an API key: the code, and no row, no audit."""
    response = await http.put(PUSH, json=payload, headers=bearer(world, device))
    assert error(response) == code, response.text
    assert await registrations(world) == 0
    assert await count(world.database, AuditEntry, AuditEntry.action.like("device.push%")) == 0


async def test_a_person_cannot_register_a_push_address(
    http: httpx.AsyncClient, world: World
) -> None:
    """Only a device registers itself: a person's session gets auth.forbidden."""
    response = await http.put(PUSH, json={"webpush": GOOD}, headers=bearer(world, "admin"))
    assert error(response) == "auth.forbidden"
    assert await registrations(world) == 0


async def test_a_local_push_service_is_allowed_only_when_listed_and_not_in_production(
    database: Database, world: World, http: httpx.AsyncClient
) -> None:
    """With http://127.0.0.1:9999 listed, a development server accepts it; the same list
    without it refuses it."""
    local = subscription(f"{LOCAL_PUSH}/push/1")
    response = await http.put(PUSH, json={"webpush": local}, headers=bearer(world, "phone"))
    assert response.status_code == 200, response.text
    plain = Settings(database_url="sqlite+aiosqlite:///unused.db")
    async with app_client(plain, database) as other:
        response = await other.put(PUSH, json={"webpush": local}, headers=bearer(world, "phone"))
    assert error(response) == "push.endpoint_not_allowed"


async def _pending_delivery(http: httpx.AsyncClient, world: World, device: str) -> None:
    """An alert at A and two deliveries to `device`: one due, one finished."""
    response = await http.post(
        "/api/v1/alerts", json={"kind": "pdv_lockdown", "site_ids": [world.sites["A"]]},
        headers=bearer(world, "chief"),
    )  # fmt: skip
    assert response.status_code == 201, response.text
    alert_id, seq = response.json()["alert"]["id"], response.json()["event"]["seq"]
    now = utcnow()
    async with world.database.session() as session:
        for offset, due in ((0, now), (1000, None)):
            session.add(
                PushDelivery(
                    organization_id=world.organization_id,
                    alert_id=alert_id,
                    device_id=world.devices[device],
                    seq=seq + offset,
                    state="queued" if due else "delivered",
                    next_attempt_at=due + timedelta(seconds=1) if due else None,
                    created_at=now,
                )
            )
        await session.commit()


async def test_delete_removes_the_registration_and_pending_deliveries(
    http: httpx.AsyncClient, world: World
) -> None:
    """DELETE answers the device with `push: null`, deletes the row and the deliveries still
    due (finished ones stay), is audited, and a second DELETE changes nothing."""
    await http.put(PUSH, json={"webpush": subscription()}, headers=bearer(world, "phone"))
    await _pending_delivery(http, world, "phone")
    response = await http.delete(PUSH, headers=bearer(world, "phone"))
    assert response.status_code == 200 and response.json()["push"] is None
    assert await registrations(world) == 0
    assert await count(world.database, PushDelivery) == 1
    assert await count(world.database, PushDelivery, PushDelivery.next_attempt_at.is_(None)) == 1
    unregistered = AuditEntry.action == "device.push_unregistered"
    assert await count(world.database, AuditEntry, unregistered) == 1
    again = await http.delete(PUSH, headers=bearer(world, "phone"))
    assert again.status_code == 200 and again.json()["push"] is None
    assert await count(world.database, AuditEntry, unregistered) == 1


async def test_revoking_a_device_deletes_its_registration_and_pending_deliveries(
    http: httpx.AsyncClient, world: World
) -> None:
    """The revocation's transaction deletes the registration and the due deliveries."""
    await http.put(PUSH, json={"webpush": subscription()}, headers=bearer(world, "phone"))
    await _pending_delivery(http, world, "phone")
    response = await http.post(
        f"/api/v1/devices/{world.devices['phone']}/revoke", headers=bearer(world, "admin")
    )
    assert response.status_code == 200, response.text
    assert response.json()["push"] is None and response.json()["revoked_at"] is not None
    assert await registrations(world) == 0
    due = PushDelivery.next_attempt_at.is_not(None)
    assert await count(world.database, PushDelivery, due) == 0
    assert await count(world.database, PushDelivery) == 1


async def test_another_organizations_views_never_show_the_registration(
    http: httpx.AsyncClient, world: World
) -> None:
    """An admin of another organization can't see the device at all."""
    await http.put(PUSH, json={"webpush": subscription()}, headers=bearer(world, "phone"))
    other = await factories.organization(world.database, name="Arboga")
    await factories.person(other, "admin", roles=((Role.ADMIN, None),))
    response = await http.get(
        f"/api/v1/devices/{world.devices['phone']}", headers=bearer(other, "admin")
    )
    assert error(response) == "device.not_found"
    listed = (await http.get("/api/v1/devices", headers=bearer(other, "admin"))).json()
    assert listed == []
