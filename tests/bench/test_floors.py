"""The fan-out benchmark's floor servers (bench/floor_epoll.c, compiled here with gcc, and
bench/floor_server.py) speak real WebSocket to a real client and the driver's stdin protocol:
a `websockets` client completes the handshake (which checks Sec-WebSocket-Accept), is
welcomed after its hello and receives the fired frame byte for byte; bench/clients.py, the
benchmark's own load generator, works unchanged against both."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
TIMEOUT = 30


def text_frame(payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        return bytes([0x81, size]) + payload
    return bytes([0x81, 126]) + size.to_bytes(2, "big") + payload


@dataclass
class Floor:
    process: subprocess.Popen[str]
    port: int

    def ask(self, line: str) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()


@pytest.fixture(scope="module")
def epoll_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: bench/floor_epoll.c cannot be compiled")
    binary = tmp_path_factory.mktemp("floor") / "floor_epoll"
    subprocess.run(
        [gcc, "-O2", "-Wall", "-Werror", "-o", str(binary), str(BENCH / "floor_epoll.c")],
        check=True,
        timeout=120,
    )
    return binary


@pytest.fixture(params=["c", "python"])
def floor(request: pytest.FixtureRequest) -> Iterator[Floor]:
    if request.param == "c":
        command = [str(request.getfixturevalue("epoll_binary"))]
    else:
        command = [sys.executable, str(BENCH / "floor_server.py")]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        assert process.stdout is not None
        words = process.stdout.readline().split()
        assert words[:3] == ["floor", "listening", "on"], words
        yield Floor(process, int(words[3]))
    finally:
        process.kill()
        process.wait(TIMEOUT)


def test_a_websockets_client_is_welcomed_and_gets_the_fired_frame(floor: Floor) -> None:
    payload = json.dumps({"type": "alert", "seq": 7, "text": "x" * 300}).encode()  # > 125 B
    assert floor.ask(f"load a {text_frame(payload).hex()}") == "loaded a"
    with connect(f"ws://127.0.0.1:{floor.port}/", open_timeout=TIMEOUT) as ws:
        assert ws.protocol.extensions == []  # the permessage-deflate offer was declined
        ws.send(json.dumps({"type": "hello", "v": 1, "token": "t"}))
        welcome = json.loads(ws.recv(timeout=TIMEOUT))
        assert welcome["type"] == "welcome"
        assert floor.ask("count") == "count 1"
        words = floor.ask("fire a").split()
        assert words[:3] == ["fired", "a", "1"]
        assert float(words[3]) <= float(words[4])
        assert ws.recv(timeout=TIMEOUT) == payload.decode()
    # the close handshake was answered (`with` raised nothing) and the socket is gone
    assert floor.ask("count") == "count 0"


def test_a_request_without_a_key_is_refused(floor: Floor) -> None:
    with socket.create_connection(("127.0.0.1", floor.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
        answer = sock.recv(1024)
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_the_benchmark_clients_work_against_it(floor: Floor, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("pdvd_one\npdvd_two\npdvd_three\n")
    clients = subprocess.Popen(
        [sys.executable, str(BENCH / "clients.py"), "--tokens", str(tokens), "--count", "3"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    assert clients.stdin is not None and clients.stdout is not None

    def ask(command: dict[str, object]) -> dict[str, object]:
        assert clients.stdin is not None and clients.stdout is not None
        clients.stdin.write(json.dumps(command) + "\n")
        clients.stdin.flush()
        answer: dict[str, object] = json.loads(clients.stdout.readline())
        return answer

    try:
        assert json.loads(clients.stdout.readline())["op"] == "started"
        connected = ask({"op": "connect", "url": f"ws://127.0.0.1:{floor.port}/"})
        assert connected["ok"] == 3, connected
        payload = b'{"type":"alert","seq":41,"event":"triggered"}'
        assert floor.ask(f"load k {text_frame(payload).hex()}") == "loaded k"
        assert floor.ask("fire k").split()[:3] == ["fired", "k", "3"]
        stamps = ask({"op": "collect", "seq": 41, "timeout": TIMEOUT})
        assert stamps["missing"] == 0 and len(stamps["wire"]) == 3  # type: ignore[arg-type]
        assert ask({"op": "drop"})["closed"] == 3
    finally:
        clients.kill()
        clients.wait(TIMEOUT)
