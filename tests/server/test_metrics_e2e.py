"""/metrics, /api/v1/ready and JSON logs of the real `pdv-alert serve` process: after a
trigger, a desktop client's receipt and ack over the WebSocket, a Web Push to the local push
service and a refused login, the counters have moved and the log lines parse and carry the
alert, its seq and the node. With a private Redis as the bus: ready while Redis answers,
not ready (503) once it is killed, ready again and a reconnect counted after its restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.server.api.test_metrics import value
from tests.server.redis_service import RedisServer
from tests.server.serving import HTTP_TIMEOUT, serving
from tests.server.test_push_e2e import (
    ADMIN,
    PRINCIPAL,
    WAIT,
    PushServer,
    login,
    push_server,
    pushed_to_all,
)

__all__ = ["push_server"]  # the fixture, used below by name

NODE = "nod-a"


async def scrape(base: str) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=HTTP_TIMEOUT) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


async def scraped_until(base: str, done: Callable[[str], bool]) -> str:
    """Scrape until `done(page)` holds (receipts are group-committed, pushes answered later)."""
    async with asyncio.timeout(WAIT):
        while True:
            page = await scrape(base)
            if done(page):
                return page
            await asyncio.sleep(0.1)


async def enroll_desktop(server: PushServer) -> str:
    """A desktop device enrolled at the site with a fresh code; its token."""
    async with httpx.AsyncClient(base_url=server.base, timeout=HTTP_TIMEOUT) as admin:
        await login(admin, ADMIN)
        code = await admin.post(
            "/api/v1/enrollment-codes",
            json={"site_id": server.site_id, "device_kind": "desktop", "max_uses": 1},
        )
        assert code.status_code == 201, code.text
        enrolled = await admin.post(
            "/api/v1/devices/enroll",
            json={"code": code.json()["code"], "kind": "desktop", "name": "Expeditionen"},
        )
    assert enrolled.status_code == 201, enrolled.text
    token: str = enrolled.json()["token"]
    return token


async def next_frame(ws: ClientConnection, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame["type"] == kind:
                return frame


@pytest.mark.parametrize("push_server", [{"log_format": "json", "node_name": NODE}], indirect=True)
async def test_counters_move_after_a_trigger_answers_and_a_push(push_server: PushServer) -> None:
    """A connected desktop shows in pdv_connections{node, kind}; a trigger, the desktop's
    delivered receipt and safe ack, the browser's push and a wrong password move the event,
    fan-out, answer, push and login-failure counters; ready names the memory bus; every
    stderr line is JSON and the committed event's line carries alert_id, seq and node."""
    server = push_server
    browser = await server.enroll("Annas telefon", "web")
    assert browser.subscription is not None
    token = await enroll_desktop(server)
    async with connect(server.running.ws_url, open_timeout=HTTP_TIMEOUT) as ws:
        hello = {"type": "hello", "v": 1, "token": token, "epoch": None, "last_seq": 0}
        await ws.send(json.dumps({**hello, "client": {"name": "e2e", "version": "1"}}))
        await next_frame(ws, "welcome")
        page = await scrape(server.base)
        assert value(page, "pdv_connections", node=NODE, kind="desktop") == 1
        assert value(page, "pdv_connections", node=NODE, kind="ios") == 0

        alert_id = (await server.trigger())["alert"]["id"]
        frame = await next_frame(ws, "alert")
        assert (frame["seq"], frame["event"]) == (1, "triggered")
        await ws.send(json.dumps({"type": "receipt", "alert_id": alert_id, "state": "delivered"}))
        await ws.send(json.dumps({"type": "ack", "alert_id": alert_id, "response": "safe"}))
        await pushed_to_all(server.peer, [browser.subscription], seq=1)

        def moved(page: str) -> bool:
            return (
                value(page, "pdv_answers_stored_total", kind="ack") >= 1
                and value(page, "pdv_push_deliveries_total", type="webpush", result="delivered")
                >= 1
            )

        page = await scraped_until(server.base, moved)
    assert value(page, "pdv_events_fanned_out_total", event="triggered") == 1
    assert value(page, "pdv_fan_out_duration_seconds_count") >= 1
    assert value(page, "pdv_answers_stored_total", kind="delivered") == 1
    assert value(page, "pdv_answers_stored_total", kind="ack") == 1
    assert value(page, "pdv_push_outbox_depth") >= 0

    async with httpx.AsyncClient(base_url=server.base, timeout=HTTP_TIMEOUT) as http:
        wrong = await http.post(
            "/api/v1/auth/login", json={"email": PRINCIPAL.email, "password": "inte rätt lösen"}
        )
        assert wrong.status_code == 401
        ready = await http.get("/api/v1/ready")
    assert ready.json() == {"status": "ready", "database": "sqlite", "bus": "memory"}
    page = await scrape(server.base)
    assert value(page, "pdv_login_failures_total", reason="credentials") == 1

    documents = [json.loads(line) for line in server.running.stderr.read_text().splitlines()]
    assert documents, "the node wrote no log lines"
    assert all(d["node"] == NODE for d in documents)
    committed = [d for d in documents if d.get("alert_id") == alert_id and d.get("seq") == 1]
    assert committed and committed[0]["event"] == "triggered"


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(WAIT):
        while True:
            if await check():
                return
            await asyncio.sleep(0.1)


async def ready_status(http: httpx.AsyncClient) -> tuple[int, str]:
    """/api/v1/ready's status and error code ("" when ready)."""
    response = await http.get("/api/v1/ready")
    code: str = response.json().get("error", {}).get("code", "")
    return response.status_code, code


async def test_ready_follows_the_redis_bus(tmp_path: Path) -> None:
    """On a Redis bus: ready (bus "redis") while Redis answers, and an event's signal comes
    back from Redis (bus lag observed); 503 server.unavailable once Redis is killed; ready
    again after Redis restarts on the same port, with the reconnect counted."""
    with ExitStack() as stack:
        redis = stack.enter_context(RedisServer(tmp_path))
        running = stack.enter_context(serving(tmp_path, bus_url=redis.url))
        async with httpx.AsyncClient(base_url=running.url, timeout=HTTP_TIMEOUT) as http:
            ready = await http.get("/api/v1/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["bus"] == "redis"
            await login(http, PRINCIPAL)
            site_id = (await http.get("/api/v1/me")).json()["roles"][0]["site_id"]
            created = await http.post(
                "/api/v1/alerts", json={"kind": "pdv_lockdown", "site_ids": [site_id]}
            )
            assert created.status_code == 201, created.text
            await scraped_until(
                running.url, lambda page: value(page, "pdv_bus_lag_seconds_count") >= 1
            )
            reconnects = value(await scrape(running.url), "pdv_bus_reconnects_total")

            redis.kill()

            async def dead() -> bool:
                return await ready_status(http) == (503, "server.unavailable")

            await until(dead)
            redis.start()  # again, on the same port

            async def alive() -> bool:
                return await ready_status(http) == (200, "")

            await until(alive)
            await scraped_until(
                running.url,
                lambda page: value(page, "pdv_bus_reconnects_total") >= reconnects + 1,
            )
