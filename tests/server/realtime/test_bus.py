"""Two nodes on one database and a real Redis: an alert triggered on one node reaches the
clients of the other, and a revocation on one closes the device's socket on the other.
Failure paths: garbage on the channel is ignored, a bad bus URL stops the start-up, and a
node whose Redis connection was lost catches up on what it missed when it is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as redis
from websockets.exceptions import ConnectionClosed

from protocol.vocabulary import Kind, Mode, Role
from server.app import create_app
from server.clock import utcnow
from server.realtime.bus import BusUrlError, RedisBus, channel, reconnect_delay
from server.services import alerts
from server.services.sink import NullSink
from server.settings import Settings
from server.storage import callers
from server.storage.database import Database
from server.storage.tables import Person
from tests import factories
from tests.factories import bearer
from tests.server.realtime.clients import hello, next_of
from tests.server.realtime.conftest import WAIT, LiveServer, realtime_settings, start_live_server
from tests.server.realtime.test_gateway import trigger
from tests.server.redis_service import require_redis
from tests.server.relay import Relay


@pytest.fixture
async def redis_url() -> str:
    return await require_redis()


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
        triggered = await trigger(first, world, "A", kind="evacuate")
        frame = await next_of(ws, "alert")
        assert frame["alert"]["id"] == triggered["alert"]["id"]
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


async def test_a_role_change_and_a_rebind_on_one_node_reconnect_on_the_other(
    redis_url: str, sqlite_database: Database
) -> None:
    """New roles or a new device binding over node 1's API: node 2's connections close 1012."""
    settings = realtime_settings(bus_url=redis_url, catch_up_seconds=3600)
    async with two_nodes(sqlite_database, settings) as (first, second):
        world = await factories.organization(sqlite_database, sites=("A",))
        await factories.person(world, "admin", roles=((Role.ADMIN, None),))
        staff = await factories.person(world, "staff", roles=((Role.STAFF, "A"),))
        await factories.device(world, "d", site="A")
        device, _ = await hello(second.ws_url, world.tokens["d"])
        person, _ = await hello(second.ws_url, world.tokens["staff"])
        changes = (
            (
                f"/api/v1/persons/{staff}",
                {"roles": [{"role": "principal", "site_id": world.sites["A"]}]},
                person,
            ),
            (f"/api/v1/devices/{world.devices['d']}", {"person_id": staff}, device),
        )
        for path, body, ws in changes:
            response = await first.http.patch(path, json=body, headers=bearer(world, "admin"))
            assert response.status_code == 200, response.text
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), timeout=WAIT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012


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


async def test_garbage_on_the_channel_is_ignored(
    redis_url: str, sqlite_database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Non-signals on the channel are logged and skipped; the next real signal still works."""
    settings = realtime_settings(bus_url=redis_url, catch_up_seconds=3600)
    async with two_nodes(sqlite_database, settings) as (first, second):
        world = await factories.organization(sqlite_database, sites=("A",))
        await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
        await factories.device(world, "d", site="A")
        ws, _ = await hello(second.ws_url, world.tokens["d"])
        raw = redis.from_url(redis_url)
        try:
            for garbage in (
                b"\xff",
                b"{",
                b'{"type": "explode", "node": "x"}',
                b'{"type": "event"}',
            ):
                await raw.publish(channel(settings.bus_channel_namespace()), garbage)
        finally:
            await raw.aclose()
        triggered = await trigger(first, world, "A", kind="evacuate")
        frame = await next_of(ws, "alert")
        assert frame["alert"]["id"] == triggered["alert"]["id"]
        await ws.close()
    ignored = [r for r in caplog.records if "no signal" in r.getMessage()]
    assert len(ignored) >= 4  # each node heard them


@pytest.mark.parametrize("url", ["kafka://127.0.0.1:9092", "redis://127.0.0.1:notaport/0", ""])
async def test_a_bad_bus_url_stops_the_start_up(url: str, sqlite_database: Database) -> None:
    """The app's lifespan refuses a bus URL that is not memory:// or a parseable Redis URL,
    with the URL in the message, before anything listens."""
    app = create_app(realtime_settings(bus_url=url), database=sqlite_database)
    with pytest.raises(BusUrlError, match="bus URL"):
        async with app.router.lifespan_context(app):
            pytest.fail("started with a bad bus URL")


