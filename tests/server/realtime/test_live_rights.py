"""Live rights never go stale: a role change, a password change or an expiring session ends
what a live connection was given at its hello; a dashboard's ack is answered, never dropped;
browsers must come from the allowed origins (server/origins.py) in development too."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from protocol.closecodes import CloseCode, close_info
from protocol.vocabulary import Role
from server.clock import utcnow
from server.credentials import token_hash
from server.storage.tables import LoginSession
from tests import factories
from tests.server.realtime.clients import DASHBOARD_ORIGIN, dashboard, hello, next_of
from tests.server.realtime.conftest import WAIT, LiveServer


async def close_code(ws: ClientConnection) -> int:
    """The code the server closed `ws` with (frames before the close are skipped)."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), timeout=WAIT)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_role_change_makes_the_dashboard_reconnect(live_server: LiveServer) -> None:
    """Roles changed by an admin close the person's live connections with a reconnect code."""
    world = await factories.organization(live_server.database, sites=("A", "B"))
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    principal = await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    board = await dashboard(live_server.ws_url, world.tokens["principal"])
    response = await live_server.http.patch(
        f"/api/v1/persons/{principal}",
        headers=bearer(world.tokens["admin"]),
        json={"roles": [{"role": "staff", "site_id": world.sites["B"]}]},
    )
    assert response.status_code == 200, response.text
    code = await close_code(board)
    assert code == CloseCode.SERVICE_RESTART and close_info(code).should_reconnect


async def test_renaming_a_person_keeps_their_connection(live_server: LiveServer) -> None:
    """Only rights matter: a new name leaves the live connection open."""
    world = await factories.organization(live_server.database, sites=("A",))
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    principal = await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    board = await dashboard(live_server.ws_url, world.tokens["principal"])
    response = await live_server.http.patch(
        f"/api/v1/persons/{principal}",
        headers=bearer(world.tokens["admin"]),
        json={"name": "Rektor Berg"},
    )
    assert response.status_code == 200, response.text
    await board.send(json.dumps({"type": "ping", "ts": 1}))
    assert (await next_of(board, "pong"))["ts"] == 1
    await board.close()


async def test_rebinding_a_device_makes_it_reconnect(live_server: LiveServer) -> None:
    """A device bound to another person reconnects (1012), so its answers name the new one."""
    world = await factories.organization(live_server.database, sites=("A",))
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    await factories.person(world, "eva", roles=((Role.STAFF, "A"),))
    olle = await factories.person(world, "olle", roles=((Role.STAFF, "A"),))
    device = await factories.device(world, "phone", site="A", person_key="eva")
    ws, _ = await hello(live_server.ws_url, world.tokens["phone"])
    response = await live_server.http.patch(
        f"/api/v1/devices/{device}", headers=bearer(world.tokens["admin"]), json={"person_id": olle}
    )
    assert response.status_code == 200, response.text
    assert await close_code(ws) == CloseCode.SERVICE_RESTART


async def test_renaming_a_device_keeps_its_connection(live_server: LiveServer) -> None:
    """A new name changes nothing the connection was given: it stays open."""
    world = await factories.organization(live_server.database, sites=("A",))
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    device = await factories.device(world, "desk", site="A")
    ws, _ = await hello(live_server.ws_url, world.tokens["desk"])
    response = await live_server.http.patch(
        f"/api/v1/devices/{device}",
        headers=bearer(world.tokens["admin"]),
        json={"name": "Kansliet"},
    )
    assert response.status_code == 200, response.text
    await ws.send(json.dumps({"type": "ping", "ts": 4}))
    assert (await next_of(ws, "pong"))["ts"] == 4
    await ws.close()


async def _second_session(live: LiveServer, world: factories.World, key: str) -> str:
    async with live.database.session() as session:
        from server.storage.tables import Person

        person = await session.get(Person, world.persons[key])
        assert person is not None
        email = person.email
    login = await live.http.post(
        "/api/v1/auth/login", json={"email": email, "password": factories.PASSWORD}
    )
    assert login.status_code == 200, login.text
    return str(login.cookies["pdv_session"])


