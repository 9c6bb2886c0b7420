"""A client that stops reading never delays the others and is eventually closed (1013)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, cast

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from protocol.vocabulary import Role
from server.realtime.wsprotocol import WebSocket
from tests import factories
from tests.factories import bearer
from tests.server.realtime.clients import hello, next_of
from tests.server.realtime.conftest import WAIT, LiveServer

LONG = "Lås dörren, släck ljuset, tysta telefonen. " * 11  # ~480 characters


async def reader_with_small_window(
    live_server: LiveServer, token: str, **connect_args: Any
) -> ClientConnection:
    """A client whose socket's receive window is small (set before connecting), welcomed."""
    port = int(live_server.ws_url.rsplit(":", 1)[1].strip("/"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: small window
    sock.connect(("127.0.0.1", port))
    client, _ = await hello(live_server.ws_url, token, sock=sock, **connect_args)
    return client


async def alert_with_updates(live_server: LiveServer, world: factories.World, updates: int) -> None:
    """The principal triggers an alert on site A and updates it `updates` times with long
    texts (seqs 1 … updates + 1)."""
    headers = bearer(world, "principal")
    response = await live_server.http.post(
        "/api/v1/alerts",
        json={
            "kind": "custom",
            "site_ids": [world.sites["A"]],
            "order": {"sv": "Start", "en": "Start"},
        },
        headers=headers,
    )
    alert_id = response.json()["alert"]["id"]
    for number in range(updates):
        text = f"{number} {LONG}"
        response = await live_server.http.patch(
            f"/api/v1/alerts/{alert_id}",
            json={
                "order": {"sv": text[:500], "en": text[:500]},
                "instructions": {"sv": text[:500], "en": text[:500]},
            },
            headers=headers,
        )
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "live_settings",
    [{"connection_buffer_bytes": 32768, "socket_send_buffer_bytes": 4096}],
    indirect=True,
)
async def test_stalled_client_is_closed_and_others_get_everything(live_server: LiveServer) -> None:
    """Others receive every update while a stalled reader is dropped with 1013."""
    world = await factories.organization(live_server.database, sites=("A",))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    await factories.device(world, "stalled", site="A")
    await factories.device(world, "healthy", site="A")
    stalled = await reader_with_small_window(live_server, world.tokens["stalled"])
    healthy, _ = await hello(live_server.ws_url, world.tokens["healthy"], max_queue=None)
    stalled.transport.pause_reading()  # stop reading: kernel buffers fill, then the server's
    updates = 60
    await alert_with_updates(live_server, world, updates)
    seqs = [(await next_of(healthy, "alert"))["seq"] for _ in range(updates + 1)]
    assert seqs == list(range(1, updates + 2))

    stalled.transport.resume_reading()
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(stalled.recv(), timeout=WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    assert live_server.realtime.hub.connection_count() == 1
    await healthy.close()


def server_side(live_server: LiveServer, organization_id: int) -> list[WebSocket]:
    subscribers = live_server.realtime.hub.subscribers(organization_id)
    return [cast(WebSocket, s.connection) for s in subscribers]


@pytest.mark.parametrize(
    "live_settings",
    [{"connection_buffer_bytes": 4 * 1024 * 1024, "socket_send_buffer_bytes": 4096}],
    indirect=True,
)
async def test_a_lagging_client_gets_every_event_whole_and_in_order(
    live_server: LiveServer,
) -> None:
    """While a reader lags, the frames queue behind what its socket did not take (nothing is
    written straight to the socket past them); once it reads again it gets all of them, whole
    and in seq order, and later frames go straight to its socket again."""
    world = await factories.organization(live_server.database, sites=("A",))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    await factories.device(world, "lagging", site="A")
    lagging = await reader_with_small_window(live_server, world.tokens["lagging"], max_queue=None)
    (connection,) = server_side(live_server, world.organization_id)
    assert connection.direct_fd == connection.fd >= 0  # open, nothing queued
    lagging.transport.pause_reading()
    updates = 40
    await alert_with_updates(live_server, world, updates)
    await asyncio.sleep(0.2)
    assert connection.transport.get_write_buffer_size() > 0  # the kernel's buffers are full
    assert connection.direct_fd == -1

    lagging.transport.resume_reading()
    events = [await next_of(lagging, "alert") for _ in range(updates + 1)]
    assert [event["seq"] for event in events] == list(range(1, updates + 2))
    assert events[-1]["alert"]["order"]["sv"].startswith(f"{updates - 1} ")
    for _ in range(100):
        if connection.direct_fd >= 0:
            break
        await asyncio.sleep(0.05)
    assert connection.direct_fd == connection.fd  # drained: straight to the socket again

    await lagging.close()
    for _ in range(100):
        if connection.fd < 0:
            break
        await asyncio.sleep(0.05)
    assert connection.direct_fd == connection.fd == -1  # forgotten before the socket closes
