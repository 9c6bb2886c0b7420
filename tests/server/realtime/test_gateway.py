"""The WebSocket gateway end to end: a real server, real clients, alerts triggered over HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from protocol.codec import decode_server, to_dict
from protocol.vocabulary import Role
from server.app import create_app
from server.errors import ERRORS
from server.realtime.gateway import MAX_EARLY_FRAMES
from server.settings import Settings
from server.storage.tables import Receipt
from tests import factories
from tests.factories import bearer
from tests.protocol.node import js_decode
from tests.server.realtime.clients import hello, hello_frame, next_of, receive
from tests.server.realtime.conftest import WAIT, LiveServer


async def world_with_devices(live: LiveServer) -> factories.World:
    world = await factories.organization(live.database, sites=("A", "B"))
    await factories.person(world, "principal", roles=((Role.PRINCIPAL, "A"), (Role.PRINCIPAL, "B")))
    for name, site in (("a1", "A"), ("a2", "A"), ("a3", "A"), ("b1", "B")):
        await factories.device(world, name, site=site)
    return world


async def trigger(
    live: LiveServer, world: factories.World, site: str, kind: str = "pdv_lockdown"
) -> dict:
    response = await live.http.post(
        "/api/v1/alerts",
        json={"kind": kind, "site_ids": [world.sites[site]]},
        headers=bearer(world, "principal"),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_trigger_reaches_every_device_of_the_site_and_no_other(
    live_server: LiveServer,
) -> None:
    """All devices of site A get the alert; B's device gets only B's later alert."""
    world = await world_with_devices(live_server)
    clients = {
        name: (await hello(live_server.ws_url, world.tokens[name]))[0]
        for name in ("a1", "a2", "a3", "b1")
    }
    created = await trigger(live_server, world, "A")
    for name in ("a1", "a2", "a3"):
        frame = await next_of(clients[name], "alert")
        assert frame["event"] == "triggered"
        assert frame["alert"]["id"] == created["alert"]["id"]
        assert frame["seq"] == created["event"]["seq"]
    second = await trigger(live_server, world, "B", kind="evacuate")
    frame = await next_of(clients["b1"], "alert")
    assert frame["alert"]["id"] == second["alert"]["id"]  # A's alert never reached b1
    for ws in clients.values():
        await ws.close()


async def test_other_organization_receives_nothing(live_server: LiveServer) -> None:
    """A device of another organization only sees its own organization's alerts."""
    world = await world_with_devices(live_server)
    other = await factories.organization(live_server.database, name="Arboga", sites=("A",))
    await factories.person(other, "principal", roles=((Role.PRINCIPAL, "A"),))
    await factories.device(other, "x1", site="A")
    ws, welcome = await hello(live_server.ws_url, other.tokens["x1"])
    assert welcome["active"] == []
    await trigger(live_server, world, "A")
    own = await trigger(live_server, other, "A")
    frame = await next_of(ws, "alert")
    assert frame["alert"]["id"] == own["alert"]["id"]
    assert frame["seq"] == 1  # its organization's own stream
    await ws.close()


async def test_update_resolve_reach_the_same_audience_in_order(live_server: LiveServer) -> None:
    """Update replaces the order, then resolve; each device sees seq 1, 2, 3 in order."""
    world = await world_with_devices(live_server)
    ws, _ = await hello(live_server.ws_url, world.tokens["a1"])
    created = await trigger(live_server, world, "A")
    alert_id = created["alert"]["id"]
    headers = bearer(world, "principal")
    response = await live_server.http.patch(
        f"/api/v1/alerts/{alert_id}", json={"kind": "evacuate"}, headers=headers
    )
    assert response.status_code == 200, response.text
    response = await live_server.http.post(f"/api/v1/alerts/{alert_id}/resolve", headers=headers)
    assert response.status_code == 200, response.text
    frames = [await next_of(ws, "alert") for _ in range(3)]
    assert [f["event"] for f in frames] == ["triggered", "updated", "resolved"]
    assert [f["seq"] for f in frames] == [1, 2, 3]
    assert frames[1]["alert"]["kind"] == "evacuate"
    assert frames[2]["alert"]["state"] == "resolved"
    await ws.close()


