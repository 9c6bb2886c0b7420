"""Singleton work survives its node: the presence sweep runs on the one node holding the
PostgreSQL advisory lock (server/realtime/leadership.py); when that `pdv-alert serve` is
killed with -9, another node takes the lock over and does the sweep's work — a dashboard on
a surviving node is told that the dead node's device became unreachable."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.typing import Origin

from tests.server.nodes.conftest import PRINCIPAL, Cluster, login
from tests.server.realtime.clients import dashboard, next_of

HEARTBEAT = "2"  # seconds: devices count as gone 5 s after their last sighting
LEADS = "presence_sweep: this node leads"
WAIT = 60.0


async def _leader_of(cluster: Cluster, among: list[str]) -> str:
    """The node (of `among`) whose log says it leads the sweep, waiting for one."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        leading = [n for n in among if LEADS in cluster.nodes[n].stderr.read_text()]
        if leading:
            assert len(leading) == 1, f"two nodes lead at once: {leading}"
            return leading[0]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no node of {among} leads within {WAIT}s")


async def _presence(board: ClientConnection, site_id: int, *, reachable: int) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        while True:
            frame = await next_of(board, "presence")
            if frame["site_id"] == site_id and frame["reachable"] == reachable:
                return frame


@pytest.mark.parametrize("cluster", [{"heartbeat_seconds": HEARTBEAT}], indirect=True)
async def test_a_killed_leader_s_sweep_is_taken_over_by_another_node(cluster: Cluster) -> None:
    leader = await _leader_of(cluster, ["a", "b", "c"])
    survivors = [name for name in ("a", "b", "c") if name != leader]
    watcher = survivors[0]
    async with cluster.http(watcher) as http:
        await login(http, PRINCIPAL)
        token = http.cookies["pdv_session"]
    board = await dashboard(
        cluster.nodes[watcher].ws_url, token, origin=Origin(cluster.nodes[watcher].url)
    )
    try:
        (device,) = await cluster.connect([cluster.nodes[leader].ws_url])
        before = await _presence(board, cluster.site_id, reachable=1)  # told via the bus
        device.may_reconnect.clear()  # held back: it must stay gone with its node
        await cluster.kill(leader)
        await device.until(lambda d: not d.connected, "disconnected")

        new_leader = await _leader_of(cluster, survivors)
        after = await _presence(board, cluster.site_id, reachable=0)
        assert after["unreachable"] == before["unreachable"] + 1
        # only the new leader swept: the other survivor never claimed the lock
        others = [n for n in survivors if n != new_leader]
        assert all(LEADS not in cluster.nodes[n].stderr.read_text() for n in others)
    finally:
        await board.close()
