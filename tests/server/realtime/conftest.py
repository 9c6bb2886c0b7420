"""A real server for realtime tests: uvicorn and the WebSocket gateway on ephemeral ports,
over a fresh migrated database, in the test's event loop. `live_server` runs each test on
SQLite AND PostgreSQL (every live test touches storage: hellos, receipts, presence);
`sqlite_live_server` is for tests about the hub's fan-out, where the backend is beside the
point."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from push.message import Sender
from server.app import create_app
from server.realtime.service import Realtime
from server.settings import Settings
from server.storage.database import Database

# Generous upper bound for "it arrives"; tests never assert how fast.
WAIT = 10.0


@dataclass
class LiveServer:
    http: httpx.AsyncClient
    ws_url: str
    realtime: Realtime
    database: Database


def realtime_settings(**overrides: object) -> Settings:
    values: dict[str, object] = dict(
        database_url="sqlite+aiosqlite:///unused.db",
        port=8000,  # the configured HTTP port (the development origin); uvicorn binds port 0
        ws_port=0,
        login_attempts_per_ip=1000,
        catch_up_seconds=0.2,
    )
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def live_settings(request: pytest.FixtureRequest) -> Settings:
    """Settings for the live server; parametrize indirectly with a dict of overrides."""
    return realtime_settings(**getattr(request, "param", {}))


@asynccontextmanager
async def start_live_server(
    settings: Settings, database: Database, *, push_senders: Mapping[str, Sender] | None = None
) -> AsyncIterator[LiveServer]:
    """Run the app (HTTP + WebSocket gateway) with uvicorn on ephemeral ports; the push
    dispatcher uses `push_senders` (default: none, settings without push keys)."""
    app = create_app(settings, database=database, realtime=True, push_senders=push_senders)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    realtime: Realtime = app.state.realtime
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=WAIT) as http:
            yield LiveServer(
                http=http,
                ws_url=f"ws://127.0.0.1:{realtime.gateway.port}/",
                realtime=realtime,
                database=database,
            )
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=WAIT)


@pytest.fixture
async def live_server(live_settings: Settings, database: Database) -> AsyncIterator[LiveServer]:
    """The live server on SQLite and on PostgreSQL (the `database` fixture's parameters)."""
    async with start_live_server(live_settings, database) as live:
        yield live


@pytest.fixture
async def sqlite_live_server(
    live_settings: Settings, sqlite_database: Database
) -> AsyncIterator[LiveServer]:
    """The live server on SQLite only."""
    async with start_live_server(live_settings, sqlite_database) as live:
        yield live