async def test_a_node_that_lost_redis_catches_up_when_it_is_back(
    redis_url: str, sqlite_database: Database
) -> None:
    """Node 2's Redis connection is cut; node 1 commits an alert (its signal cannot reach
    node 2); when the link is back node 2 reconnects, catches up from the database and its
    client gets the alert. The catch-up tick is an hour: only the reconnect can deliver it."""
    direct = realtime_settings(bus_url=redis_url, catch_up_seconds=3600)
    async with Relay([redis_url]) as link:  # node 2's network to Redis
        relayed = realtime_settings(bus_url=link.url, catch_up_seconds=3600)
        async with (
            start_live_server(direct, sqlite_database) as first,
            start_live_server(relayed, sqlite_database) as second,
        ):
            world = await factories.organization(sqlite_database, sites=("A",))
            await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
            await factories.device(world, "d", site="A")
            ws, _ = await hello(second.ws_url, world.tokens["d"])
            bus = second.realtime.bus
            assert isinstance(bus, RedisBus) and bus.connected.is_set()
            await link.cut()  # node 2's connections are gone before the alert is committed
            accepted = link.accepted
            triggered = await trigger(first, world, "A")
            await link.restore()
            frame = await next_of(ws, "alert")
            assert frame["alert"]["id"] == triggered["alert"]["id"]
            assert link.accepted > accepted  # it came back through the restored link
            await ws.close()


async def test_two_namespaces_on_one_redis_do_not_hear_each_other(
    redis_url: str, sqlite_database: Database
) -> None:
    """Two installations share one Redis (and here even one database): a trigger on the
    node of namespace `a` reaches the client of the other node of `a` at once by its signal,
    while the node of namespace `b` hears nothing (its catch-up tick is an hour away)."""
    first_a = realtime_settings(bus_url=redis_url, bus_namespace="a", catch_up_seconds=3600)
    other_b = realtime_settings(bus_url=redis_url, bus_namespace="b", catch_up_seconds=3600)
    async with (
        start_live_server(first_a, sqlite_database) as node_a1,
        start_live_server(first_a, sqlite_database) as node_a2,
        start_live_server(other_b, sqlite_database) as node_b,
    ):
        world = await factories.organization(sqlite_database, sites=("A",))
        await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"),))
        await factories.device(world, "d", site="A")
        await factories.device(world, "e", site="A")
        ws_a, _ = await hello(node_a2.ws_url, world.tokens["d"])
        ws_b, _ = await hello(node_b.ws_url, world.tokens["e"])
        triggered = await trigger(node_a1, world, "A", kind="evacuate")
        frame = await next_of(ws_a, "alert")
        assert frame["alert"]["id"] == triggered["alert"]["id"]
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.0):  # a's signal went out long ago; b never hears it
                await next_of(ws_b, "alert")
        await ws_a.close()
        await ws_b.close()


def test_the_namespace_is_derived_from_the_secret_unless_set() -> None:
    """Without bus_namespace the channel is named after a hash of secret_key (so two
    installations differ, the nodes of one agree, and the secret is not in it); a set
    namespace is used as it is."""
    one = Settings(secret_key="x" * 40)
    same = Settings(secret_key="x" * 40)
    other = Settings(secret_key="y" * 40)
    assert one.bus_channel_namespace() == same.bus_channel_namespace()
    assert one.bus_channel_namespace() != other.bus_channel_namespace()
    assert "x" * 8 not in channel(one.bus_channel_namespace())
    assert Settings(bus_namespace="koping").bus_channel_namespace() == "koping"
    assert channel("koping") == "pdv-alert:koping:signals"


def test_redis_reconnects_are_spread_by_jitter() -> None:
    """The delay before a reconnect doubles from 0.2 s to at most 5 s and lies anywhere in
    the upper half of that: nodes that lost Redis together do not come back together."""
    assert reconnect_delay(0, 0.0) == pytest.approx(0.1)
    assert reconnect_delay(0, 0.999999) == pytest.approx(0.2)
    assert reconnect_delay(3, 0.0) == pytest.approx(0.8)
    assert reconnect_delay(50, 0.999999) == pytest.approx(5.0)
    spread = {round(reconnect_delay(4, k / 10), 3) for k in range(10)}
    assert len(spread) == 10 and min(spread) >= 1.6 and max(spread) <= 3.2