async def test_cancel_reaches_the_same_audience(live_server: LiveServer) -> None:
    """A false-alarm cancel goes to exactly the devices that got the alert."""
    world = await world_with_devices(live_server)
    a1, _ = await hello(live_server.ws_url, world.tokens["a1"])
    b1, _ = await hello(live_server.ws_url, world.tokens["b1"])
    created = await trigger(live_server, world, "A")
    response = await live_server.http.post(
        f"/api/v1/alerts/{created['alert']['id']}/cancel", headers=bearer(world, "principal")
    )
    assert response.status_code == 200
    assert (await next_of(a1, "alert"))["event"] == "triggered"
    assert (await next_of(a1, "alert"))["event"] == "cancelled"
    marker = await trigger(live_server, world, "B")
    assert (await next_of(b1, "alert"))["alert"]["id"] == marker["alert"]["id"]
    await a1.close()
    await b1.close()


async def test_first_connect_gets_a_snapshot_of_active_alerts(live_server: LiveServer) -> None:
    """A device connecting during an alert sees it in the welcome (recovered false)."""
    world = await world_with_devices(live_server)
    created = await trigger(live_server, world, "A")
    ws, welcome = await hello(live_server.ws_url, world.tokens["a2"])
    assert welcome["recovered"] is False
    assert [a["id"] for a in welcome["active"]] == [created["alert"]["id"]]
    assert welcome["seq"] == 1
    await ws.close()


async def test_resume_replays_what_was_missed(live_server: LiveServer) -> None:
    """Events committed while a client was away are replayed on resume, in order."""
    world = await world_with_devices(live_server)
    ws, welcome = await hello(live_server.ws_url, world.tokens["a1"])
    epoch = welcome["epoch"]
    first = await trigger(live_server, world, "A")
    assert (await next_of(ws, "alert"))["seq"] == 1
    await ws.close()
    alert_id = first["alert"]["id"]
    headers = bearer(world, "principal")
    await live_server.http.patch(
        f"/api/v1/alerts/{alert_id}", json={"kind": "secure"}, headers=headers
    )
    await live_server.http.post(f"/api/v1/alerts/{alert_id}/resolve", headers=headers)
    ws, welcome = await hello(live_server.ws_url, world.tokens["a1"], epoch=epoch, last_seq=1)
    assert welcome["recovered"] is True
    assert [e["seq"] for e in welcome["events"]] == [2, 3]
    assert [e["event"] for e in welcome["events"]] == ["updated", "resolved"]
    await ws.close()


async def test_resume_with_another_epoch_gets_a_snapshot(live_server: LiveServer) -> None:
    """A client from before a database reset/restore gets recovered false and the snapshot."""
    world = await world_with_devices(live_server)
    created = await trigger(live_server, world, "A")
    ws, welcome = await hello(live_server.ws_url, world.tokens["a1"], epoch="stale", last_seq=7)
    assert welcome["recovered"] is False
    assert [a["id"] for a in welcome["active"]] == [created["alert"]["id"]]
    await ws.close()


@pytest.mark.parametrize("live_settings", [{"max_replay_events": 2}], indirect=True)
async def test_resume_with_too_large_a_gap_gets_a_snapshot(live_server: LiveServer) -> None:
    """More missed events than the replay limit: recovered false plus the active alerts."""
    world = await world_with_devices(live_server)
    ws, welcome = await hello(live_server.ws_url, world.tokens["a1"])
    epoch = welcome["epoch"]
    await ws.close()
    created = await trigger(live_server, world, "A")
    alert_id = created["alert"]["id"]
    for kind in ("evacuate", "secure", "pdv_lockdown"):
        await live_server.http.patch(
            f"/api/v1/alerts/{alert_id}", json={"kind": kind}, headers=bearer(world, "principal")
        )
    ws, welcome = await hello(live_server.ws_url, world.tokens["a1"], epoch=epoch, last_seq=0)
    assert welcome["recovered"] is False
    assert welcome["seq"] == 4
    assert welcome["active"][0]["kind"] == "pdv_lockdown"
    await ws.close()


