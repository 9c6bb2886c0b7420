"""`pdv-alert-desktop` flags: silent enrollment and --status against the real server, and
the XDG autostart entry."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from desktop_client import autostart, cli, config
from tests.desktop_client.conftest import School
from tests.server.serving import HTTP_TIMEOUT


def desktop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "desktop_client", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def enrolled(school: School, cfg: Path) -> Path:
    """A config dir enrolled by flags (with --status, so nothing starts)."""
    done = desktop(
        "--server", school.url, "--enroll", school.code(), "--config-dir", str(cfg), "--status"
    )
    assert done.returncode == 0, done.stderr
    return cfg


def qt_blocked(tmp_path: Path) -> str:
    """A PYTHONPATH whose sitecustomize makes desktop_client.qt unimportable."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nsys.modules['desktop_client.qt'] = None\n"
    )
    return str(blocker)


def test_enroll_by_flags_then_status(school: School, tmp_path: Path) -> None:
    """--server + --enroll enroll as a desktop device and keep the token; --status prints
    server, device, not connected and exits 0; the token works against the server."""
    cfg = tmp_path / "cfg"
    done = desktop(
        "--server",
        school.url,
        "--enroll",
        school.code(),
        "--name",
        "Sal 12",
        "--config-dir",
        str(cfg),
        "--status",
    )
    assert done.returncode == 0, done.stderr
    assert f"Server: {school.url}" in done.stdout
    assert "Enhet: Sal 12" in done.stdout and "inte ansluten" in done.stdout
    settings = config.read_settings(cfg)
    assert settings is not None and settings.site_id == school.site_id
    token = (cfg / config.TOKEN_FILE).read_text()
    own = httpx.get(
        f"{school.url}/api/v1/devices/self",
        headers={"Authorization": f"Bearer {token}"},
        timeout=HTTP_TIMEOUT,
    )
    assert own.status_code == 200 and own.json()["kind"] == "desktop"
    assert own.json()["id"] == settings.device_id
    running = config.Status(connected=True, last_contact=1.0e9, updated_at=time.time())
    config.write_status(cfg, running)
    english = desktop("--config-dir", str(cfg), "--status", "--language", "en")
    assert english.returncode == 0 and "connected" in english.stdout
    assert "not connected" not in english.stdout and "Last contact: 2001" in english.stdout


def test_status_left_by_a_client_that_died_is_not_believed(school: School, tmp_path: Path) -> None:
    """A status file that says connected but has not been rewritten for longer than a
    running client allows (a crash, kill -9) prints "inte ansluten"."""
    cfg = enrolled(school, tmp_path / "cfg")
    stale = time.time() - cli.STATUS_FRESH_SECONDS - 5
    config.write_status(cfg, config.Status(connected=True, last_contact=stale, updated_at=stale))
    done = desktop("--config-dir", str(cfg), "--status")
    assert done.returncode == 0 and "Status: inte ansluten" in done.stdout


def test_a_stopped_client_reports_why(school: School, tmp_path: Path) -> None:
    """Stopped for good by the server (revoked, or 4005 for a version it does not speak):
    --status says the device must be enrolled again, whatever the reason recorded."""
    cfg = enrolled(school, tmp_path / "cfg")
    for reason in ("revoked", "unsupported_version"):
        now = time.time()
        stopped = config.Status(connected=False, last_contact=now, updated_at=now, detail=reason)
        config.write_status(cfg, stopped)
        done = desktop("--config-dir", str(cfg), "--status")
        assert "Enheten är borttagen – registrera igen" in done.stdout, reason


def test_a_refused_code_stores_nothing(school: School, tmp_path: Path) -> None:
    """A wrong code fails with the server's error code and leaves no settings or token."""
    done = desktop("--server", school.url, "--enroll", "WRONG-CODE", "--config-dir", str(tmp_path))
    assert done.returncode == 1 and "enrollment." in done.stderr
    assert config.read_settings(tmp_path) is None and config.read_token(tmp_path) is None


def test_status_when_not_enrolled_exits_2(tmp_path: Path) -> None:
    """--status without enrollment says so and exits 2."""
    done = desktop("--config-dir", str(tmp_path), "--status")
    assert done.returncode == 2 and "inte registrerad" in done.stdout


def test_autostart_on_and_off_writes_the_xdg_entry(tmp_path: Path) -> None:
    """--autostart on writes $XDG_CONFIG_HOME/autostart/…desktop starting this config dir;
    off removes it."""
    xdg = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    entry = tmp_path / "xdg" / "autostart" / autostart.DESKTOP_FILE
    on = desktop("--autostart", "on", "--config-dir", str(tmp_path / "cfg"), env=xdg)
    assert on.returncode == 0, on.stderr
    text = entry.read_text()
    assert "-m desktop_client --config-dir" in text and str(tmp_path / "cfg") in text
    off = desktop("--autostart", "off", env=xdg)
    assert off.returncode == 0 and not entry.exists()


def test_gui_without_pyside_or_qt_side_says_so(tmp_path: Path) -> None:
    """Starting the GUI when desktop_client.qt.app cannot be imported exits 2 with a message
    in both languages."""
    done = desktop("--config-dir", str(tmp_path), env={"PYTHONPATH": qt_blocked(tmp_path)})
    assert done.returncode == 2 and "PySide6 saknas" in done.stderr
    assert "PySide6 is missing" in done.stderr


def test_enrolling_with_autostart_goes_on_to_start(school: School, tmp_path: Path) -> None:
    """Mass deployment in one command: --server + --enroll + --autostart on enrolls, writes
    the entry and then starts the client (here it reaches the GUI, which a blocked
    desktop_client.qt stops with its message); --autostart alone only sets it."""
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PYTHONPATH": qt_blocked(tmp_path)}
    cfg = str(tmp_path / "cfg")
    args = ("--server", school.url, "--enroll", school.code(), "--config-dir", cfg)
    done = desktop(*args, "--autostart", "on", env=env)
    assert done.returncode == 2 and "PySide6 saknas" in done.stderr
    assert (tmp_path / "xdg" / "autostart" / autostart.DESKTOP_FILE).exists()
    assert config.read_settings(tmp_path / "cfg") is not None


def test_a_frozen_client_starts_itself_at_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PyInstaller build is its own executable: the entry runs it, not `-m desktop_client`."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/pdv-alert-desktop/pdv-alert-desktop")
    assert autostart.command(tmp_path) == [
        "/opt/pdv-alert-desktop/pdv-alert-desktop",
        "--config-dir",
        str(tmp_path.resolve()),
    ]
