"""The live roll call end to end: devices ack over the socket on a real server, dashboards
receive throttled `rollcall` frames that match the roll call, and nobody else does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection

from protocol.codec import decode_server
from protocol.messages import RollCall
from protocol.vocabulary import DeviceKind, Role
from server.clock import utcnow
from server.realtime.rollcall_feed import RollCallFeed
from server.storage.receipts import ReceiptUpdate
from server.storage.tables import PushDelivery
from tests import factories
from tests.factories import World, bearer
from tests.server.realtime.clients import dashboard, hello, next_of, receive
from tests.server.realtime.conftest import WAIT, LiveServer


@pytest.fixture
async def feed(live_server: LiveServer) -> AsyncIterator[RollCallFeed]:
    """A feed on the live server's hub, fed by its receipt writer (what the lead wires in
    server/realtime/service.py)."""
    async with RollCallFeed(
        database=live_server.database, hub=live_server.realtime.hub, min_interval=0.05
    ) as running:
        live_server.realtime.receipts.on_written = running.receipts_written
        yield running
        live_server.realtime.receipts.on_written = None


async def trigger(live: LiveServer, world: World, site: str) -> int:
    response = await live.http.post(
        "/api/v1/alerts",
        json={"kind": "pdv_lockdown", "site_ids": [world.sites[site]]},
        headers=bearer(world, "chief"),
    )
    assert response.status_code == 201, response.text
    alert_id: int = response.json()["alert"]["id"]
    return alert_id


async def ack(ws: ClientConnection, alert_id: int, response: str, **extra: str) -> None:
    await ws.send(json.dumps({"type": "ack", "alert_id": alert_id, "response": response, **extra}))


async def rollcall_until(
    ws: ClientConnection, alert_id: int, done: Any
) -> tuple[dict[str, Any], int]:
    """Read `rollcall` frames of the alert until `done(frame)`; (that frame, frames read)."""
    frames = 0
    while True:
        frame = await next_of(ws, "rollcall")
        if frame["alert_id"] != alert_id:
            continue
        frames += 1
        if done(frame):
            return frame, frames


async def _dispatcher_answered(world: World, alert_id: int, *, deliveries: int) -> None:
    """Wait until the live server's own dispatcher has recorded its attempt at each of the
    alert's push deliveries (push is not configured here: each ends failed), so that rows a
    test writes over them afterwards are no longer due and stay as written."""
    async with asyncio.timeout(WAIT):
        while True:
            async with world.database.session() as session:
                query = select(PushDelivery.state).where(PushDelivery.alert_id == alert_id)
                states = list(await session.scalars(query))
            if len(states) == deliveries and not {"queued", "sent"} & set(states):
                return
            await asyncio.sleep(0.05)


async def frames_until(ws: ClientConnection, done: Any, *kinds: str) -> dict[str, dict[str, Any]]:
    """Read frames until, for each of `kinds`, one has come for which `done(frame)`; the
    latest such frame of each kind (frames of other kinds are skipped)."""
    latest: dict[str, dict[str, Any]] = {}
    while set(latest) != set(kinds):
        message = await receive(ws)
        if message["type"] in kinds and done(message):
            latest[message["type"]] = message
    return latest


async def no_rollcall_before_pong(ws: ClientConnection) -> bool:
    """Ping and read up to the pong: True when no `rollcall` frame came first."""
    await ws.send(json.dumps({"type": "ping"}))
    while True:
        message = await receive(ws)
        if message["type"] == "pong":
            return True
        if message["type"] == "rollcall":
            return False


async def school(live: LiveServer, devices: int = 3) -> World:
    world = await factories.organization(live.database, sites=("A", "B"))
    await factories.person(world, "chief", roles=((Role.SECURITY_CHIEF, None),))
    await factories.person(world, "principal_a", roles=((Role.PRINCIPAL, "A"),))
    await factories.person(world, "principal_b", roles=((Role.PRINCIPAL, "B"),))
    await factories.person(world, "anna", roles=((Role.STAFF, "A"),), login=False)
    await factories.device(world, "a0", site="A", person_key="anna")
    for number in range(1, devices):
        await factories.device(world, f"a{number}", site="A")
    await factories.device(world, "b0", site="B")
    return world


async def test_acks_reach_the_dashboard_as_rollcall_frames(
    live_server: LiveServer, feed: RollCallFeed
) -> None:
    """Receipts and acks over the socket: the dashboard's frames end with the roll call the
    API reports, need-help note included, and decode as protocol RollCall frames."""
    world = await school(live_server)
    board = await dashboard(live_server.ws_url, world.tokens["principal_a"])
    devices = {
        key: (await hello(live_server.ws_url, world.tokens[key]))[0] for key in world.devices
    }
    alert_id = await trigger(live_server, world, "A")
    for key in ("a0", "a1", "a2"):
        await next_of(devices[key], "alert")
    await devices["a2"].send(
        json.dumps({"type": "receipt", "alert_id": alert_id, "state": "displayed"})
    )
    await ack(devices["a0"], alert_id, "need_help", note="sal 204", location="Hus B")
    await ack(devices["a1"], alert_id, "safe")

    frame, _ = await rollcall_until(
        board, alert_id, lambda f: f["totals"]["answered"] == 2 and f["totals"]["displayed"] == 3
    )
    site = str(world.sites["A"])
    assert list(frame["sites"]) == [site]
    # a0..a2 and principal_a, who has a role at A and no device: not reached
    assert frame["totals"]["expected"] == 4 and frame["totals"]["need_help"] == 1
    assert frame["totals"]["safe"] == 1 and frame["not_reached_count"] == 1
    assert frame["totals"]["no_device"] == 1
    assert frame["not_answered_count"] == 1
    assert frame["sites"][site]["zones"]["none"]["totals"] == frame["sites"][site]["totals"]
    [help_item] = frame["need_help"]
    assert help_item["person"] == "Anna" and help_item["note"] == "sal 204"
    assert isinstance(decode_server(json.dumps(frame)), RollCall)

    response = await live_server.http.get(
        f"/api/v1/alerts/{alert_id}/rollcall", headers=bearer(world, "principal_a")
    )
    assert response.json()["totals"] == frame["totals"]
    for ws in (board, *devices.values()):
        await ws.close()


async def test_a_burst_of_50_acks_yields_few_frames_and_the_last_has_all(
    live_server: LiveServer,
) -> None:
    """50 devices ack at once: far fewer frames than acks, the last one counts all 50."""
    async with RollCallFeed(
        database=live_server.database, hub=live_server.realtime.hub, min_interval=1.0
    ) as feed:
        live_server.realtime.receipts.on_written = feed.receipts_written
        world = await school(live_server, devices=50)
        board = await dashboard(live_server.ws_url, world.tokens["principal_a"])
        keys = [f"a{number}" for number in range(50)]
        devices = [(await hello(live_server.ws_url, world.tokens[key]))[0] for key in keys]
        alert_id = await trigger(live_server, world, "A")
        for ws in devices:
            await next_of(ws, "alert")
        await asyncio.gather(*(ack(ws, alert_id, "safe") for ws in devices))

        frame, frames = await rollcall_until(board, alert_id, lambda f: f["totals"]["safe"] == 50)
        assert frame["totals"]["expected"] == 51 and frame["totals"]["answered"] == 50
        assert frame["totals"]["no_device"] == 1  # principal_a
        assert frame["not_reached_count"] == 1 and frame["need_help"] == []
        assert frames <= 10
        for ws in (board, *devices):
            await ws.close()
        live_server.realtime.receipts.on_written = None


async def test_only_dashboards_of_the_alerts_sites_get_frames(
    live_server: LiveServer, feed: RollCallFeed
) -> None:
    """B's principal and the acking device itself get no roll call of A's alert; the
    organization-wide chief does."""
    world = await school(live_server)
    board_a = await dashboard(live_server.ws_url, world.tokens["principal_a"])
    board_b = await dashboard(live_server.ws_url, world.tokens["principal_b"])
    board_chief = await dashboard(live_server.ws_url, world.tokens["chief"])
    device, _ = await hello(live_server.ws_url, world.tokens["a1"])
    alert_id = await trigger(live_server, world, "A")
    await next_of(device, "alert")
    await ack(device, alert_id, "safe")
    for board in (board_a, board_chief):
        frame, _ = await rollcall_until(board, alert_id, lambda f: f["totals"]["safe"] == 1)
        assert list(frame["sites"]) == [str(world.sites["A"])]
    # every frame of that push is written by now: none went to B or to the device
    assert await no_rollcall_before_pong(board_b)
    assert await no_rollcall_before_pong(device)
    for ws in (board_a, board_b, board_chief, device):
        await ws.close()


async def test_a_repeated_receipt_pushes_nothing_new(
    live_server: LiveServer, feed: RollCallFeed
) -> None:
    """A resent `delivered` changes nothing: no frame; the next real change is pushed."""
    world = await school(live_server)
    board = await dashboard(live_server.ws_url, world.tokens["principal_a"])
    device, _ = await hello(live_server.ws_url, world.tokens["a1"])
    alert_id = await trigger(live_server, world, "A")
    await next_of(device, "alert")
    delivered = json.dumps({"type": "receipt", "alert_id": alert_id, "state": "delivered"})
    await device.send(delivered)
    await rollcall_until(board, alert_id, lambda f: f["totals"]["reached"] == 1)
    pushes = feed.pushes
    await device.send(delivered)
    await live_server.realtime.receipts.flush()
    await ack(device, alert_id, "not_on_site")
    frame, frames = await rollcall_until(board, alert_id, lambda f: True)
    assert frames == 1 and frame["totals"]["not_on_site"] == 1
    assert feed.pushes == pushes + 1
    await board.close()
    await device.close()


async def test_exit_cancels_pending_pushes_and_ignores_later_batches(
    live_server: LiveServer,
) -> None:
    """Leaving the `async with` cancels the throttle tasks; later batches start none."""
    world = await school(live_server)
    update = ReceiptUpdate(
        organization_id=world.organization_id,
        alert_id=1,
        device_id=world.devices["a1"],
        site_id=world.sites["A"],
        person_id=None,
        at=utcnow(),
    )
    feed = RollCallFeed(
        database=live_server.database, hub=live_server.realtime.hub, min_interval=60
    )
    async with feed:
        await feed.receipts_written([update])
        await feed.alerts_changed(world.organization_id, [2, 3])
        tasks = list(feed.feed._tasks.values())
        assert len(tasks) == 3
    assert all(task.done() for task in tasks) and not feed.feed._tasks
    await feed.receipts_written([update])
    assert not feed.feed._tasks


async def test_the_production_feed_pushes_the_http_roll_call(live_server: LiveServer) -> None:
    """The app's own wiring (receipt writer → roll-call feed → hub), no feed built here: a
    dashboard gets a `rollcall` frame after a device's ack, with exactly the structure and
    numbers GET /alerts/{id}/rollcall answers (less the lists by name)."""
    assert live_server.realtime.receipts.on_written is not None  # the app wired it
    world = await school(live_server)
    board = await dashboard(live_server.ws_url, world.tokens["principal_a"])
    device, _ = await hello(live_server.ws_url, world.tokens["a0"])
    alert_id = await trigger(live_server, world, "A")
    await next_of(device, "alert")
    await ack(device, alert_id, "need_help", note="sal 204")
    frame, _ = await rollcall_until(board, alert_id, lambda f: f["totals"]["need_help"] == 1)
    response = await live_server.http.get(
        f"/api/v1/alerts/{alert_id}/rollcall", headers=bearer(world, "principal_a")
    )
    document = response.json()
    lists = ("not_reached", "not_answered")
    assert {k: v for k, v in document.items() if k not in (*lists, "at")} == {
        k: v for k, v in frame.items() if k not in ("type", "at")
    }
    for ws in (board, device):
        await ws.close()


async def test_push_states_reach_the_dashboard_as_the_http_answers_them(
    live_server: LiveServer,
) -> None:
    """The dispatcher's signal that push states changed (`push_states_changed`) makes the
    app's feeds push a `rollcall` frame that counts the delivered push as reached, the
    failed one by state and the person without a device as not reached — exactly what GET
    /alerts/{id}/rollcall answers — and a `presence` frame that matches GET /presence."""
    world = await school(live_server, devices=1)
    await factories.device(world, "phone", site="A", kind=DeviceKind.IOS, person_key="anna")
    await factories.device(world, "web", site="A", kind=DeviceKind.WEB)
    await factories.push_registration(world, "phone", type="apns")
    await factories.push_registration(world, "web")
    board = await dashboard(live_server.ws_url, world.tokens["principal_a"])
    alert_id = await trigger(live_server, world, "A")
    await _dispatcher_answered(world, alert_id, deliveries=2)
    await factories.push_delivery(world, "phone", alert_id=alert_id, seq=1, state="delivered")
    await factories.push_delivery(
        world, "web", alert_id=alert_id, seq=1, state="failed", last_result="rejected: 413"
    )
    await live_server.realtime.push_states_changed(
        world.organization_id, alert_ids=[alert_id], site_ids=[world.sites["A"]]
    )
    latest = await frames_until(board, lambda f: f["push"]["failed"] == 1, "rollcall", "presence")
    frame, presence = latest["rollcall"], latest["presence"]
    assert frame["alert_id"] == alert_id and presence["site_id"] == world.sites["A"]
    assert isinstance(decode_server(json.dumps(frame)), RollCall)
    assert frame["totals"]["expected"] == 3  # anna (a0, phone), web, principal_a
    assert frame["totals"]["reached"] == 1 and frame["totals"]["no_device"] == 1
    assert frame["push"]["delivered"] == 1
    response = await live_server.http.get(
        f"/api/v1/alerts/{alert_id}/rollcall", headers=bearer(world, "principal_a")
    )
    document = response.json()
    lists = ("not_reached", "not_answered")
    assert {k: v for k, v in document.items() if k not in (*lists, "at")} == {
        k: v for k, v in frame.items() if k not in ("type", "at")
    }
    assert [(e["name"], e["reason"]) for e in document["not_reached"]] == [
        ("Principal_A", "no_device"),
        ("web", "not_delivered"),
    ]

    response = await live_server.http.get(
        "/api/v1/presence",
        params={"site_id": world.sites["A"]},
        headers=bearer(world, "principal_a"),
    )
    [site] = response.json()["sites"]
    assert {k: site[k] for k in ("reachable", "unreachable", "push")} == {
        k: presence[k] for k in ("reachable", "unreachable", "push")
    }
    assert presence["reachable"] == 1  # the phone, by push; nothing is connected
    await board.close()
