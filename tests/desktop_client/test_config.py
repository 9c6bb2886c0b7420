"""Settings, status and the device token (desktop_client/config.py)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null

from desktop_client import config


class MemoryKeyring(KeyringBackend):
    """A working OS keyring stand-in (the external boundary)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


@pytest.fixture
def backend() -> Iterator[None]:
    before = keyring.get_keyring()
    yield
    keyring.set_keyring(before)


def test_token_goes_into_a_working_keyring(tmp_path: Path, backend: None) -> None:
    """With a usable keyring the token is kept there and no file is written."""
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    assert config.store_token(tmp_path, "pdvd_secret") == "keyring"
    assert not (tmp_path / config.TOKEN_FILE).exists()
    assert config.read_token(tmp_path) == "pdvd_secret"
    assert list(ring.items.values()) == ["pdvd_secret"]
    config.delete_token(tmp_path)
    assert config.read_token(tmp_path) is None


@pytest.mark.parametrize("ring", [fail.Keyring, null.Keyring], ids=["fail", "null"])
def test_token_falls_back_to_a_private_file(
    tmp_path: Path, backend: None, ring: type[KeyringBackend]
) -> None:
    """A refusing (fail) or forgetting (null) keyring: the token goes to a 0600 file."""
    keyring.set_keyring(ring())
    assert config.store_token(tmp_path / "cfg", "pdvd_secret") == "file"
    path = tmp_path / "cfg" / config.TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config.read_token(tmp_path / "cfg") == "pdvd_secret"
    config.delete_token(tmp_path / "cfg")
    assert config.read_token(tmp_path / "cfg") is None


def test_settings_and_status_round_trip(tmp_path: Path) -> None:
    """Settings and status are written and read back; missing or damaged files read None."""
    assert config.read_settings(tmp_path) is None
    settings = config.Settings(server_url="http://x", device_id=3, device_name="Rum 12", site_id=1)
    config.write_settings(tmp_path, settings)
    assert config.read_settings(tmp_path) == settings
    status = config.Status(connected=True, last_contact=5.0, updated_at=6.0)
    config.write_status(tmp_path, status)
    assert config.read_status(tmp_path) == status
    (tmp_path / config.SETTINGS_FILE).write_text("{nope")
    assert config.read_settings(tmp_path) is None


def test_default_config_dir_is_per_user() -> None:
    """The default config dir ends in the app's name."""
    assert config.default_config_dir().name == config.APP_NAME
