"""Starting the client at login: an XDG autostart entry on Linux/BSD, the per-user Run key
on Windows. (macOS: a LaunchAgent plist, see deploy/desktop/README.md.)"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from desktop_client.config import xdg_config_home
from desktop_client.keyring_child import client_command

DESKTOP_FILE = "pdv-alert-desktop.desktop"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "pdv-alert-desktop"


def command(config_dir: Path | None) -> list[str]:
    """How login starts the client: as this process was started (`python -m desktop_client`,
    or the frozen executable), with the config dir."""
    args = client_command()
    if config_dir is not None:
        args += ["--config-dir", str(config_dir.resolve())]
    return args


def desktop_entry(config_dir: Path | None) -> str:
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=pdv-alert\n"
        "Comment=Larmklient / alert client\n"
        f"Exec={shlex.join(command(config_dir))}\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


def xdg_entry_path() -> Path:
    return xdg_config_home() / "autostart" / DESKTOP_FILE


def set_autostart(enabled: bool, config_dir: Path | None) -> str:
    """Write or remove the autostart entry; answers where."""
    if sys.platform == "win32":
        return _windows(enabled, config_dir)
    path = xdg_entry_path()
    if enabled:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(desktop_entry(config_dir), encoding="utf-8")
    else:
        path.unlink(missing_ok=True)
    return str(path)


if sys.platform == "win32":  # mypy checks this only for Windows

    def _windows(enabled: bool, config_dir: Path | None) -> str:  # pragma: no cover - Windows
        import subprocess
        import winreg

        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
            if enabled:
                line = subprocess.list2cmdline(command(config_dir))
                winreg.SetValueEx(key, RUN_VALUE, 0, winreg.REG_SZ, line)
            else:
                try:
                    winreg.DeleteValue(key, RUN_VALUE)
                except FileNotFoundError:
                    pass
        return "HKCU\\" + RUN_KEY

else:

    def _windows(enabled: bool, config_dir: Path | None) -> str:
        raise OSError("the Run key exists only on Windows")
