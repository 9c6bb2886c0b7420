"""`pdv-alert trigger` against the real `pdv-alert serve` process and a real Redis: with a
bus URL the CLI's commit is signalled, so a connected client gets the alert at once although
the server's catch-up tick is an hour away; a bad bus URL is refused before anything is
written, and `serve` does not start on one."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from protocol.vocabulary import Role
from server import demo
from tests.server.redis_service import require_redis
from tests.server.serving import HTTP_TIMEOUT, Running, cli, environment, seed, serve
from tests.server.serving import database_url as database_file

SLUG = "kopings-kommun"
SITE = "Ullvigymnasiet"
PRINCIPAL = next(p for p in demo.PEOPLE if p.roles == ((Role.PRINCIPAL, SITE),))


@pytest.fixture
def redis_url() -> str:
    return asyncio.run(require_redis())


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A SQLite file seeded by `pdv-alert demo`."""
    url = database_file(tmp_path)
    seed(url)
    return url


@pytest.fixture
def server(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[Running]:
    """`pdv-alert serve` on the Redis bus, with a catch-up tick of an hour."""
    env = {**environment(), "PDV_BUS_URL": redis_url, "PDV_CATCH_UP_SECONDS": "3600"}
    with serve(database_url, env, tmp_path / "serve.stderr", stop="terminate") as running:
        yield running


def trigger(database_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli(
            "--database-url",
            database_url,
            "trigger",
            "--organization",
            SLUG,
            "--as",
            PRINCIPAL.email,
            "--site",
            SITE,
            "--kind",
            "pdv_lockdown",
            *extra,
        ),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def next_frame(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next frame of `kind`, skipping others (pong, roll call, presence)."""
    while True:
        frame = json.loads(ws.recv(timeout=HTTP_TIMEOUT))
        if frame["type"] == kind:
            return dict(frame)


def test_a_cli_trigger_reaches_a_connected_client_through_the_bus(
    server: Running, database_url: str, redis_url: str
) -> None:
    """The principal's dashboard connection to the serving process gets the CLI's alert; the
    server's catch-up tick is an hour, so only the CLI's bus signal can have delivered it."""
    with httpx.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as http:
        login = http.post(
            "/api/v1/auth/login", json={"email": PRINCIPAL.email, "password": PRINCIPAL.password}
        )
        assert login.status_code == 200, login.text
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
            assert next_frame(ws, "welcome")["active"] == []
            result = trigger(database_url, "--bus-url", redis_url)
            assert result.returncode == 0, result.stderr
            assert "seq 1" in result.stdout
            frame = next_frame(ws, "alert")
    assert (frame["seq"], frame["event"], frame["alert"]["kind"]) == (
        1,
        "triggered",
        "pdv_lockdown",
    )
    assert f"id {frame['alert']['id']}" in result.stdout


def test_a_bad_bus_url_is_refused_before_anything_is_written(database_url: str) -> None:
    """`trigger --bus-url kafka://…` exits 2 naming the URL, and triggers nothing: the same
    trigger without it is then the first alert (seq 1)."""
    refused = trigger(database_url, "--bus-url", "kafka://127.0.0.1:9092")
    assert refused.returncode == 2
    assert "kafka://127.0.0.1:9092" in refused.stderr and "bus URL" in refused.stderr
    done = trigger(database_url)  # memory:// by default: nothing to signal
    assert done.returncode == 0, done.stderr
    assert "seq 1" in done.stdout


def test_serve_does_not_start_on_a_bad_bus_url(database_url: str) -> None:
    """`serve` with PDV_BUS_URL of an unknown scheme exits non-zero, naming the URL."""
    env = {**environment(), "PDV_BUS_URL": "kafka://127.0.0.1:9092"}
    result = subprocess.run(
        cli("--database-url", database_url, "serve", "--host", "127.0.0.1", "--port", "0"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "unsupported bus URL" in result.stderr and "kafka://127.0.0.1:9092" in result.stderr
    assert "listening" not in result.stdout