async def test_changing_ones_own_password_closes_the_other_sessions(
    live_server: LiveServer,
) -> None:
    """PATCH /me with a new password closes the other sessions' dashboards (4002); the
    session that changed it stays live."""
    world = await factories.organization(live_server.database, sites=("A",))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    other_token = await _second_session(live_server, world, "principal")
    own = await dashboard(live_server.ws_url, world.tokens["principal"])
    other = await dashboard(live_server.ws_url, other_token)
    response = await live_server.http.patch(
        "/api/v1/me",
        headers=bearer(world.tokens["principal"]),
        json={"password": "ett helt nytt lösenord 42", "current_password": factories.PASSWORD},
    )
    assert response.status_code == 200, response.text
    assert await close_code(other) == CloseCode.REVOKED
    await own.send(json.dumps({"type": "ping", "ts": 2}))
    assert (await next_of(own, "pong"))["ts"] == 2
    await own.close()


async def test_an_admin_changing_their_own_password_closes_their_other_sessions(
    live_server: LiveServer,
) -> None:
    """PATCH /persons/{own id} with a password closes the admin's other dashboards (4002)."""
    world = await factories.organization(live_server.database, sites=("A",))
    admin = await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    other_token = await _second_session(live_server, world, "admin")
    own = await dashboard(live_server.ws_url, world.tokens["admin"])
    other = await dashboard(live_server.ws_url, other_token)
    response = await live_server.http.patch(
        f"/api/v1/persons/{admin}",
        headers=bearer(world.tokens["admin"]),
        json={"password": "ett helt nytt lösenord 42"},
    )
    assert response.status_code == 200, response.text
    assert await close_code(other) == CloseCode.REVOKED
    await own.send(json.dumps({"type": "ping", "ts": 3}))
    assert (await next_of(own, "pong"))["ts"] == 3
    await own.close()


async def test_a_session_connection_closes_when_the_session_expires(
    live_server: LiveServer,
) -> None:
    """A dashboard whose login session expires is closed with 4001 (log in again)."""
    world = await factories.organization(live_server.database, sites=("A",))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    token = world.tokens["principal"]
    async with live_server.database.session() as session:
        await session.execute(
            update(LoginSession)
            .where(LoginSession.token_hash == token_hash(token))
            .values(expires_at=utcnow() + timedelta(seconds=1))
        )
        await session.commit()
    board = await dashboard(live_server.ws_url, token)
    assert await close_code(board) == CloseCode.INVALID_TOKEN


async def test_a_dashboards_ack_is_answered_with_an_error(live_server: LiveServer) -> None:
    """An ack over a session is refused (`protocol.answer_requires_device`), never dropped."""
    world = await factories.organization(live_server.database, sites=("A",))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    board = await dashboard(live_server.ws_url, world.tokens["principal"])
    await board.send(json.dumps({"type": "ack", "alert_id": 1, "response": "safe"}))
    error = await next_of(board, "error")
    assert error["code"] == "protocol.answer_requires_device"
    await board.close()


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://127.0.0.1:9999", "http://localhost:5173", "null"],
)
async def test_foreign_and_wrong_port_origins_are_refused_in_development(
    live_server: LiveServer, origin: str
) -> None:
    """In development only this node's own port and the configured origins may connect."""
    assert live_server.realtime.settings.environment == "development"
    with pytest.raises(InvalidStatus) as refused:
        await connect(live_server.ws_url, origin=origin, open_timeout=WAIT)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize(
    "live_settings", [{"allowed_origins": ["https://larm.koping.example"]}], indirect=True
)
@pytest.mark.parametrize("origin", [DASHBOARD_ORIGIN, "https://larm.koping.example"])
async def test_own_and_configured_origins_pass(live_server: LiveServer, origin: str) -> None:
    """The node's own development origin and every configured origin may connect."""
    world = await factories.organization(live_server.database, sites=("A",))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    board = await dashboard(live_server.ws_url, world.tokens["principal"], origin=origin)
    await board.close()
