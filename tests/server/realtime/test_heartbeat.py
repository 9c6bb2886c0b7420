"""The gateway's one heartbeat for all connections: every `heartbeat_seconds` each connection
is pinged, and one that has not answered the previous ping is closed with 1011 (the rule of
the `websockets` library's keepalive, ping_interval = ping_timeout = heartbeat_seconds)."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from tests import factories
from tests.server.realtime.clients import hello, hello_frame, receive
from tests.server.realtime.conftest import WAIT, LiveServer

FAST = {"heartbeat_seconds": 0.2}


@pytest.mark.parametrize("live_settings", [FAST], indirect=True)
async def test_a_client_that_answers_pings_stays_connected(live_server: LiveServer) -> None:
    world = await factories.organization(live_server.database, sites=("A",))
    await factories.device(world, "a", site="A")
    ws, welcome = await hello(live_server.ws_url, world.tokens["a"], ping_interval=None)
    assert welcome["heartbeat_s"] == 0.2
    await asyncio.sleep(1.5)  # several heartbeats, each answered by the client library
    await ws.send(json.dumps({"type": "ping", "ts": 7}))
    assert await receive(ws) == {"type": "pong", "ts": 7}
    await ws.close()


@pytest.mark.parametrize("live_settings", [FAST], indirect=True)
async def test_a_client_that_does_not_answer_pings_is_closed_with_1011(
    live_server: LiveServer,
) -> None:
    world = await factories.organization(live_server.database, sites=("A",))
    await factories.device(world, "a", site="A")
    url = urlsplit(live_server.ws_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    client = ClientProtocol(parse_uri(live_server.ws_url))  # after the hello, never writes
    client.send_request(client.connect())
    for data in client.data_to_send():
        writer.write(data)
    opcodes: list[Opcode] = []
    hello_sent = False
    async with asyncio.timeout(WAIT):
        while data := await reader.read(65536):
            client.receive_data(data)
            for event in client.events_received():
                if isinstance(event, Frame):
                    opcodes.append(event.opcode)
            if not hello_sent:  # just after the handshake: only the hello is queued
                client.send_text(hello_frame(world.tokens["a"]).encode())
                writer.write(b"".join(client.data_to_send()))
                hello_sent = True
    client.receive_eof()
    writer.close()
    assert Opcode.PING in opcodes
    assert client.close_rcvd is not None and client.close_rcvd.code == 1011
