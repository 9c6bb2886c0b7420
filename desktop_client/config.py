"""Where the desktop client keeps what it knows, in one config directory per user:

    settings.json   Settings: server URL, device id and name, site, language (written at
                    enrollment and when the person changes the language)
    resume.json     the state machine's saved state (epoch, last seq, tracked alerts)
    status.json     Status: written by the running client, read by `--status`
    token           the device token, only when no usable OS keyring exists (mode 0600)
    instance.lock   the single-instance lock (the Qt side holds a QLockFile on it)

The device token lives in the OS keyring (`keyring`) under the service KEYRING_SERVICE and
the config directory's absolute path as the user name, so two config directories hold two
devices. A keyring that refuses (the `fail` backend) or forgets (the `null` backend) is not
usable: the token then goes into `token`, readable only by the user.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

APP_NAME = "pdv-alert-desktop"
KEYRING_SERVICE = "pdv-alert-desktop"
SETTINGS_FILE = "settings.json"
RESUME_FILE = "resume.json"
STATUS_FILE = "status.json"
TOKEN_FILE = "token"
LOCK_FILE = "instance.lock"


def default_config_dir() -> Path:
    """The user's config directory for this app: platformdirs' answer when installed, else
    %APPDATA% on Windows, ~/Library/Application Support on macOS, $XDG_CONFIG_HOME or
    ~/.config elsewhere."""
    try:
        import platformdirs
    except ImportError:
        pass
    else:
        return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(base) / APP_NAME
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP_NAME
    return xdg_config_home() / APP_NAME


def xdg_config_home() -> Path:
    value = os.environ.get("XDG_CONFIG_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".config"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """What enrollment (and the person) decided."""

    server_url: str
    device_id: int
    device_name: str
    site_id: int | None = None
    language: str = "sv"


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    """What the running client last knew; `last_contact` is a Unix time (any frame)."""

    connected: bool
    last_contact: float | None
    updated_at: float
    detail: str = ""  # e.g. "revoked" when it stopped


def _write_json(path: Path, data: dict[str, Any], *, private: bool = False) -> None:
    """Write atomically (temp file + replace), so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        if private:
            os.chmod(temporary, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=1)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_settings(config_dir: Path, settings: Settings) -> None:
    _write_json(config_dir / SETTINGS_FILE, asdict(settings))


def read_settings(config_dir: Path) -> Settings | None:
    """The settings, or None when not enrolled (or the file is unreadable)."""
    data = _read_json(config_dir / SETTINGS_FILE)
    if data is None:
        return None
    try:
        return Settings(
            server_url=str(data["server_url"]),
            device_id=int(data["device_id"]),
            device_name=str(data["device_name"]),
            site_id=None if data.get("site_id") is None else int(data["site_id"]),
            language="en" if data.get("language") == "en" else "sv",
        )
    except (KeyError, TypeError, ValueError):
        return None


def write_resume(config_dir: Path, saved: dict[str, Any]) -> None:
    _write_json(config_dir / RESUME_FILE, saved)


def read_resume(config_dir: Path) -> dict[str, Any] | None:
    return _read_json(config_dir / RESUME_FILE)


def write_status(config_dir: Path, status: Status) -> None:
    _write_json(config_dir / STATUS_FILE, asdict(status))


def read_status(config_dir: Path) -> Status | None:
    data = _read_json(config_dir / STATUS_FILE)
    if data is None:
        return None
    try:
        contact = data.get("last_contact")
        return Status(
            connected=bool(data["connected"]),
            last_contact=None if contact is None else float(contact),
            updated_at=float(data["updated_at"]),
            detail=str(data.get("detail", "")),
        )
    except (KeyError, TypeError, ValueError):
        return None


def lock_path(config_dir: Path) -> Path:
    """The single-instance lock file (one running client per user and config dir)."""
    return config_dir / LOCK_FILE


# ── the device token ─────────────────────────────────────────────────────────────────────


def _keyring_user(config_dir: Path) -> str:
    return str(config_dir.resolve())


def store_token(config_dir: Path, token: str) -> str:
    """Keep the device token: in the OS keyring when it works (answers "keyring"), else in a
    0600 file (answers "file"). The other place is cleared, so one token is ever kept."""
    import keyring
    from keyring.errors import KeyringError

    user = _keyring_user(config_dir)
    try:
        keyring.set_password(KEYRING_SERVICE, user, token)
        usable = keyring.get_password(KEYRING_SERVICE, user) == token
    except (KeyringError, RuntimeError, OSError):
        usable = False
    path = config_dir / TOKEN_FILE
    if usable:
        path.unlink(missing_ok=True)
        return "keyring"
    config_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(token)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_CREAT
    return "file"


def read_token(config_dir: Path) -> str | None:
    """The device token from the keyring, else from the file; None when there is none."""
    import keyring
    from keyring.errors import KeyringError

    try:
        token = keyring.get_password(KEYRING_SERVICE, _keyring_user(config_dir))
    except (KeyringError, RuntimeError, OSError):
        token = None
    if token:
        return token
    try:
        return (config_dir / TOKEN_FILE).read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def delete_token(config_dir: Path) -> None:
    """Forget the token everywhere (a revoked device before enrolling again)."""
    import keyring
    from keyring.errors import KeyringError

    try:
        keyring.delete_password(KEYRING_SERVICE, _keyring_user(config_dir))
    except (KeyringError, RuntimeError, OSError):
        pass
    (config_dir / TOKEN_FILE).unlink(missing_ok=True)
