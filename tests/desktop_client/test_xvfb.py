"""One run of the real `pdv-alert-desktop` process on a real X server: Xvfb with the openbox
window manager and the trayer system tray (Debian packages xvfb xauth openbox trayer
libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libpulse0; `make test` installs them). It enrolls
by flags, sits in the tray connected, and covers the screen when an alert comes. The screens
are checked by their pixels and saved as docs/img/desktop-tray.png and desktop-alarm.png when
PDV_WRITE_SCREENSHOTS=1. Skipped when those programs are missing, unless
PDV_REQUIRE_SERVICES=1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage

from desktop_client import config, views
from tests.desktop_client.conftest import PRINCIPAL, School, logged_in
from tests.desktop_client.test_qt_app import rollcall

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "docs" / "img"
SCREEN = (1280, 720)
PROGRAMS = ("Xvfb", "xauth", "openbox", "trayer")
WAIT_S = 60.0


def _missing() -> list[str]:
    return [name for name in PROGRAMS if shutil.which(name) is None]


@pytest.fixture
def display(tmp_path: Path) -> Iterator[str]:
    """A fresh X display (Xvfb on a free number) with openbox and trayer running."""
    missing = _missing()
    if missing:
        reason = f"not installed: {', '.join(missing)} (Debian: xvfb xauth openbox trayer)"
        if os.environ.get("PDV_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    read, write = os.pipe()
    width, height = SCREEN
    log = (tmp_path / "x.log").open("w")
    server = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write),
            "-screen",
            "0",
            f"{width}x{height}x24",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write,),
        stdout=log,
        stderr=log,
    )
    os.close(write)
    with ExitStack() as stack:
        stack.callback(_stop, server)
        with os.fdopen(read) as numbers:
            name = f":{numbers.readline().strip()}"
        env = {**os.environ, "DISPLAY": name}
        for command in (
            ["openbox", "--sm-disable"],
            [
                "trayer",
                "--edge",
                "top",
                "--align",
                "right",
                "--widthtype",
                "percent",
                "--width",
                "100",
                "--height",
                "48",
                "--SetDockType",
                "true",
                "--SetPartialStrut",
                "true",
                "--transparent",
                "false",
                "--tint",
                "0x202020",
                "--iconspacing",
                "8",
            ],
        ):
            started = subprocess.Popen(command, env=env, stdout=log, stderr=log)
            stack.callback(_stop, started)
        yield name


def _stop(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def _grab(display: str, out: Path) -> str:
    """The whole screen into `out`; answers the helper's report ("tray: yes" …)."""
    grabbed = subprocess.run(
        [sys.executable, "-m", "tests.desktop_client.xscreen", str(out)],
        env={**os.environ, "DISPLAY": display},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert grabbed.returncode == 0, grabbed.stderr
    return grabbed.stdout


def _share(image: QImage, colour: str) -> float:
    """The share of pixels (sampled on a grid) that are exactly `colour`."""
    want = QColor(colour).rgb()
    samples = [
        image.pixel(x, y) == want
        for x in range(0, image.width(), 16)
        for y in range(0, image.height(), 16)
    ]
    return sum(samples) / len(samples)


def _contains(image: QImage, colour: str, box: tuple[int, int, int, int]) -> bool:
    want = QColor(colour).rgb()
    x0, y0, x1, y1 = box
    return any(image.pixel(x, y) == want for x in range(x0, x1) for y in range(y0, y1))


def _keep(shot: Path, name: str, corner: tuple[int, int] | None = None) -> None:
    """Save the screen as docs/img/`name` (PDV_WRITE_SCREENSHOTS=1); with `corner`, only
    that top-right part of it, doubled pixel for pixel so a tray icon can be seen."""
    if os.environ.get("PDV_WRITE_SCREENSHOTS") != "1":
        return
    IMAGES.mkdir(parents=True, exist_ok=True)
    image = QImage(str(shot))
    if corner is not None:
        width, height = corner
        image = image.copy(QRect(image.width() - width, 0, width, height)).scaled(
            width * 2, height * 2, mode=Qt.TransformationMode.FastTransformation
        )
    assert image.save(str(IMAGES / name))


@contextmanager
def desktop_process(
    display: str, config_dir: Path, log: Path, *flags: str
) -> Iterator[subprocess.Popen[str]]:
    """The installed `pdv-alert-desktop` with `flags`, on `display` (xcb)."""
    program = Path(sys.executable).with_name("pdv-alert-desktop")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "PDV_"))}
    env.update(
        DISPLAY=display,
        QT_QPA_PLATFORM="xcb",
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
    )
    with log.open("w") as errors:
        process = subprocess.Popen(
            [str(program), *flags, "--config-dir", str(config_dir)],
            env=env,
            stdout=errors,
            stderr=errors,
            text=True,
        )
    try:
        yield process
    finally:
        _stop(process)


def test_the_real_client_in_a_real_tray_covers_the_screen(
    display: str, school: School, tmp_path: Path
) -> None:
    """Enrolled by flags (then started), the real process sits in trayer's system tray
    (green icon, no fallback window) and, on an alert, covers the whole X screen in the
    kind's red with the `displayed` receipt in the roll call; SIGTERM ends it with 0."""
    config_dir = tmp_path / "desktop"
    enroll = ("--server", school.url, "--enroll", school.code(), "--name", "Sal 12")
    with desktop_process(display, config_dir, tmp_path / "desktop.log", *enroll) as process:

        def connected() -> bool:
            assert process.poll() is None, (tmp_path / "desktop.log").read_text()
            status = config.read_status(config_dir)
            return status is not None and status.connected

        _until(connected, "the client to connect")
        time.sleep(1.0)  # trayer embeds and paints the icon
        tray_shot = tmp_path / "tray.png"
        report = _grab(display, tray_shot)
        assert "tray: yes" in report
        tray = QImage(str(tray_shot))
        assert (tray.width(), tray.height()) == SCREEN
        connected_green = views.TRAY_ICON[views.TrayState.CONNECTED][0]
        assert _contains(tray, connected_green, (SCREEN[0] - 200, 0, SCREEN[0], 48))
        _keep(tray_shot, "desktop-tray.png", corner=(480, 48))

        with logged_in(school.url, PRINCIPAL) as principal:
            created = principal.post(
                "/api/v1/alerts", json={"kind": "pdv_lockdown", "site_ids": [school.site_id]}
            )
        assert created.status_code == 201, created.text
        alert_id = created.json()["alert"]["id"]
        _until(lambda: rollcall(school.url, alert_id)["totals"]["displayed"] == 1, "displayed")
        time.sleep(1.0)
        alarm_shot = tmp_path / "alarm.png"
        _grab(display, alarm_shot)
        alarm = QImage(str(alarm_shot))
        assert _share(alarm, views.KIND_COLOURS["pdv_lockdown"].background) > 0.5
        _keep(alarm_shot, "desktop-alarm.png")
        process.terminate()
        assert process.wait(timeout=30) == 0
