"""Unsafe requests made with the session cookie must come from an allowed origin (CSRF)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from protocol.vocabulary import DeviceKind, Role
from server.app import create_app
from server.credentials import SESSION_COOKIE
from server.errors import ERRORS
from server.origins import allowed_origins, browser_request_allowed, origin_of
from server.settings import Settings
from server.storage.database import Database
from server.storage.tables import Alert, Device
from tests import factories
from tests.factories import World, bearer

PUBLIC = "https://larm.koping.example"
SIBLING = "https://elevwebb.koping.example"


@pytest.fixture
async def http(sqlite_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url="sqlite+aiosqlite:///unused.db", public_url=PUBLIC)
    app = create_app(settings, database=sqlite_database, realtime=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        yield client


@pytest.fixture
async def world(sqlite_database: Database) -> World:
    world = await factories.organization(sqlite_database)
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    await factories.device(world, "pc", site="A", kind=DeviceKind.DESKTOP)
    return world


def cookie(world: World, key: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={world.tokens[key]}"}


async def trigger(http: httpx.AsyncClient, world: World) -> int:
    response = await http.post(
        "/api/v1/alerts",
        json={"kind": "pdv_lockdown", "site_ids": [world.sites["A"]]},
        headers=bearer(world, "principal"),
    )
    assert response.status_code == 201, response.text
    return int(response.json()["alert"]["id"])


async def alert_state(world: World, alert_id: int) -> str:
    async with world.database.session() as session:
        return str(await session.scalar(select(Alert.state).where(Alert.id == alert_id)))


@pytest.mark.parametrize("action", ["cancel", "resolve"])
@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": SIBLING},
        {"Origin": SIBLING, "Content-Type": "application/x-www-form-urlencoded"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
async def test_foreign_cookie_post_is_refused_and_changes_nothing(
    http: httpx.AsyncClient, world: World, action: str, headers: dict[str, str]
) -> None:
    """A body-less cancel/resolve from a sibling site with the cookie: 403 auth.bad_origin."""
    alert_id = await trigger(http, world)
    response = await http.post(
        f"/api/v1/alerts/{alert_id}/{action}",
        content=b"a=1",
        headers={**cookie(world, "principal"), **headers},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "auth.bad_origin"
    assert await alert_state(world, alert_id) == "active"


async def test_device_revoke_from_a_foreign_origin_is_refused(
    http: httpx.AsyncClient, world: World
) -> None:
    """The revoke endpoints are guarded too: the device stays enrolled (and from our own
    origin the same request does revoke it)."""
    device_id = world.devices["pc"]
    response = await http.post(
        f"/api/v1/devices/{device_id}/revoke",
        headers={**cookie(world, "admin"), "Origin": SIBLING},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "auth.bad_origin"
    async with world.database.session() as session:
        revoked = await session.scalar(select(Device.revoked_at).where(Device.id == device_id))
    assert revoked is None
    response = await http.post(
        f"/api/v1/devices/{device_id}/revoke",
        headers={**cookie(world, "admin"), "Origin": PUBLIC},
    )
    assert response.status_code == 200, response.text
    async with world.database.session() as session:
        revoked = await session.scalar(select(Device.revoked_at).where(Device.id == device_id))
    assert revoked is not None


@pytest.mark.parametrize(
    "headers", [{"Origin": PUBLIC}, {"Sec-Fetch-Site": "same-origin"}, {}], ids=str
)
async def test_own_origin_or_non_browser_cookie_post_is_accepted(
    http: httpx.AsyncClient, world: World, headers: dict[str, str]
) -> None:
    """From public_url's origin (or a client that is no browser) the cancel goes through."""
    alert_id = await trigger(http, world)
    response = await http.post(
        f"/api/v1/alerts/{alert_id}/cancel", headers={**cookie(world, "principal"), **headers}
    )
    assert response.status_code == 200, response.text
    assert await alert_state(world, alert_id) == "cancelled"


async def test_bearer_requests_are_not_origin_checked(
    http: httpx.AsyncClient, world: World
) -> None:
    """A bearer token is no ambient credential: a foreign Origin does not matter."""
    alert_id = await trigger(http, world)
    response = await http.post(
        f"/api/v1/alerts/{alert_id}/resolve",
        headers={**bearer(world, "principal"), "Origin": SIBLING},
    )
    assert response.status_code == 200
    assert await alert_state(world, alert_id) == "resolved"


def test_development_allows_only_this_nodes_own_origins() -> None:
    """In development localhost on the configured port is allowed, not any local port."""
    settings = Settings(database_url="sqlite+aiosqlite:///unused.db", port=8000)
    allowed = allowed_origins(settings)
    assert "http://127.0.0.1:8000" in allowed
    assert "http://localhost:8000" in allowed
    assert "http://127.0.0.1:9999" not in allowed
    production = Settings(
        database_url="sqlite+aiosqlite:///unused.db",
        environment="production",
        secret_key="x" * 40,
        public_url=PUBLIC + "/",
        allowed_origins=["https://Extra.koping.example"],
    )
    assert allowed_origins(production) == {PUBLIC, "https://extra.koping.example"}


@pytest.mark.parametrize(
    ("origin", "fetch_site", "expected"),
    [
        (PUBLIC, None, True),
        (PUBLIC.upper(), None, True),
        (SIBLING, "same-origin", False),  # Origin decides when present
        (None, "same-origin", True),
        (None, "none", True),
        (None, "same-site", False),
        (None, "cross-site", False),
        (None, None, True),
    ],
)
def test_browser_request_rule(origin: str | None, fetch_site: str | None, expected: bool) -> None:
    """Origin decides; without it Sec-Fetch-Site; without both it is not a browser."""
    allowed = frozenset({origin_of(PUBLIC)})
    assert browser_request_allowed(origin=origin, fetch_site=fetch_site, allowed=allowed) is (
        expected
    )


@pytest.mark.parametrize(("accept_language", "language"), [(None, "sv"), ("en", "en")])
async def test_the_refusal_speaks_the_requests_language(
    http: httpx.AsyncClient, world: World, accept_language: str | None, language: str
) -> None:
    """Like every error answer: Swedish by default, English when the request prefers it."""
    alert_id = await trigger(http, world)
    extra = {"Accept-Language": accept_language} if accept_language else {}
    response = await http.post(
        f"/api/v1/alerts/{alert_id}/cancel",
        headers={**cookie(world, "principal"), "Origin": SIBLING, **extra},
    )
    assert response.status_code == 403
    spec = ERRORS["auth.bad_origin"]
    assert response.json() == {
        "error": {
            "code": "auth.bad_origin",
            "message": spec.en if language == "en" else spec.sv,
            "detail": "",
        }
    }
