"""Enrolling this computer: POST /api/v1/devices/enroll with kind `desktop`, then keep the
token (keyring or 0600 file, stored by a child process: desktop_client/keyring_child.py)
and the settings in the config directory."""

from __future__ import annotations

from pathlib import Path

from desktop_client import config, keyring_child
from desktop_client.server_api import ApiError, request
from desktop_client.version import VERSION


def enroll(
    *, config_dir: Path, server_url: str, code: str, name: str, language: str = "sv"
) -> config.Settings:
    """Enroll with `code` as `name`; store token and settings. Raises ApiError (e.g.
    `enrollment.invalid_code`) and stores nothing when the server refuses."""
    server_url = server_url.rstrip("/")
    answer = request(
        server_url,
        "POST",
        "/devices/enroll",
        body={"code": code, "kind": "desktop", "name": name, "client_version": VERSION},
        language=language,
    )
    try:
        device, token = answer["device"], str(answer["token"])
        settings = config.Settings(
            server_url=server_url,
            device_id=int(device["id"]),
            device_name=str(device["name"]),
            site_id=None if device.get("site_id") is None else int(device["site_id"]),
            language=language,
        )
    except (KeyError, TypeError, ValueError):
        raise ApiError("network.bad_response", "unexpected enrollment answer") from None
    keyring_child.store_token(config_dir, token)  # keyring stays out of this process
    config.write_settings(config_dir, settings)
    (config_dir / config.RESUME_FILE).unlink(missing_ok=True)  # a new device starts afresh
    return settings
