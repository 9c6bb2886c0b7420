"""Redis for the tests. `require_redis()`: the shared Redis the bus tests use
(`PDV_TEST_REDIS_URL`). `RedisServer`: a private `redis-server` for one test, on its own
free port, that the test can kill (SIGKILL, as a crash) and start again on the same port.
Either is skipped with a reason when unavailable, or failed under PDV_REQUIRE_SERVICES=1
(tests/conftest.py `service_unavailable`)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis.asyncio as redis

from tests.conftest import service_unavailable

REDIS_URL = os.environ.get("PDV_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
START_TIMEOUT = 30.0  # seconds a private redis-server may take to answer


async def require_redis() -> str:
    """REDIS_URL once Redis answers a ping."""
    client = redis.from_url(REDIS_URL)
    try:
        await asyncio.wait_for(client.ping(), timeout=3)
    except (OSError, TimeoutError, redis.ConnectionError) as exc:
        service_unavailable(f"Redis unreachable at {REDIS_URL}: {exc}")
    finally:
        await client.aclose()
    return REDIS_URL


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """`with RedisServer(directory) as redis:` — `redis.url`, `kill()`, `start()`."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            service_unavailable("redis-server is not installed (apt-get install redis-server)")
        self.binary = str(binary)
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it on its port (again, after a kill) and wait until it accepts clients."""
        self.starts += 1
        log = (self.directory / f"redis-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def kill(self) -> None:
        """SIGKILL, as a crash: every client connection drops at once."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
