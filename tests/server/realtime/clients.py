"""A minimal test client speaking the protocol over a real `websockets` connection."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from tests.server.realtime.conftest import WAIT

DASHBOARD_ORIGIN = "http://127.0.0.1:8000"


def hello_frame(token: str, *, epoch: str | None = None, last_seq: int = 0) -> str:
    """A client's `hello` as JSON."""
    return json.dumps(
        {
            "type": "hello",
            "v": 1,
            "token": token,
            "epoch": epoch,
            "last_seq": last_seq,
            "client": {"name": "test", "version": "1"},
        }
    )


async def hello(
    url: str, token: str, *, epoch: str | None = None, last_seq: int = 0, **connect_args: Any
) -> tuple[ClientConnection, dict[str, Any]]:
    """Connect, say hello, and return the connection with its welcome."""
    ws = await connect(url, open_timeout=WAIT, **connect_args)
    await ws.send(hello_frame(token, epoch=epoch, last_seq=last_seq))
    welcome = await receive(ws)
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


async def dashboard(
    url: str, session_token: str, *, origin: str = DASHBOARD_ORIGIN
) -> ClientConnection:
    """A browser dashboard: the session cookie on the handshake, `token: ""` in the hello."""
    ws, _welcome = await hello(
        url,
        "",
        additional_headers={"Cookie": f"pdv_session={session_token}"},
        origin=Origin(origin),
    )
    return ws


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), timeout=WAIT))
    assert isinstance(message, dict)
    return message


async def next_of(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next message of `kind`, skipping others (pongs, roll call)."""
    while True:
        message = await receive(ws)
        if message["type"] == kind:
            return message


async def nothing_within(ws: ClientConnection, seconds: float) -> bool:
    """True when no alert frame arrives within `seconds` (used only to show absence)."""
    try:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout=seconds))
            if message.get("type") == "alert":
                return False
    except TimeoutError:
        return True
