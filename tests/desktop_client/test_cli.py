"""`pdv-alert-desktop` flags: silent enrollment and --status against the real server, and
the XDG autostart entry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from desktop_client import autostart, config
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
    config.write_status(cfg, config.Status(connected=True, last_contact=1.0e9, updated_at=1.0e9))
    english = desktop("--config-dir", str(cfg), "--status", "--language", "en")
    assert english.returncode == 0 and "connected" in english.stdout
    assert "not connected" not in english.stdout and "Last contact: 2001" in english.stdout


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
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nsys.modules['desktop_client.qt'] = None\n"
    )
    done = desktop("--config-dir", str(tmp_path), env={"PYTHONPATH": str(blocker)})
    assert done.returncode == 2 and "PySide6 saknas" in done.stderr
    assert "PySide6 is missing" in done.stderr
