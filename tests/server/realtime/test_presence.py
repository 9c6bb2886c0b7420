"""The presence ticker: every heartbeat it writes `last_seen_at` of this node's connected
devices, so GET /api/v1/presence shows them reachable."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from protocol.vocabulary import Role
from server.clock import utcnow
from server.realtime.presence import PresenceTicker
from server.storage.database import Database
from server.storage.tables import Device
from tests import factories
from tests.factories import World, bearer
from tests.server.realtime.clients import hello
from tests.server.realtime.conftest import WAIT, LiveServer

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


async def stamps(database: Database, world: World) -> dict[str, datetime | None]:
    async with database.session() as session:
        rows = await session.execute(select(Device.id, Device.last_seen_at))
        by_id = {row.id: row.last_seen_at for row in rows}
    return {key: by_id[device_id] for key, device_id in world.devices.items()}


async def age(database: Database, world: World, when: datetime) -> None:
    async with database.session() as session:
        await session.execute(
            update(Device)
            .where(Device.organization_id == world.organization_id)
            .values(last_seen_at=when)
        )
        await session.commit()


async def until(condition: object, *, what: str) -> None:
    """Poll (no timing assertion: WAIT only bounds a hang)."""
    for _ in range(int(WAIT / 0.02)):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


async def test_ticker_writes_last_seen_of_connected_devices_only(
    sqlite_database: Database,
) -> None:
    """Each tick stamps the devices the callable names, and only those."""
    world = await factories.organization(sqlite_database, sites=("A",))
    for key in ("on", "off"):
        await factories.device(world, key, site="A")
    await age(sqlite_database, world, LONG_AGO)
    connected = {world.devices["on"]}
    async with PresenceTicker(
        database=sqlite_database, connected_devices=lambda: connected, interval=0.02
    ) as ticker:
        await until(lambda: ticker.ticks >= 2, what="two ticks")
    seen = await stamps(sqlite_database, world)
    assert seen["on"] is not None and seen["on"] > utcnow() - timedelta(minutes=1)
    assert seen["off"] == LONG_AGO


async def test_mark_seen_writes_at_once_and_ignores_nothing(sqlite_database: Database) -> None:
    """mark_seen stamps immediately; an empty list is no work; the task stops on exit."""
    world = await factories.organization(sqlite_database, sites=("A",))
    await factories.device(world, "d", site="A")
    ticker = PresenceTicker(database=sqlite_database, connected_devices=list, interval=3600)
    async with ticker:
        assert await ticker.mark_seen([]) == 0
        assert await ticker.mark_seen([world.devices["d"]]) == 1
        task = ticker._task
    assert task is not None and task.done()
    assert (await stamps(sqlite_database, world))["d"] is not None


def test_interval_must_be_positive(sqlite_database: Database) -> None:
    """A zero interval would spin: refused."""
    with pytest.raises(ValueError):
        PresenceTicker(database=sqlite_database, connected_devices=list, interval=0)


async def test_connected_devices_show_reachable_on_the_presence_api(
    live_server: LiveServer,
) -> None:
    """Wired to the gateway's live connections: a connected device stays reachable while an
    idle one goes stale, as GET /api/v1/presence reports."""
    database = live_server.database
    world = await factories.organization(database, sites=("A",))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
    await factories.device(world, "online", site="A")
    await factories.device(world, "offline", site="A")
    ws, _ = await hello(live_server.ws_url, world.tokens["online"])
    await age(database, world, LONG_AGO)  # as if both were last seen long ago
    gateway = live_server.realtime.gateway
    async with PresenceTicker(
        database=database, connected_devices=gateway.connected_device_ids, interval=0.02
    ) as ticker:
        await until(lambda: ticker.ticks >= 1, what="a tick")
        response = await live_server.http.get(
            "/api/v1/presence", headers=bearer(world, "principal")
        )
    await ws.close()
    assert response.status_code == 200, response.text
    [site] = response.json()["sites"]
    assert (site["reachable"], site["unreachable"]) == (1, 1)
    assert [(d["name"], d["reachable"]) for d in site["devices"]] == [
        ("online", True),
        ("offline", False),
    ]
