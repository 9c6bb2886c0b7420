"""The API edge of the error table, on SQLite and PostgreSQL: the documented codes for a wrong
Content-Type, an expired session (cookie and bearer), and the language of the message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from protocol.vocabulary import Role
from server.app import create_app
from server.clock import utcnow
from server.credentials import SESSION_COOKIE, token_hash
from server.errors import ERRORS
from server.settings import Settings
from server.storage.database import Database
from server.storage.tables import Alert, LoginSession
from tests import factories
from tests.conftest import POSTGRES_URL
from tests.factories import World, bearer

ALERTS = "/api/v1/alerts"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/me"


@pytest.fixture
async def http(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app over the parametrized database (SQLite and PostgreSQL)."""
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def world(database: Database) -> World:
    """Site A with a logged-in principal."""
    world = await factories.organization(database)
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    return world


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def alert_count(world: World) -> int:
    async with world.database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Alert)) or 0)


async def expire_sessions(world: World, key: str) -> None:
    async with world.database.session() as session:
        await session.execute(
            update(LoginSession)
            .where(LoginSession.token_hash == token_hash(world.tokens[key]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
async def test_a_json_body_under_another_content_type_is_415(
    http: httpx.AsyncClient, world: World, content_type: str | None
) -> None:
    """A JSON endpoint given text, a form or no Content-Type answers 415 and writes nothing."""
    body = b'{"kind": "pdv_lockdown", "site_ids": [%d]}' % world.sites["A"]
    headers = bearer(world, "principal")
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = await http.post(ALERTS, content=body, headers=headers)
    assert error(response) == (415, "request.unsupported_media_type")
    assert response.json()["error"]["detail"] == (content_type or "")
    assert await alert_count(world) == 0


async def test_json_content_types_are_read(http: httpx.AsyncClient, world: World) -> None:
    """`application/json; charset=utf-8` and `+json` types are JSON: the alert is created."""
    body = b'{"kind": "pdv_lockdown", "site_ids": [%d]}' % world.sites["A"]
    headers = {**bearer(world, "principal"), "Content-Type": "application/json; charset=utf-8"}
    assert (await http.post(ALERTS, content=body, headers=headers)).status_code == 201
    login = b'{"email": "nobody@skola.se", "password": "wrong password"}'
    headers = {"Content-Type": "application/merge-patch+json"}
    response = await http.post(LOGIN, content=login, headers=headers)
    assert error(response) == (401, "auth.invalid_credentials")


async def test_a_body_less_post_ignores_the_content_type(
    http: httpx.AsyncClient, world: World
) -> None:
    """POST /alerts/{id}/cancel takes no body: a text/plain Content-Type changes nothing."""
    body = {"kind": "pdv_lockdown", "site_ids": [world.sites["A"]]}
    created = await http.post(ALERTS, json=body, headers=bearer(world, "principal"))
    alert_id = created.json()["alert"]["id"]
    headers = {**bearer(world, "principal"), "Content-Type": "text/plain"}
    response = await http.post(f"{ALERTS}/{alert_id}/cancel", headers=headers)
    assert response.status_code == 200, response.text


async def test_an_expired_session_is_session_expired_by_bearer_and_cookie(
    http: httpx.AsyncClient, world: World
) -> None:
    """An expired login session answers auth.session_expired as a bearer token and a cookie."""
    await expire_sessions(world, "principal")
    assert error(await http.get(ME, headers=bearer(world, "principal"))) == (
        401,
        "auth.session_expired",
    )
    cookie = {"Cookie": f"{SESSION_COOKIE}={world.tokens['principal']}"}
    assert error(await http.get(ME, headers=cookie)) == (401, "auth.session_expired")


@pytest.mark.parametrize("token", ["pdvs_never-issued", "pdvd_never-issued", "nonsense"])
async def test_an_unknown_bearer_token_is_invalid_token(
    http: httpx.AsyncClient, world: World, token: str
) -> None:
    """A bearer token that names nothing, a session one included, answers auth.invalid_token."""
    response = await http.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert error(response) == (401, "auth.invalid_token")


async def test_a_logged_out_session_is_invalid_token_by_bearer(
    http: httpx.AsyncClient, world: World
) -> None:
    """A session ended by logout is gone, not expired: its bearer token is auth.invalid_token."""
    logout = await http.post("/api/v1/auth/logout", headers=bearer(world, "principal"))
    assert logout.status_code == 204
    response = await http.get(ME, headers=bearer(world, "principal"))
    assert error(response) == (401, "auth.invalid_token")


@pytest.mark.parametrize(
    ("accept_language", "language"),
    [
        ("en;q=0.2, sv;q=0.9", "sv"),
        ("sv;q=0.2, en;q=0.9", "en"),
        ("en-GB", "en"),
        ("de-DE, en;q=0.5", "en"),
        ("de", "sv"),
        ("*", "sv"),
        ("sv;q=0, *;q=0.5", "en"),
        ("en;q=banana", "sv"),
        (";;,,", "sv"),
    ],
)
async def test_error_messages_follow_accept_language(
    http: httpx.AsyncClient, world: World, accept_language: str, language: str
) -> None:
    """The message is in the language Accept-Language prefers by q-value; Swedish otherwise."""
    response = await http.get(ME, headers={"Accept-Language": accept_language})
    spec = ERRORS["auth.required"]
    expected = spec.sv if language == "sv" else spec.en
    assert response.json()["error"]["message"] == expected


async def test_an_unknown_address_is_request_not_found(http: httpx.AsyncClient) -> None:
    """A path no route serves answers 404 request.not_found in the error body."""
    response = await http.get("/api/v1/nowhere")
    assert error(response) == (404, "request.not_found")


@pytest.fixture
async def broken_http(
    settings: Settings, database: Database, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose database cannot be opened: a directory as SQLite file, or a PostgreSQL
    database of the same backend as `database`."""
    if database.dialect == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}"  # a directory: no database file opens
    else:
        url = POSTGRES_URL.rsplit("/", 1)[0] + "/pdv_missing_database"
    async with Database(url) as broken:
        app = create_app(settings, database=broken)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_an_unreachable_database_is_unavailable_or_internal(
    broken_http: httpx.AsyncClient,
) -> None:
    """Without a database /ready answers 503 server.unavailable; other requests 500
    server.internal, never a stack trace."""
    assert error(await broken_http.get("/api/v1/ready")) == (503, "server.unavailable")
    response = await broken_http.get(ME, headers={"Authorization": "Bearer pdvs_whatever"})
    assert error(response) == (500, "server.internal")
    assert "Traceback" not in response.text
