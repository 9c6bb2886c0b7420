"""The desktop client's costs: idle memory and CPU while connected, and how fast an alert's
frame becomes a visible alarm window. Prints a table; results go in bench/README.md.

    .venv/bin/python bench/desktop.py [--seconds 60] [--rounds 10]

1. A temporary `pdv-alert demo` database and `pdv-alert serve` on 127.0.0.1.
2. A real X server when Xvfb, openbox and trayer are installed (else Qt's offscreen platform,
   said in the table): the client runs as under a teacher's desktop, with a system tray.
3. Idle: the real `pdv-alert-desktop` process enrolls by flags and connects; after a 5 s
   settle, its resident memory (VmRSS, and the peak VmHWM) and CPU time (utime + stime from
   /proc/PID/stat) are read over `--seconds`.
4. Latency: a `DesktopClient` in a child process (same code, same platform) gets `--rounds`
   alerts; the time is taken from the moment the client's WebSocket reading thread has the
   alert frame (stamped on that thread, before it is queued to the Qt thread) to the first
   `Expose` event of an alarm window (the window system says it is on screen), and to the
   sound's start (the player asked to play: the first alert loads QtMultimedia after its
   window is painted, later ones find it loaded). Each alert is then answered and resolved
   before the next.

Targets (issue 9): ≤ 60 MB RSS, ≤ 0.5 % CPU idle, ≤ 100 ms to visible.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop_client import config  # noqa: E402
from protocol.codec import decode_server  # noqa: E402
from protocol.messages import AlertEvent  # noqa: E402
from protocol.vocabulary import Role  # noqa: E402
from server import demo  # noqa: E402

LISTENING = re.compile(r"^pdv-alert listening on (http://\S+)$")
SCREEN = "1280x720x24"
SITE = "Ullvigymnasiet"
PRINCIPAL = next(p for p in demo.PEOPLE if p.roles == ((Role.PRINCIPAL, SITE),))
ADMIN = next(p for p in demo.PEOPLE if p.roles == ((Role.ADMIN, None),))
CLK_TCK = os.sysconf("SC_CLK_TCK")
KEEP: list[object] = []  # the latency child's Qt objects


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench/desktop.py: timed out waiting for {what}")
        time.sleep(0.1)


@contextmanager
def server(tmp: Path) -> Iterator[str]:
    """`pdv-alert demo` + `pdv-alert serve` on a SQLite file; answers the HTTP URL."""
    db = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDV_")}
    env.update(PDV_WS_PORT="0", PYTHONUNBUFFERED="1")
    cli = [sys.executable, "-m", "server.cli", "--database-url", db]
    subprocess.run([*cli, "demo"], env=env, cwd=ROOT, check=True, capture_output=True)
    log = (tmp / "serve.log").open("w")
    process = subprocess.Popen(
        [*cli, "serve", "--host", "127.0.0.1", "--port", "0"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            match = LISTENING.match(line.strip())
            if match:
                yield match.group(1)
                break
        else:
            raise SystemExit(f"serve exited: see {tmp / 'serve.log'}")
    finally:
        stop(process)


@contextmanager
def display(tmp: Path) -> Iterator[str | None]:
    """A fresh Xvfb display with openbox and trayer, or None when they are not installed."""
    if any(shutil.which(p) is None for p in ("Xvfb", "openbox", "trayer")):
        yield None
        return
    read, write = os.pipe()
    log = (tmp / "x.log").open("w")
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", SCREEN, "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=log,
        stderr=log,
    )
    os.close(write)
    with ExitStack() as stack:
        stack.callback(stop, xvfb)
        with os.fdopen(read) as numbers:
            name = f":{numbers.readline().strip()}"
        env = {**os.environ, "DISPLAY": name}
        for command in (
            ["openbox", "--sm-disable"],
            ["trayer", "--edge", "top", "--align", "right", "--height", "32"],
        ):
            stack.callback(stop, subprocess.Popen(command, env=env, stdout=log, stderr=log))
        yield name


@contextmanager
def login(url: str, person: demo.DemoPerson) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as client:
        answer = client.post(
            "/api/v1/auth/login", json={"email": person.email, "password": person.password}
        )
        answer.raise_for_status()
        yield client


def new_code(url: str) -> str:
    with login(url, PRINCIPAL) as principal:
        site = int(principal.get("/api/v1/me").json()["roles"][0]["site_id"])
    with login(url, ADMIN) as admin:
        made = admin.post(
            "/api/v1/enrollment-codes",
            json={"site_id": site, "device_kind": "desktop", "max_uses": 1},
        )
        made.raise_for_status()
        return str(made.json()["code"])


def qt_env(name: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "PDV_"))}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    if name is None:
        env["QT_QPA_PLATFORM"] = "offscreen"
    else:
        env.update(DISPLAY=name, QT_QPA_PLATFORM="xcb")
    return env


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def proc_memory_mb(pid: int) -> tuple[float, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def idle(url: str, name: str | None, tmp: Path, seconds: float) -> dict[str, float]:
    """The real process, connected and idle: RSS, peak RSS, CPU %."""
    config_dir = tmp / "idle"
    program = Path(sys.executable).with_name("pdv-alert-desktop")
    flags = ["--server", url, "--enroll", new_code(url), "--name", "bench"]
    log = (tmp / "desktop.log").open("w")
    process = subprocess.Popen(
        [str(program), *flags, "--config-dir", str(config_dir)],
        env=qt_env(name),
        stdout=log,
        stderr=log,
    )
    try:

        def connected() -> bool:
            if process.poll() is not None:
                raise SystemExit(f"pdv-alert-desktop exited: see {tmp / 'desktop.log'}")
            status = config.read_status(config_dir)
            return status is not None and status.connected

        until(connected, "the desktop client to connect")
        time.sleep(5.0)
        cpu0, t0 = proc_cpu_seconds(process.pid), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = proc_cpu_seconds(process.pid), time.monotonic()
        rss, peak = proc_memory_mb(process.pid)
        status = config.read_status(config_dir)
        if status is None or not status.connected:
            raise SystemExit("the client lost its connection during the idle measurement")
    finally:
        stop(process)
    return {"rss": rss, "peak": peak, "cpu": 100 * (cpu1 - cpu0) / (t1 - t0)}


def latency(url: str, name: str | None, tmp: Path, rounds: int) -> dict[str, list[float]]:
    """`latency_here` in a child process on the display (its Qt application must end before
    the X server does)."""
    measured = subprocess.run(
        [
            sys.executable,
            "-X",
            "faulthandler",
            __file__,
            "--latency-of",
            url,
            "--rounds",
            str(rounds),
            "--tmp",
            str(tmp),
        ],
        env=qt_env(name),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if measured.returncode != 0:
        raise SystemExit(
            f"the latency child failed ({measured.returncode}):\n"
            f"{measured.stdout[-2000:]}{measured.stderr[-3000:]}"
        )
    answer: dict[str, list[float]] = json.loads(measured.stdout.strip().splitlines()[-1])
    return answer


def stamping(client: Any, stamps: dict[str, float]) -> Any:
    """Stamp into `stamps`: "arrived" (a triggered alert's frame on the client's reading
    thread), "exposed" (the first Expose of an alarm window), "sound" (the player asked to
    play). Answers the event filter to install on the application."""
    from PySide6.QtCore import QEvent, QObject, Qt
    from PySide6.QtGui import QWindow
    from PySide6.QtWidgets import QApplication

    from desktop_client.connection import Frame
    from desktop_client.qt.alarm import AlarmWindow

    class Exposed(QObject):
        """Expose goes to the native window (a QWindow), not to the widget it shows."""

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if (
                event.type() == QEvent.Type.Expose
                and "arrived" in stamps
                and "exposed" not in stamps
                and isinstance(watched, QWindow)
                and watched.isExposed()
                and any(
                    isinstance(w, AlarmWindow) and w.windowHandle() is watched
                    for w in QApplication.topLevelWidgets()
                )
            ):
                stamps["exposed"] = time.perf_counter()
            return False

    def arrived(generation: int, event: object) -> None:
        now = time.perf_counter()  # on the reading thread, before the hop to the Qt thread
        if isinstance(event, Frame):
            message = decode_server(event.text)
            if isinstance(message, AlertEvent) and message.event == "triggered":
                stamps.setdefault("arrived", now)

    # Direct: called on the emitting (reading) thread, not queued like the client's own.
    client.link.reported.connect(arrived, Qt.ConnectionType.DirectConnection)
    start_sound = client.sound._start

    def sound_started(effect: Any) -> None:
        stamps.setdefault("sound", time.perf_counter())
        start_sound(effect)

    client.sound._start = sound_started  # type: ignore[method-assign]
    return Exposed()


def latency_here(url: str, tmp: Path, rounds: int) -> dict[str, list[float]]:
    """Frame arrival → first Expose of an alarm window ("exposed") and → the sound's start
    ("sound"), in ms, for `rounds` alerts."""
    from PySide6.QtWidgets import QApplication

    from desktop_client.enroll import enroll
    from desktop_client.qt.app import DesktopClient

    app = QApplication.instance() or QApplication(["bench"])
    config_dir = tmp / "latency"
    settings = enroll(config_dir=config_dir, server_url=url, code=new_code(url), name="bench")
    token = config.read_token(config_dir)
    assert token is not None
    client = DesktopClient(settings, token, "sv", config_dir=config_dir)
    stamps: dict[str, float] = {}

    watcher = stamping(client, stamps)
    app.installEventFilter(watcher)

    def spin(condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 60
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit(f"bench/desktop.py: timed out waiting for {what}")
            app.processEvents()
            time.sleep(0.001)

    client.start()
    spin(lambda: client.state.is_connected, "the in-process client to connect")
    results: dict[str, list[float]] = {"exposed": [], "sound": []}
    with login(url, PRINCIPAL) as principal:
        site = int(principal.get("/api/v1/me").json()["roles"][0]["site_id"])
        for _ in range(rounds):
            stamps.clear()
            created = principal.post(
                "/api/v1/alerts", json={"kind": "pdv_lockdown", "site_ids": [site]}
            )
            created.raise_for_status()
            alert_id = created.json()["alert"]["id"]
            spin(lambda: "exposed" in stamps and "sound" in stamps, "the alarm and its sound")
            for what in results:
                results[what].append((stamps[what] - stamps["arrived"]) * 1000)
            client.screens[alert_id].windows[0].buttons["safe"].click()
            principal.post(f"/api/v1/alerts/{alert_id}/resolve").raise_for_status()
            ended = functools.partial(lambda a: a not in client.screens, alert_id)
            spin(ended, "the end view to close")
    client.close()
    KEEP.extend([app, client, watcher])  # alive until os._exit: no teardown order to get wrong
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="idle measurement")
    parser.add_argument("--rounds", type=int, default=10, help="alerts for the latency")
    parser.add_argument("--latency-of", metavar="URL", help=argparse.SUPPRESS)  # the child
    parser.add_argument("--tmp", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.latency_of:
        print(json.dumps(latency_here(args.latency_of, args.tmp, args.rounds)), flush=True)
        os._exit(0)  # PySide's teardown at interpreter exit is not what is measured here
    with tempfile.TemporaryDirectory(prefix="pdv-bench-desktop-") as name:
        tmp = Path(name)
        with server(tmp) as url, display(tmp) as x:
            platform = "xcb (Xvfb + openbox + trayer)" if x else "offscreen (no Xvfb)"
            quiet = idle(url, x, tmp, args.seconds)
            delays = latency(url, x, tmp, args.rounds)
    load = os.getloadavg()
    print(f"platform: {platform}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("| measure | result | target |")
    print("|---|---|---|")
    print(
        f"| idle RSS after {args.seconds:.0f} s | {quiet['rss']:.1f} MB "
        f"(peak {quiet['peak']:.1f} MB) | ≤ 60 MB |"
    )
    print(f"| idle CPU over {args.seconds:.0f} s | {quiet['cpu']:.2f} % | ≤ 0.5 % |")
    exposed, sound = delays["exposed"], delays["sound"]
    print(
        f"| frame → alarm exposed, {len(exposed)} alerts | median "
        f"{statistics.median(exposed):.1f} ms, max {max(exposed):.1f} ms | ≤ 100 ms |"
    )
    later = sound[1:] or sound
    print(
        f"| frame → sound started | first alert (loads QtMultimedia) {sound[0]:.1f} ms; "
        f"later ones median {statistics.median(later):.1f} ms, max {max(later):.1f} ms | — |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
