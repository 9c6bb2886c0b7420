"""The senders the dispatcher uses, built from the settings: `webpush` when a VAPID key is
configured, `apns` when an APNs key file is. A registration type without a sender is not
pushed (its deliveries fail with "push not configured"), and start-up says so in the log."""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path

from push.message import Sender
from server.settings import Settings

log = logging.getLogger(__name__)

WEBPUSH = "webpush"  # `PushRegistration.type` values, and the keys of the senders mapping
APNS = "apns"
PEM_START = "-----BEGIN"


class PushConfigError(ValueError):
    """A push setting names a key that can't be read."""


def pem_text(value: str, *, setting: str) -> str:
    """PEM text given inline, or read from the file `value` names."""
    if value.lstrip().startswith(PEM_START):
        return value
    try:
        return Path(value).read_text(encoding="utf-8")
    except OSError as error:
        raise PushConfigError(f"{setting}: can't read {value!r}: {error}") from error


def senders_from_settings(settings: Settings) -> dict[str, Sender]:
    """One sender per configured provider, keyed by registration type."""
    senders: dict[str, Sender] = {}
    if settings.vapid_private_key:
        from push.webpush import WebPushSender

        senders[WEBPUSH] = WebPushSender(
            vapid_private_key=pem_text(settings.vapid_private_key, setting="vapid_private_key"),
            vapid_subject=settings.vapid_subject,
            ttl_seconds=settings.push_ttl_seconds,
            timeout=settings.push_timeout_seconds,
            max_connections=settings.push_concurrency,  # a connection per send in flight
            encrypt_threads=settings.push_encrypt_threads,
        )
    if settings.apns_key_file:
        from push.apns import APNsSender

        senders[APNS] = APNsSender(
            key=pem_text(settings.apns_key_file, setting="apns_key_file"),
            key_id=settings.apns_key_id,
            team_id=settings.apns_team_id,
            topic=settings.apns_topic,
            url=settings.apns_url or None,
            ca_file=settings.apns_ca_file or None,
            ttl_seconds=settings.push_ttl_seconds,
            timeout=settings.push_timeout_seconds,
        )
    return senders


def log_missing(configured: Collection[str]) -> None:
    """Say at start-up which registration types get no push on this node."""
    if WEBPUSH not in configured:
        log.warning(
            "push: Web Push is not configured (no vapid_private_key): web devices get no push"
        )
    if APNS not in configured:
        log.warning("push: APNs is not configured (no apns_key_file): iOS devices get no push")
