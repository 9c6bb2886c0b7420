"""The real `pdv-alert serve` process on an ephemeral port, driven over HTTP like a browser."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from protocol.vocabulary import Role
from server import demo
from tests.server.serving import HTTP_TIMEOUT, Running, cli, database_url, environment, seed, serve


def principal_of(site: str) -> demo.DemoPerson:
    return next(p for p in demo.PEOPLE if p.roles == ((Role.PRINCIPAL, site),))


def test_serve_runs_the_whole_alert_lifecycle_and_stops_cleanly(server: Running) -> None:
    """Login, /me, trigger → update → resolve over real HTTP; events have seqs 1-3; SIGTERM
    ends the process with exit code 0."""
    principal = principal_of("Ullvigymnasiet")
    with httpx.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as http:
        for path in ("/api/v1/health", "/api/v1/ready", "/docs"):
            assert http.get(path).status_code == 200, path

        login = http.post(
            "/api/v1/auth/login", json={"email": principal.email, "password": principal.password}
        )
        assert login.status_code == 200, login.text
        assert "pdv_session" in http.cookies

        me = http.get("/api/v1/me")
        assert me.status_code == 200, me.text
        assert me.json()["email"] == principal.email
        site_ids = [r["site_id"] for r in me.json()["roles"] if r["role"] == "principal"]
        assert len(site_ids) == 1

        triggered = http.post("/api/v1/alerts", json={"kind": "pdv_lockdown", "site_ids": site_ids})
        assert triggered.status_code == 201, triggered.text
        alert = triggered.json()["alert"]
        assert alert["kind"] == "pdv_lockdown"
        assert alert["state"] == "active"
        assert alert["sites"] == site_ids

        updated = http.patch(f"/api/v1/alerts/{alert['id']}", json={"kind": "evacuate"})
        assert updated.status_code == 200, updated.text

        resolved = http.post(f"/api/v1/alerts/{alert['id']}/resolve")
        assert resolved.status_code == 200, resolved.text

        events = http.get("/api/v1/alerts/events", params={"after_seq": 0})
        assert events.status_code == 200, events.text
        body = events.json()
        assert [(e["seq"], e["event"]) for e in body["events"]] == [
            (1, "triggered"),
            (2, "updated"),
            (3, "resolved"),
        ]
        assert body["seq"] == 3
        assert body["events"][1]["alert"]["kind"] == "evacuate"
        assert body["events"][2]["alert"]["state"] == "resolved"

        current = http.get(f"/api/v1/alerts/{alert['id']}")
        assert current.status_code == 200
        assert current.json()["state"] == "resolved"

    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0, server.stderr.read_text()


def _next_frame(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next frame of `kind`, skipping others (pong, roll call, presence)."""
    while True:
        frame = json.loads(ws.recv(timeout=HTTP_TIMEOUT))
        if frame["type"] == kind:
            return dict(frame)


def test_live_websocket_client_gets_every_event_and_a_clean_close(server: Running) -> None:
    """A client connected to the gateway of the real process receives triggered, updated and
    resolved live, in seq order; on SIGTERM it is closed with 1001 and the process exits 0."""
    principal = principal_of("Ullvigymnasiet")
    with httpx.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as http:
        login = http.post(
            "/api/v1/auth/login", json={"email": principal.email, "password": principal.password}
        )
        assert login.status_code == 200, login.text
        site_ids = [r["site_id"] for r in http.get("/api/v1/me").json()["roles"]]
        with connect(server.ws_url, open_timeout=HTTP_TIMEOUT) as ws:
            hello = {
                "type": "hello",
                "v": 1,
                "token": http.cookies["pdv_session"],
                "epoch": None,
                "last_seq": 0,
                "client": {"name": "e2e", "version": "1"},
            }
            ws.send(json.dumps(hello))
            welcome = _next_frame(ws, "welcome")
            assert welcome["active"] == []

            created = http.post(
                "/api/v1/alerts", json={"kind": "pdv_lockdown", "site_ids": site_ids}
            )
            assert created.status_code == 201, created.text
            alert_id = created.json()["alert"]["id"]
            assert http.patch(f"/api/v1/alerts/{alert_id}", json={"kind": "evacuate"}).is_success
            assert http.post(f"/api/v1/alerts/{alert_id}/resolve").is_success

            frames = [_next_frame(ws, "alert") for _ in range(3)]
            assert [(f["seq"], f["event"]) for f in frames] == [
                (1, "triggered"),
                (2, "updated"),
                (3, "resolved"),
            ]
            assert frames[1]["alert"]["kind"] == "evacuate"

            server.process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed):
                while True:
                    ws.recv(timeout=HTTP_TIMEOUT)
            assert ws.close_code == 1001
    assert server.process.wait(timeout=60) == 0, server.stderr.read_text()


def test_serve_stops_cleanly_on_sigint(server: Running) -> None:
    """Ctrl-C (SIGINT) also shuts the server down gracefully with exit code 0."""
    assert httpx.get(f"{server.url}/api/v1/health", timeout=HTTP_TIMEOUT).status_code == 200
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=60) == 0, server.stderr.read_text()


def test_serve_refuses_unsafe_production_settings(tmp_path: Path) -> None:
    """In production with the development secret, serve exits 2 before listening."""
    env = environment()
    env["PDV_ENVIRONMENT"] = "production"
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    result = subprocess.run(
        cli("--database-url", url, "serve", "--port", "0"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "PDV_SECRET_KEY" in result.stderr
    assert "listening" not in result.stdout


def test_the_host_option_is_the_gateways_address_too(tmp_path: Path) -> None:
    """`serve --host H` without `ws_host`: the HTTP server and the WebSocket gateway both
    listen on H (a node given its address on the command line is reachable on both)."""
    url = database_url(tmp_path)
    env = environment()
    seed(url, env)
    with serve(url, env, tmp_path / "serve.stderr", args=("--host", "127.0.0.2")) as running:
        assert running.url.startswith("http://127.0.0.2:")
        assert running.ws_url.startswith("ws://127.0.0.2:")
        with connect(running.ws_url, open_timeout=HTTP_TIMEOUT) as ws:
            ws.send(json.dumps({"type": "ping"}))  # not a hello: refused, but it answered
            assert json.loads(ws.recv(timeout=HTTP_TIMEOUT))["type"] == "error"
