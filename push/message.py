"""What the push library sends, to whom, and what a provider answered.

The server builds one `PushMessage` per device (its person's language decides `title` and
`body`), hands it to a `Sender` with that device's registration (`WebPushSubscription` or
`ApnsRegistration`), and gets back one of four typed results. Nothing here knows the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True, slots=True)
class PushMessage:
    """One alert event as a notification. `to_payload()` is the JSON a service worker or a
    native app receives (the Web Push payload before encryption)."""

    alert_id: int
    seq: int
    event: str  # triggered | updated | resolved | cancelled
    kind: str  # pdv_lockdown | evacuate | secure | custom
    mode: str  # actual | drill | test
    state: str  # active | resolved | cancelled
    title: str
    body: str
    sites: tuple[str, ...]
    url: str  # where the PWA shows the alert

    @property
    def topic(self) -> str:
        """One value per alert (≤ 32 base64url characters), so an update replaces a pending
        notification of the same alert (Web Push `Topic`, APNs `apns-collapse-id`)."""
        return f"alert-{self.alert_id}"

    def to_payload(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "seq": self.seq,
            "event": self.event,
            "kind": self.kind,
            "mode": self.mode,
            "state": self.state,
            "title": self.title,
            "body": self.body,
            "sites": list(self.sites),
            "url": self.url,
        }


@dataclass(frozen=True, slots=True)
class WebPushSubscription:
    """A browser's `PushSubscription.toJSON()`: the endpoint and its keys (base64url)."""

    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True, slots=True)
class ApnsRegistration:
    """An iOS app's device token (hex) and the APNs environment it was issued for."""

    token: str
    environment: Literal["sandbox", "production"]


Target = WebPushSubscription | ApnsRegistration


@dataclass(frozen=True, slots=True)
class Delivered:
    """The provider accepted the notification."""

    status: int = 201


@dataclass(frozen=True, slots=True)
class Gone:
    """The registration is dead (Web Push 404/410, APNs Unregistered): remove it."""

    reason: str
    status: int = 410


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again later (429, 5xx, a timeout); `after` seconds when the provider said."""

    reason: str
    status: int | None = None
    after: float | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """The provider refused this request (400/401/403/413): keep the registration, warn the
    operator — a configuration problem, not the device's."""

    reason: str
    status: int = 400
    detail: dict[str, Any] = field(default_factory=dict)


PushResult = Delivered | Gone | Retry | Rejected


class Sender(Protocol):
    """Sends one message to one registration. Never raises for the provider's answers or for
    network failures: those are results (a timeout is `Retry`)."""

    async def send(self, message: PushMessage, target: Target) -> PushResult: ...

    async def aclose(self) -> None: ...
