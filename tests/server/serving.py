"""Starting the real `pdv-alert serve` process for end-to-end tests."""

from __future__ import annotations

import atexit
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

STARTUP_TIMEOUT = 60.0
HTTP_TIMEOUT = 30.0
LISTENING = re.compile(r"^pdv-alert listening on (http://\S+)$")
WEBSOCKET = re.compile(r"^pdv-alert websocket on (ws://\S+)$")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "server.cli", *args]


def environment() -> dict[str, str]:
    """The test process's environment without PDV_* settings from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDV_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PDV_WS_PORT"] = "0"  # the WebSocket gateway, if started, on any free port
    return env


@dataclass
class Running:
    process: subprocess.Popen[str]
    url: str
    ws_url: str
    stderr: Path


def _pump(stream: object, lines: queue.Queue[str | None]) -> None:
    """Read the server's stdout to the end so it never blocks on a full pipe."""
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line.rstrip("\n"))
    lines.put(None)


SQLITE_PREFIX = "sqlite+aiosqlite:///"


def database_url(tmp_path: Path) -> str:
    return f"{SQLITE_PREFIX}{tmp_path / 'pdv-alert.db'}"


# `pdv-alert demo` takes seconds (imports, migrations, password hashing): a new SQLite file
# gets a copy of what one real run made with the same PDV_* settings, once per test session.
_demo_copies: dict[tuple[tuple[str, str], ...], Path] = {}


def seed(url: str, env: dict[str, str] | None = None) -> None:
    """`pdv-alert demo` on the database at `url`. For a SQLite file that does not exist
    yet: a copy of the files a real `demo` run wrote (the database and the demo's VAPID key
    beside it) with the same PDV_* settings; otherwise the command itself."""
    env = env or environment()
    target = Path(url.removeprefix(SQLITE_PREFIX)) if url.startswith(SQLITE_PREFIX) else None
    if target is None or target.exists():
        run_demo(url, env)
        return
    settings = tuple(sorted((k, v) for k, v in env.items() if k.startswith("PDV_")))
    made = _demo_copies.get(settings)
    if made is None:
        made = Path(tempfile.mkdtemp(prefix="pdv-demo-")) / "pdv-alert.db"
        atexit.register(shutil.rmtree, made.parent, True)
        run_demo(SQLITE_PREFIX + str(made), env)
        _demo_copies[settings] = made
    target.parent.mkdir(parents=True, exist_ok=True)  # as the command would
    for path in made.parent.iterdir():
        name = (
            target.name + path.name.removeprefix(made.name)
            if path.name.startswith(made.name)
            else path.name
        )
        shutil.copy2(path, target.parent / name)


def run_demo(url: str, env: dict[str, str]) -> None:
    """`pdv-alert demo` on the database at `url`, which must succeed."""
    seeded = subprocess.run(
        cli("--database-url", url, "demo"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stderr


@contextmanager
def serving(tmp_path: Path, **settings: str) -> Iterator[Running]:
    """`pdv-alert demo`, then `pdv-alert serve --port 0` on a fresh SQLite file in
    `tmp_path`, with extra `PDV_<NAME>` settings; killed when the block ends."""
    url = database_url(tmp_path)
    env = environment()
    env.update({f"PDV_{name.upper()}": value for name, value in settings.items()})
    seed(url, env)
    with serve(url, env, tmp_path / "serve.stderr") as running:
        yield running


@contextmanager
def serve(
    url: str,
    env: dict[str, str],
    stderr: Path,
    *,
    stop: str = "kill",
    args: Sequence[str] = (),
    port: int = 0,
) -> Iterator[Running]:
    """`pdv-alert serve --port 0 [args]` (or `port`: a restart at the same address) on the
    database at `url` with the environment `env`, until both its HTTP and WebSocket addresses
    are printed; stopped at the end of the block with SIGKILL (`stop="kill"`) or SIGTERM
    (`stop="terminate"`, a graceful shutdown)."""
    with stderr.open("w") as errors:
        process = subprocess.Popen(
            cli("--database-url", url, "serve", "--host", "127.0.0.1", "--port", str(port), *args),
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    lines: queue.Queue[str | None] = queue.Queue()
    pump = threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True)
    pump.start()
    found: dict[str, str] = {}
    try:
        while len(found) < 2:
            try:
                line = lines.get(timeout=STARTUP_TIMEOUT)
            except queue.Empty:
                pytest.fail(f"no 'listening' lines; stderr:\n{stderr.read_text()}")
            if line is None:
                pytest.fail(f"serve exited early; stderr:\n{stderr.read_text()}")
            for name, pattern in (("http", LISTENING), ("ws", WEBSOCKET)):
                match = pattern.match(line)
                if match:
                    found[name] = match.group(1)
        yield Running(process=process, url=found["http"], ws_url=found["ws"], stderr=stderr)
    finally:
        if process.poll() is None:
            process.kill() if stop == "kill" else process.terminate()
        process.wait(timeout=60)
        pump.join(timeout=30)  # the pipe reaches EOF once the process is gone
        assert process.stdout is not None
        process.stdout.close()
