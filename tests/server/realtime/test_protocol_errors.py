"""Protocol errors the real gateway answers on an open connection (docs/protocol.md §errors)."""

from __future__ import annotations

import json

from protocol.vocabulary import Role
from tests import factories
from tests.server.realtime.clients import hello, next_of
from tests.server.realtime.conftest import LiveServer


async def test_a_second_hello_is_unexpected_and_the_connection_stays(
    live_server: LiveServer,
) -> None:
    """A hello after the welcome answers protocol.unexpected; the connection keeps working."""
    world = await factories.organization(live_server.database, sites=("A",))
    await factories.person(world, "staff", roles=((Role.STAFF, "A"),))
    await factories.device(world, "desk", site="A")
    ws, _ = await hello(live_server.ws_url, world.tokens["desk"])
    again = {"type": "hello", "v": 1, "token": world.tokens["desk"], "epoch": None, "last_seq": 0}
    await ws.send(json.dumps({**again, "client": {"name": "test", "version": "1"}}))
    error = await next_of(ws, "error")
    assert error["code"] == "protocol.unexpected"
    await ws.send(json.dumps({"type": "ping", "ts": 7}))
    assert (await next_of(ws, "pong"))["ts"] == 7
    await ws.close()