async def test_resume_replays_only_what_the_device_may_see(live_server: LiveServer) -> None:
    """Replay skips other sites' events but the welcome seq still covers them."""
    world = await world_with_devices(live_server)
    ws, welcome = await hello(live_server.ws_url, world.tokens["b1"])
    await ws.close()
    await trigger(live_server, world, "A")
    second = await trigger(live_server, world, "B")
    ws, welcome = await hello(live_server.ws_url, world.tokens["b1"], epoch=welcome["epoch"])
    assert welcome["recovered"] is True
    assert [e["alert"]["id"] for e in welcome["events"]] == [second["alert"]["id"]]
    assert welcome["seq"] == 2
    await ws.close()


async def test_receipts_and_acks_are_recorded(live_server: LiveServer) -> None:
    """delivered, displayed and ack land in the receipts table, idempotently."""
    world = await world_with_devices(live_server)
    ws, _ = await hello(live_server.ws_url, world.tokens["a1"])
    created = await trigger(live_server, world, "A")
    alert_id = created["alert"]["id"]
    await next_of(ws, "alert")
    for state in ("delivered", "delivered", "displayed"):
        await ws.send(json.dumps({"type": "receipt", "alert_id": alert_id, "state": state}))
    await ws.send(
        json.dumps(
            {
                "type": "ack",
                "alert_id": alert_id,
                "response": "need_help",
                "note": "Hus B, sal 204",
                "location": "Hus B",
            }
        )
    )
    await ws.send(json.dumps({"type": "ping", "ts": 1.5}))
    assert (await next_of(ws, "pong"))["ts"] == 1.5
    await live_server.realtime.receipts.flush()
    async with live_server.database.session() as session:
        rows = (await session.scalars(select(Receipt))).all()
    assert len(rows) == 1
    receipt = rows[0]
    assert receipt.device_id == world.devices["a1"]
    assert receipt.delivered_at is not None and receipt.displayed_at is not None
    assert receipt.response == "need_help" and receipt.note == "Hus B, sal 204"
    await ws.close()


async def test_ack_for_another_sites_alert_is_not_recorded(live_server: LiveServer) -> None:
    """A device can't write receipts for an alert that does not target its site."""
    world = await world_with_devices(live_server)
    ws, _ = await hello(live_server.ws_url, world.tokens["b1"])
    created = await trigger(live_server, world, "A")
    await ws.send(
        json.dumps({"type": "ack", "alert_id": created["alert"]["id"], "response": "safe"})
    )
    await ws.send(json.dumps({"type": "ping"}))
    await next_of(ws, "pong")
    await live_server.realtime.receipts.flush()
    async with live_server.database.session() as session:
        assert await session.scalar(select(func.count()).select_from(Receipt)) == 0
    await ws.close()


async def test_revoked_device_is_disconnected(live_server: LiveServer) -> None:
    """Revoking a device over the API closes its live connection with the revoked code."""
    world = await world_with_devices(live_server)
    await factories.person(world, "admin", roles=((Role.ADMIN, None),))
    ws, _ = await hello(live_server.ws_url, world.tokens["a1"])
    response = await live_server.http.post(
        f"/api/v1/devices/{world.devices['a1']}/revoke", headers=bearer(world, "admin")
    )
    assert response.status_code == 200, response.text
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), timeout=WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4002


async def test_bad_token_is_refused(live_server: LiveServer) -> None:
    """An unknown token gets an error frame and the invalid-token close code."""
    ws = await connect(live_server.ws_url)
    await ws.send(
        json.dumps(
            {
                "type": "hello",
                "v": 1,
                "token": "pdvd_nope",
                "epoch": None,
                "last_seq": 0,
                "client": {"name": "t", "version": "1"},
            }
        )
    )
    error = await receive(ws)
    assert error == {"type": "error", "code": "auth.invalid_token", "message": error["message"]}
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001


