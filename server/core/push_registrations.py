"""Validating a device's push registration: pure, before anything is stored.

A `web` device registers a browser's Web Push subscription (`PushSubscription.toJSON()`):

    endpoint   an https:// URL of an allowed push service (`push_allowed_origins`), at most
               ENDPOINT_MAX characters; "https://*.host" in the list allows every subdomain
               of host. `http://127.0.0.1:PORT` and `http://localhost:PORT` entries (a local
               push service in tests and the demo) count only outside production.
    p256dh     base64url of the browser's public key: a 65-byte uncompressed P-256 point
               (0x04 ‖ x ‖ y) on the curve
    auth       base64url of the 16-byte authentication secret

An `ios` device registers its APNs device token (hex, even length, 64–200 characters; stored
lower-case) and the APNs environment it was issued for (`sandbox` | `production`). Other
device kinds have no push registration. Keys are base64url; trailing `=` padding is tolerated
and dropped (stored without).

Each refusal is a `CoreError` with its own stable code (server/errors.py):

    PushRegistrationError
    ├── InvalidSubscription    push.invalid_subscription   malformed endpoint or keys
    ├── EndpointNotAllowed     push.endpoint_not_allowed   not https, or not an allowed service
    ├── InvalidToken           push.invalid_token          malformed APNs token or environment
    └── WrongType              push.wrong_type             the type does not fit the device kind
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from protocol.vocabulary import DeviceKind
from server.core.errors import CoreError

ENDPOINT_MAX = 2048
P256DH_BYTES = 65
AUTH_BYTES = 16
TOKEN_MIN, TOKEN_MAX = 64, 200
ENVIRONMENTS = ("sandbox", "production")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
WEBPUSH: Literal["webpush"] = "webpush"
APNS: Literal["apns"] = "apns"
# The registration type each device kind may have.
TYPE_OF_KIND: dict[str, str] = {DeviceKind.WEB.value: WEBPUSH, DeviceKind.IOS.value: APNS}

# P-256 (secp256r1): y² = x³ − 3x + b over GF(p)
_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_HEX = re.compile(r"[0-9a-fA-F]*")
_DEFAULT_PORTS = {"https": 443, "http": 80}


class PushRegistrationError(CoreError):
    """A push registration that is not stored."""


class InvalidSubscription(PushRegistrationError):
    code = "push.invalid_subscription"


class EndpointNotAllowed(PushRegistrationError):
    code = "push.endpoint_not_allowed"


class InvalidToken(PushRegistrationError):
    code = "push.invalid_token"


class WrongType(PushRegistrationError):
    code = "push.wrong_type"


@dataclass(frozen=True)
class Registration:
    """A valid registration, normalized (keys without padding, token lower-case)."""

    type: Literal["webpush", "apns"]
    endpoint: str = ""
    p256dh: str = ""
    auth: str = ""
    token: str = ""
    environment: str = ""


@dataclass(frozen=True)
class OriginRule:
    """One entry of `push_allowed_origins`."""

    scheme: str
    host: str
    port: int
    subdomains: bool  # "https://*.host": any subdomain of host (not host itself)

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if scheme != self.scheme or port != self.port:
            return False
        if self.subdomains:
            return host.endswith("." + self.host)
        return host == self.host

    @property
    def loopback(self) -> bool:
        return self.scheme == "http"


def parse_origin_rule(entry: str) -> OriginRule:
    """An allowed push origin: `https://host[:port]`, `https://*.host[:port]`, or (local push
    services) `http://127.0.0.1:PORT` / `http://localhost:PORT`. ValueError otherwise."""
    parts = urlsplit(entry.strip())
    wildcard = parts.netloc.startswith("*.")
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"push origin {entry!r}: bad port") from None
    if parts.scheme not in _DEFAULT_PORTS or not host or parts.username or parts.password:
        raise ValueError(f"push origin {entry!r}: expected https://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"push origin {entry!r}: an origin has no path, query or fragment")
    if wildcard:
        host = host.removeprefix("*.")
        if "*" in host or "." not in host:
            raise ValueError(f"push origin {entry!r}: a wildcard covers a domain, *.example.com")
    elif "*" in host:
        raise ValueError(f"push origin {entry!r}: '*' only as the first label, *.example.com")
    if parts.scheme == "http" and (wildcard or host not in LOOPBACK_HOSTS or port is None):
        raise ValueError(
            f"push origin {entry!r}: http:// only for http://127.0.0.1:PORT or "
            "http://localhost:PORT (a local push service)"
        )
    return OriginRule(
        scheme=parts.scheme,
        host=host,
        port=port if port is not None else _DEFAULT_PORTS[parts.scheme],
        subdomains=wildcard,
    )


def parse_origin_rules(entries: Iterable[str]) -> tuple[OriginRule, ...]:
    return tuple(parse_origin_rule(entry) for entry in entries)


def check_type(*, device_kind: str, registration_type: str) -> None:
    """A `web` device registers Web Push, an `ios` device APNs; nothing else registers."""
    expected = TYPE_OF_KIND.get(device_kind)
    if expected is None:
        raise WrongType(f"a {device_kind} device has no push registration")
    if registration_type != expected:
        raise WrongType(f"a {device_kind} device registers {expected}, not {registration_type}")


def webpush(
    *,
    endpoint: str,
    p256dh: str,
    auth: str,
    allowed: Iterable[OriginRule],
    production: bool,
) -> Registration:
    """A browser subscription, validated and normalized; a PushRegistrationError if not."""
    _check_endpoint(endpoint, allowed=allowed, production=production)
    public = _b64url("p256dh", p256dh)
    if len(public) != P256DH_BYTES or not on_p256(public):
        raise InvalidSubscription("keys.p256dh must be a 65-byte uncompressed P-256 point")
    secret = _b64url("auth", auth)
    if len(secret) != AUTH_BYTES:
        raise InvalidSubscription(f"keys.auth must be {AUTH_BYTES} bytes")
    return Registration(
        type=WEBPUSH, endpoint=endpoint, p256dh=p256dh.rstrip("="), auth=auth.rstrip("=")
    )


def apns(*, token: str, environment: str) -> Registration:
    """An APNs device token, validated and lower-cased; InvalidToken if not."""
    if not (TOKEN_MIN <= len(token) <= TOKEN_MAX) or len(token) % 2 or not _HEX.fullmatch(token):
        raise InvalidToken(
            f"token must be hexadecimal with an even length of {TOKEN_MIN}–{TOKEN_MAX} characters"
        )
    if environment not in ENVIRONMENTS:
        raise InvalidToken("environment must be sandbox or production")
    return Registration(type=APNS, token=token.lower(), environment=environment)


def on_p256(point: bytes) -> bool:
    """Whether `point` is an uncompressed point (0x04 ‖ x ‖ y) on the P-256 curve."""
    if len(point) != P256DH_BYTES or point[0] != 0x04:
        return False
    x = int.from_bytes(point[1:33], "big")
    y = int.from_bytes(point[33:], "big")
    if x >= _P or y >= _P:
        return False
    return (y * y - (x * x * x - 3 * x + _B)) % _P == 0


def _b64url(name: str, value: str) -> bytes:
    if not _B64URL.fullmatch(value):
        raise InvalidSubscription(f"keys.{name} must be base64url")
    bare = value.rstrip("=")
    if len(bare) % 4 == 1:
        raise InvalidSubscription(f"keys.{name} must be base64url")
    try:
        return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError):
        raise InvalidSubscription(f"keys.{name} must be base64url") from None


def _check_endpoint(endpoint: str, *, allowed: Iterable[OriginRule], production: bool) -> None:
    if len(endpoint) > ENDPOINT_MAX:
        raise InvalidSubscription(f"endpoint is longer than {ENDPOINT_MAX} characters")
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in endpoint):
        raise InvalidSubscription("endpoint must be a URL without spaces or control characters")
    parts = urlsplit(endpoint)
    try:
        port = parts.port
    except ValueError:
        raise InvalidSubscription("endpoint has a bad port") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in _DEFAULT_PORTS or not host or parts.username or parts.password:
        raise InvalidSubscription("endpoint must be an https:// URL")
    if parts.fragment:
        raise InvalidSubscription("endpoint must not have a fragment")
    port = port if port is not None else _DEFAULT_PORTS[parts.scheme]
    for rule in allowed:
        if rule.loopback and production:
            continue
        if rule.matches(parts.scheme, host, port):
            return
    if parts.scheme != "https":
        raise EndpointNotAllowed("endpoint must be https://")
    raise EndpointNotAllowed(f"{parts.scheme}://{parts.netloc} is not an allowed push service")
