"""The server's VAPID key (Web Push): what `GET /api/v1/config` tells browsers, the key file
`pdv-alert vapid-keys` writes, and the demo's own key.

The key itself is a setting (`vapid_private_key`, PEM text or a file, read once by
server/settings.py). The demo needs no configuration: `pdv-alert demo` writes a key next to
its SQLite file (`var/vapid-demo.pem` for `make run`, kept across runs) when none is
configured, and `pdv-alert serve` in development uses that file when none is configured.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from sqlalchemy.engine import make_url

from push.vapid import generate_vapid_key, vapid_public_key
from server.settings import Settings

DEMO_KEY_NAME = "vapid-demo.pem"
DEMO_SUBJECT = "mailto:demo@pdv-alert.invalid"


class KeyFileExists(FileExistsError):
    """`vapid-keys` never overwrites a key: every browser subscribed with the old one."""


def public_vapid_key(settings: Settings) -> str | None:
    """base64url (no padding) of the uncompressed P-256 public key; None without a key."""
    if not settings.vapid_private_key:
        return None
    return _public_key(settings.vapid_private_key)


@lru_cache(maxsize=4)
def _public_key(pem: str) -> str:
    return vapid_public_key(pem)


def write_key_file(path: Path) -> tuple[str, Path]:
    """Write a new P-256 private key (PEM, mode 0600) to `path`, which must not exist; its
    public key (base64url) and the file's absolute path are returned."""
    pem = generate_vapid_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileExists(str(path)) from None
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(pem)
    return vapid_public_key(pem), path.resolve()


def demo_key_path(settings: Settings) -> Path:
    """Where the demo keeps its key: next to the SQLite file, else ./var/."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database).parent / DEMO_KEY_NAME
    return Path("var") / DEMO_KEY_NAME


def ensure_demo_key(settings: Settings) -> Path | None:
    """The demo's key file, written when missing; None when a key is configured (the
    configured one is used, nothing is written)."""
    if settings.vapid_private_key:
        return None
    path = demo_key_path(settings)
    if not path.exists():
        try:
            write_key_file(path)
        except KeyFileExists:
            pass  # another demo run wrote it meanwhile
    return path


def with_demo_key(settings: Settings) -> Settings:
    """In development without a configured key: the settings with the demo's key, when
    `pdv-alert demo` wrote one; otherwise the settings as they are."""
    if settings.vapid_private_key or settings.environment != "development":
        return settings
    path = demo_key_path(settings)
    if not path.is_file():
        return settings
    return Settings.model_validate(
        {
            **settings.model_dump(),
            "vapid_private_key": str(path),
            "vapid_subject": settings.vapid_subject or DEMO_SUBJECT,
        }
    )