async def test_api_key_cannot_listen(live_server: LiveServer) -> None:
    """Panic-button keys may trigger but never subscribe."""
    world = await world_with_devices(live_server)
    await factories.api_key(world, "button", site="A")
    ws = await connect(live_server.ws_url)
    await ws.send(
        json.dumps(
            {
                "type": "hello",
                "v": 1,
                "token": world.tokens["button"],
                "epoch": None,
                "last_seq": 0,
                "client": {"name": "t", "version": "1"},
            }
        )
    )
    assert (await receive(ws))["code"] == "auth.invalid_token"


async def test_first_frame_must_be_hello(live_server: LiveServer) -> None:
    """Anything but hello first is refused and closes the connection."""
    ws = await connect(live_server.ws_url)
    await ws.send(json.dumps({"type": "ping"}))
    assert (await receive(ws))["code"] == "protocol.hello_required"
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4003


async def test_malformed_frames_get_errors_and_abuse_closes(live_server: LiveServer) -> None:
    """Each malformed frame gets an error; too many close the connection (4003)."""
    world = await world_with_devices(live_server)
    ws, _ = await hello(live_server.ws_url, world.tokens["a1"])
    await ws.send("not json")
    assert (await receive(ws))["code"] == "protocol.malformed"
    await ws.send(json.dumps({"type": "ack", "alert_id": 1, "response": "maybe"}))
    assert (await receive(ws))["code"] == "protocol.invalid"
    await ws.send(json.dumps({"type": "ping", "extra": 1}))
    assert (await receive(ws))["code"] == "protocol.unknown_field"
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(20):
            await ws.send(json.dumps({"type": "launch"}))
            await receive(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4003


async def test_oversized_frame_closes_with_1009(live_server: LiveServer) -> None:
    """A frame over the limit closes the connection with 1009 (message too big)."""
    world = await world_with_devices(live_server)
    ws, _ = await hello(live_server.ws_url, world.tokens["a1"])
    await ws.send(
        json.dumps({"type": "ack", "alert_id": 1, "response": "safe", "note": "x" * 10_000})
    )
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), timeout=WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_foreign_origin_is_refused(live_server: LiveServer) -> None:
    """A browser page from another origin can't open the socket."""
    with pytest.raises(InvalidStatus) as refused:
        await connect(live_server.ws_url, origin="https://evil.example")
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("live_settings", [{"hello_timeout_seconds": 0.2}], indirect=True)
async def test_silent_client_is_closed_after_hello_timeout(live_server: LiveServer) -> None:
    """A connection that never says hello is closed with 4004."""
    ws = await connect(live_server.ws_url)
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), timeout=WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4004


async def test_dashboard_person_connects_with_session_cookie(live_server: LiveServer) -> None:
    """A browser dashboard authenticates with its session cookie and gets alerts of its sites."""
    world = await world_with_devices(live_server)
    cookie = f"pdv_session={world.tokens['principal']}"
    ws = await connect(
        live_server.ws_url, additional_headers={"Cookie": cookie}, origin="http://127.0.0.1:8000"
    )
    await ws.send(
        json.dumps(
            {
                "type": "hello",
                "v": 1,
                "token": "",
                "epoch": None,
                "last_seq": 0,
                "client": {"name": "dashboard", "version": "1"},
            }
        )
    )
    assert (await receive(ws))["type"] == "welcome"
    created = await trigger(live_server, world, "B")
    assert (await next_of(ws, "alert"))["alert"]["id"] == created["alert"]["id"]
    await ws.close()


