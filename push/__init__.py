"""Web Push and APNs for pdv-alert: what a push says (`PushMessage`), to whom
(`WebPushSubscription`, `ApnsRegistration`), the typed results (`Delivered`, `Gone`, `Retry`,
`Rejected`) and the two senders (`WebPushSender` in push/webpush.py, `APNsSender` in
push/apns.py). Imports nothing of `server`. The senders are loaded when first named, so
importing the package does not load their HTTP clients."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from push.message import (
    ApnsRegistration,
    Delivered,
    Gone,
    PushMessage,
    PushResult,
    Rejected,
    Retry,
    Sender,
    WebPushSubscription,
)

if TYPE_CHECKING:
    from push.apns import APNsSender
    from push.webpush import WebPushSender

__all__ = [
    "APNsSender",
    "ApnsRegistration",
    "Delivered",
    "Gone",
    "PushMessage",
    "PushResult",
    "Rejected",
    "Retry",
    "Sender",
    "WebPushSender",
    "WebPushSubscription",
]

_SENDERS = {"WebPushSender": "push.webpush", "APNsSender": "push.apns"}


def __getattr__(name: str) -> Any:
    module = _SENDERS.get(name)
    if module is None:
        raise AttributeError(f"module 'push' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
