"""Live presence and sign-out on the real server: dashboards see devices come and go, and a
logout closes exactly that session's connections."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from protocol.vocabulary import Role
from tests import factories
from tests.server.realtime.clients import dashboard, hello, next_of, receive
from tests.server.realtime.conftest import WAIT, LiveServer


async def presence_until(ws: ClientConnection, *, reachable: int) -> dict:
    while True:
        frame = await next_of(ws, "presence")
        if frame["reachable"] == reachable:
            return frame


async def test_dashboard_sees_devices_connect_and_disconnect(live_server: LiveServer) -> None:
    """A device connecting raises the site's reachable count; its disconnect lowers it."""
    world = await factories.organization(live_server.database, sites=("A", "B"))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    await factories.device(world, "a1", site="A")
    await factories.device(world, "a2", site="A")
    board = await dashboard(live_server.ws_url, world.tokens["principal"])
    device, _ = await hello(live_server.ws_url, world.tokens["a1"])
    frame = await presence_until(board, reachable=1)
    assert frame == {
        "type": "presence",
        "site_id": world.sites["A"],
        "reachable": 1,
        "unreachable": 1,
        "push": {"queued": 0, "sent": 0, "delivered": 0, "receipted": 0, "failed": 0},
    }
    await device.close()
    frame = await presence_until(board, reachable=0)
    assert frame["unreachable"] == 2
    response = await live_server.http.get(
        "/api/v1/presence", headers={"Authorization": f"Bearer {world.tokens['principal']}"}
    )
    site = next(s for s in response.json()["sites"] if s["site_id"] == world.sites["A"])
    assert site["reachable"] == 0  # disconnected now, not "seen recently"
    await board.close()


async def test_staff_get_no_presence_frames(live_server: LiveServer) -> None:
    """Presence goes to those who lead the site, not to every staff member's connection."""
    world = await factories.organization(live_server.database, sites=("A",))
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    await factories.device(world, "a1", site="A")
    staff = await dashboard(live_server.ws_url, world.tokens["staff"])
    board = await dashboard(live_server.ws_url, world.tokens["principal"])
    device, _ = await hello(live_server.ws_url, world.tokens["a1"])
    await presence_until(board, reachable=1)
    await staff.send(json.dumps({"type": "ping", "ts": 7}))
    assert (await receive(staff)) == {"type": "pong", "ts": 7}  # no presence frame before it
    for ws in (device, staff, board):
        await ws.close()


async def test_logout_closes_only_that_sessions_connections(live_server: LiveServer) -> None:
    """Logging out closes the session's dashboard with 4002; another session stays open."""
    world = await factories.organization(live_server.database, sites=("A",))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    login = await live_server.http.post(
        "/api/v1/auth/login",
        json={"email": await _email(world), "password": factories.PASSWORD},
    )
    assert login.status_code == 200, login.text
    second_token = login.cookies["pdv_session"]
    first = await dashboard(live_server.ws_url, world.tokens["principal"])
    second = await dashboard(live_server.ws_url, second_token)
    response = await live_server.http.post(
        "/api/v1/auth/logout", headers={"Authorization": f"Bearer {world.tokens['principal']}"}
    )
    assert response.status_code == 204
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(first.recv(), timeout=WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4002
    await second.send(json.dumps({"type": "ping"}))
    assert (await receive(second))["type"] == "pong"
    await second.close()


async def _email(world: factories.World) -> str:
    from server.storage.tables import Person

    async with world.database.session() as session:
        person = await session.get_one(Person, world.persons["principal"])
        return person.email