async def test_hello_racing_a_revocation_is_closed(live_server: LiveServer) -> None:
    """A revocation that arrives before the hello registers (token checked just before the
    revoke committed) still closes the connection with 4002."""
    world = await world_with_devices(live_server)
    live_server.realtime.gateway.close_device(world.devices["a1"])  # the signal came first
    ws = await connect(live_server.ws_url)
    await ws.send(
        json.dumps(
            {
                "type": "hello",
                "v": 1,
                "token": world.tokens["a1"],
                "epoch": None,
                "last_seq": 0,
                "client": {"name": "t", "version": "1"},
            }
        )
    )
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), timeout=WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4002
    other, _ = await hello(live_server.ws_url, world.tokens["a2"])  # others are unaffected
    await other.close()


class Recorder:
    """Keeps every raw frame the server sent to the connections it reads."""

    def __init__(self) -> None:
        self.frames: list[str] = []

    async def next_of(self, ws: ClientConnection, kind: str) -> dict[str, Any]:
        while True:
            raw = await asyncio.wait_for(ws.recv(), timeout=WAIT)
            assert isinstance(raw, str)
            self.frames.append(raw)
            message: dict[str, Any] = json.loads(raw)
            if message["type"] == kind:
                return message

    async def hello(
        self, url: str, token: str, *, epoch: str | None = None, last_seq: int = 0, **args: Any
    ) -> tuple[ClientConnection, dict[str, Any]]:
        ws = await connect(url, open_timeout=WAIT, **args)
        await ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "v": 1,
                    "token": token,
                    "epoch": epoch,
                    "last_seq": last_seq,
                    "client": {"name": "test", "version": "1"},
                }
            )
        )
        return ws, await self.next_of(ws, "welcome")


async def test_every_frame_the_gateway_sends_decodes_in_python_and_in_js(
    live_server: LiveServer,
) -> None:
    """welcome (recovered true and false), alert (every event), pong, error, rollcall and
    presence as the real server writes them: decode_server reads each, and protocol.js's
    decodeServer reads each to the same message."""
    world = await world_with_devices(live_server)
    recorder = Recorder()
    headers = bearer(world, "principal")
    board, _ = await recorder.hello(live_server.ws_url, world.tokens["principal"])
    a1, first = await recorder.hello(live_server.ws_url, world.tokens["a1"])
    await recorder.next_of(board, "presence")  # a1 connected
    created = await trigger(live_server, world, "A")
    alert_id = created["alert"]["id"]
    await live_server.http.patch(
        f"/api/v1/alerts/{alert_id}", json={"kind": "evacuate"}, headers=headers
    )
    await live_server.http.post(f"/api/v1/alerts/{alert_id}/resolve", headers=headers)
    second = await trigger(live_server, world, "A")
    await live_server.http.post(f"/api/v1/alerts/{second['alert']['id']}/cancel", headers=headers)
    events = [(await recorder.next_of(a1, "alert"))["event"] for _ in range(5)]
    assert events == ["triggered", "updated", "resolved", "triggered", "cancelled"]
    await a1.send(json.dumps({"type": "ack", "alert_id": alert_id, "response": "safe"}))
    await recorder.next_of(board, "rollcall")
    await a1.send(json.dumps({"type": "ping", "ts": 1}))
    await recorder.next_of(a1, "pong")
    await a1.send(json.dumps({"type": "ack", "alert_id": 1, "response": "maybe"}))
    await recorder.next_of(a1, "error")
    await a1.close()
    resumed, welcome = await recorder.hello(
        live_server.ws_url, world.tokens["a1"], epoch=first["epoch"], last_seq=2
    )
    assert welcome["recovered"] is True and len(welcome["events"]) == 3
    fresh, welcome = await recorder.hello(live_server.ws_url, world.tokens["a2"])
    assert welcome["recovered"] is False
    for ws in (board, resumed, fresh):
        await ws.close()

    decoded = [decode_server(frame) for frame in recorder.frames]
    kinds = {type(message).__name__ for message in decoded}
    assert kinds == {"Welcome", "AlertEvent", "Pong", "Error", "RollCall", "Presence"}
    assert '{"type":"pong","ts":1}' in recorder.frames  # ts echoed exactly, not 1.0
    in_js = js_decode(recorder.frames)
    assert in_js == [{"message": to_dict(message)} for message in decoded]


