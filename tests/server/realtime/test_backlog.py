"""The gateway's listen backlog is the `ws_backlog` setting (a reconnect storm must not
overflow asyncio's default of 100). `ss` shows a listening socket's backlog as its Send-Q."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from server.storage.database import Database
from tests.server.realtime.conftest import realtime_settings, start_live_server


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")
async def test_gateway_listens_with_the_configured_backlog(sqlite_database: Database) -> None:
    async with start_live_server(realtime_settings(ws_backlog=37), sqlite_database) as live:
        port = live.realtime.gateway.port
        ss = await asyncio.create_subprocess_exec(
            "ss", "-ltnH", f"sport = :{port}", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await ss.communicate()
    listing = out.decode().split()
    assert listing[0] == "LISTEN"
    assert int(listing[2]) == 37  # State Recv-Q Send-Q: Send-Q is the backlog
