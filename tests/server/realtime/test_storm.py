"""Many clients at once: hellos are answered from the in-memory snapshot (few database reads),
the snapshot follows the stream, and a stopping node leaves no device marked connected."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from protocol.vocabulary import Role
from server.storage.database import Database
from server.storage.tables import Device
from tests import factories
from tests.factories import bearer
from tests.server.realtime.clients import hello
from tests.server.realtime.conftest import LiveServer, realtime_settings, start_live_server


async def test_a_burst_of_hellos_reads_the_snapshot_once(live_server: LiveServer) -> None:
    """Forty devices connecting together share token queries and one snapshot read, and a
    later alert is still seen."""
    world = await factories.organization(live_server.database, sites=("A",))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    names = [f"pc-{n}" for n in range(40)]
    for name in names:
        await factories.device(world, name, site="A")
    before = live_server.realtime.snapshots.reads
    queries = live_server.realtime.tokens.queries
    connected = await asyncio.gather(*(hello(live_server.ws_url, world.tokens[n]) for n in names))
    assert live_server.realtime.snapshots.reads - before == 1
    assert live_server.realtime.tokens.queries - queries < len(names)  # tokens were batched
    assert all(welcome["active"] == [] for _, welcome in connected)

    response = await live_server.http.post(
        "/api/v1/alerts",
        json={"kind": "evacuate", "site_ids": [world.sites["A"]]},
        headers=bearer(world, "principal"),
    )
    assert response.status_code == 201
    await factories.device(world, "late", site="A")
    ws, welcome = await hello(live_server.ws_url, world.tokens["late"])
    assert [alert["kind"] for alert in welcome["active"]] == ["evacuate"]  # not a stale cache
    assert welcome["seq"] == 1
    for client, _ in [*connected, (ws, welcome)]:
        await client.close()


async def test_stopping_node_releases_its_devices(sqlite_database: Database) -> None:
    """Connected devices are marked with the node and their client version; after shutdown
    none is left marked as connected to the stopped node."""
    world = await factories.organization(sqlite_database, sites=("A",))
    for name in ("a", "b", "c"):
        await factories.device(world, name, site="A")
    async with start_live_server(realtime_settings(), sqlite_database) as live:
        clients = [(await hello(live.ws_url, world.tokens[n]))[0] for n in ("a", "b", "c")]
        await live.realtime.presence_writer.flush()
        async with sqlite_database.session() as session:
            rows = (
                await session.execute(select(Device.connected_node, Device.client_version))
            ).all()
        assert {row.connected_node for row in rows} == {live.realtime.bus.node_id}
        assert {row.client_version for row in rows} == {"test 1"}  # the hello's client
    async with sqlite_database.session() as session:
        nodes = set((await session.scalars(select(Device.connected_node))).all())
    assert nodes == {None}
    for client in clients:
        await client.close()