async def _hello_and_pings(live: LiveServer, token: str, pings: int) -> ClientConnection:
    """Connect and send the hello and `pings` pings in one write, so that they all reach the
    server before its welcome can be built."""
    ws = await connect(live.ws_url, open_timeout=WAIT)
    ws.protocol.send_text(hello_frame(token).encode())
    for n in range(pings):
        ws.protocol.send_text(json.dumps({"type": "ping", "ts": n}).encode())
    ws.send_data()
    return ws


async def test_frames_sent_before_the_welcome_are_answered_after_it(
    live_server: LiveServer,
) -> None:
    """Pings sent right behind the hello wait for the welcome, then are answered in order."""
    world = await world_with_devices(live_server)
    ws = await _hello_and_pings(live_server, world.tokens["a1"], MAX_EARLY_FRAMES)
    assert (await receive(ws))["type"] == "welcome"
    pongs = [await receive(ws) for _ in range(MAX_EARLY_FRAMES)]
    assert pongs == [{"type": "pong", "ts": n} for n in range(MAX_EARLY_FRAMES)]
    await ws.close()


async def test_too_many_frames_before_the_welcome_close_the_connection(
    live_server: LiveServer,
) -> None:
    """One frame more than the gateway holds before the welcome closes with 4003."""
    world = await world_with_devices(live_server)
    ws = await _hello_and_pings(live_server, world.tokens["a1"], MAX_EARLY_FRAMES + 1)
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), timeout=WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4003


@pytest.mark.parametrize("live_settings", [{"catch_up_seconds": 3600}], indirect=True)
@pytest.mark.parametrize("last_seq", [0, 1])
async def test_resume_replays_events_this_node_has_not_fanned_out_yet(
    live_server: LiveServer, live_settings: Settings, last_seq: int
) -> None:
    """Events another node committed whose signal has not reached this node: the welcome
    (read from the database, seq 3) still replays every one of them, and none is skipped
    later when the signal comes."""
    world = await world_with_devices(live_server)
    listener, welcome = await hello(live_server.ws_url, world.tokens["a1"])  # keeps the stream
    epoch = welcome["epoch"]
    created = await trigger(live_server, world, "A")  # seq 1, fanned out here
    assert (await next_of(listener, "alert"))["seq"] == 1
    other_node = create_app(live_settings, database=live_server.database, realtime=False)
    transport = httpx.ASGITransport(app=other_node)
    async with httpx.AsyncClient(transport=transport, base_url="http://node-b") as node_b:
        alert_url = f"/api/v1/alerts/{created['alert']['id']}"
        headers = bearer(world, "principal")
        for kind in ("evacuate", "secure"):  # seq 2 and 3, not signalled to this node
            response = await node_b.patch(alert_url, json={"kind": kind}, headers=headers)
            assert response.status_code == 200, response.text
    ws, welcome = await hello(
        live_server.ws_url, world.tokens["a2"], epoch=epoch, last_seq=last_seq
    )
    assert welcome["recovered"] is True
    assert welcome["seq"] == 3
    assert [e["seq"] for e in welcome["events"]] == list(range(last_seq + 1, 4))
    assert welcome["events"][-1]["alert"]["kind"] == "secure"
    await ws.close()
    await listener.close()


@pytest.mark.parametrize(("language", "expected"), [("sv", "sv"), ("en", "en")])
async def test_a_refused_hello_is_answered_in_its_language(
    live_server: LiveServer, language: str, expected: str
) -> None:
    """`hello.language` is the language of every error the connection gets, the refusal
    of its token included."""
    ws = await connect(live_server.ws_url)
    frame = json.loads(hello_frame("pdvd_nope"))
    await ws.send(json.dumps({**frame, "language": language}))
    error = await receive(ws)
    spec = ERRORS["auth.invalid_token"]
    assert error["message"] == (spec.en if expected == "en" else spec.sv)
    await ws.close()
