"""Two nodes on one database and a real Redis: an alert triggered on one node reaches the
clients of the other, and a revocation on one closes the device's socket on the other."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as redis
from websockets.exceptions import ConnectionClosed

from protocol.vocabulary import Kind, Mode, Role
from server.clock import utcnow
from server.services import alerts
from server.services.sink import NullSink
from server.settings import Settings
from server.storage import callers
from server.storage.database import Database
from server.storage.tables import Person
from tests import factories
from tests.conftest import service_unavailable
from tests.factories import bearer
from tests.server.realtime.clients import hello, next_of
from tests.server.realtime.conftest import WAIT, LiveServer, realtime_settings, start_live_server

REDIS_URL = os.environ.get("PDV_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def redis_url() -> str:
    client = redis.from_url(REDIS_URL)
    try:
        await asyncio.wait_for(client.ping(), timeout=3)
    except (OSError, TimeoutError, redis.ConnectionError) as exc:
        service_unavailable(f"Redis unreachable at {REDIS_URL}: {exc}")
    finally:
        await client.aclose()
    return REDIS_URL


@asynccontextmanager
async def two_nodes(
    database: Database, settings: Settings
) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    async with (
        start_live_server(settings, database) as first,
        start_live_server(settings, database) as second,
    ):
        yield first, second


# A long catch-up tick: delivery across nodes must come from the bus, not from polling.
async def test_alert_on_one_node_reaches_clients_of_the_other(
    redis_url: str, sqlite_database: Database
) -> None:
    """Trigger on node 1, a device connected to node 2 gets the alert."""
    settings = realtime_settings(bus_url=redis_url, catch_up_seconds=3600)
    async with two_nodes(sqlite_database, settings) as (first, second):
        world = await factories.organization(sqlite_database, sites=("A",))
        await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
        await factories.device(world, "d", site="A")
        ws, _ = await hello(second.ws_url, world.tokens["d"])
        response = await first.http.post(
            "/api/v1/alerts",
            json={"kind": "evacuate", "site_ids": [world.sites["A"]]},
            headers=bearer(world, "principal"),
        )
        assert response.status_code == 201
        frame = await next_of(ws, "alert")
        assert frame["alert"]["id"] == response.json()["alert"]["id"]
        await ws.close()


async def test_revocation_on_one_node_closes_the_socket_on_the_other(
    redis_url: str, sqlite_database: Database
) -> None:
    """Revoke over node 1's API; the device's connection on node 2 closes with 4002."""
    settings = realtime_settings(bus_url=redis_url, catch_up_seconds=3600)
    async with two_nodes(sqlite_database, settings) as (first, second):
        world = await factories.organization(sqlite_database, sites=("A",))
        await factories.person(world, "admin", roles=((Role.ADMIN, None),))
        await factories.device(world, "d", site="A")
        ws, _ = await hello(second.ws_url, world.tokens["d"])
        response = await first.http.post(
            f"/api/v1/devices/{world.devices['d']}/revoke", headers=bearer(world, "admin")
        )
        assert response.status_code == 200
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=WAIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4002


async def test_missed_signals_are_caught_up_from_the_database(sqlite_database: Database) -> None:
    """Without any bus delivery (events written by another process), the tick catches up."""
    settings = realtime_settings(catch_up_seconds=0.1)
    async with start_live_server(settings, sqlite_database) as live:
        world = await factories.organization(sqlite_database, sites=("A",))
        await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
        await factories.device(world, "d", site="A")
        ws, _ = await hello(live.ws_url, world.tokens["d"])
        # As the CLI does without a bus: commit through the service, tell no one.
        async with sqlite_database.session() as session:
            person = await session.get_one(Person, world.persons["principal"])
            caller = callers.Caller(
                actor=await callers.person_actor(session, person=person), person=person
            )
            result = await alerts.trigger(
                session=session,
                sink=NullSink(),
                caller=caller,
                kind=Kind.PDV_LOCKDOWN,
                mode=Mode.ACTUAL,
                site_ids=[world.sites["A"]],
                now=utcnow(),
            )
        frame = await next_of(ws, "alert")
        assert frame["alert"]["id"] == result.alert["id"]
        await ws.close()
