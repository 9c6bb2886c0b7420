"""VAPID (RFC 8292): the server's P-256 key and the signed tokens that identify it to a push
service.

A browser subscribes with the server's public key (`applicationServerKey`); every request to
its push service then carries `Authorization: vapid t=<JWT>, k=<public key>`, where the JWT
(ES256) names the push service's origin (`aud`), an expiry at most 24 hours ahead (`exp`) and a
contact (`sub`). Signing is the costly part, so `VapidTokens` keeps one token per origin and
signs a new one only when the cached one is about to expire. The JWT itself is made by
py-vapid's `jwt.sign`; the key by `cryptography`.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import jwt

# A token lives 12 hours (RFC 8292 allows 24; the margin absorbs a push service's clock skew)
# and is replaced once less than an hour is left, so no request carries a nearly expired one.
TOKEN_LIFETIME_SECONDS = 12 * 3600
RENEW_BEFORE_SECONDS = 3600
# Origins with a cached token; Windows spreads subscriptions over many *.notify.windows.com hosts.
MAX_CACHED_ORIGINS = 1024


class VapidKeyError(ValueError):
    """The VAPID private key is not a PEM P-256 (prime256v1) private key."""


def b64url(data: bytes) -> str:
    """Base64url without padding, the encoding of every Web Push key and token part."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def load_vapid_key(private_pem: str) -> ec.EllipticCurvePrivateKey:
    """The P-256 private key in `private_pem` (PKCS#8 or SEC1 "EC PRIVATE KEY")."""
    try:
        key = serialization.load_pem_private_key(private_pem.encode("utf-8"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise VapidKeyError(f"not a PEM private key without a password: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise VapidKeyError("the VAPID key must be an EC P-256 (prime256v1) key")
    return key


def public_point(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    """The uncompressed P-256 point (65 bytes, 0x04 || x || y) of a key."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def vapid_public_key(private_pem: str) -> str:
    """What a browser passes as `applicationServerKey` (and what `k=` carries): base64url,
    no padding, of the uncompressed public point of the key in `private_pem`."""
    return b64url(public_point(load_vapid_key(private_pem)))


def generate_vapid_key() -> str:
    """A new P-256 private key as PKCS#8 PEM text."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a push endpoint: the JWT's `aud` (RFC 8292 §2)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {url!r}")
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_subject(subject: str) -> str:
    """`sub` must be a `mailto:` or an `https:` URI (RFC 8292 §2.1; Apple refuses others)."""
    if not (subject.startswith("mailto:") and "@" in subject) and not subject.startswith(
        "https://"
    ):
        raise ValueError(f"the VAPID subject must be mailto:… or https://…, not {subject!r}")
    return subject


@dataclass(frozen=True, slots=True)
class VapidToken:
    """A signed JWT for one push-service origin and the time (epoch seconds) it expires."""

    jwt: str
    expires: int


class VapidTokens:
    """Signs and caches the VAPID `Authorization` value per push-service origin.

    `authorization(endpoint, now=...)` answers the cached token of the endpoint's origin while
    more than `renew_before` seconds of it are left, else signs a new one valid for `lifetime`
    seconds from `now` (epoch seconds; callers pass their clock, so tests control it)."""

    def __init__(
        self,
        private_pem: str,
        *,
        subject: str,
        lifetime: int = TOKEN_LIFETIME_SECONDS,
        renew_before: int = RENEW_BEFORE_SECONDS,
    ) -> None:
        if not 0 <= renew_before < lifetime <= 24 * 3600:
            raise ValueError("need 0 <= renew_before < lifetime <= 24 h")
        self._key = load_vapid_key(private_pem)
        self.public_key = b64url(public_point(self._key))
        self.subject = check_subject(subject)
        self.lifetime = lifetime
        self.renew_before = renew_before
        self._tokens: dict[str, VapidToken] = {}
        self._lock = threading.Lock()  # senders may build requests on worker threads
        self.signed = 0  # tokens signed so far (a measure of the cache's effect)

    def token(self, endpoint: str, *, now: float) -> VapidToken:
        """The valid token for `endpoint`'s origin, signed anew when due."""
        audience = origin_of(endpoint)
        cached = self._tokens.get(audience)
        if cached is not None and now < cached.expires - self.renew_before:
            return cached
        with self._lock:
            cached = self._tokens.get(audience)
            if cached is not None and now < cached.expires - self.renew_before:
                return cached  # another thread signed it meanwhile
            expires = int(now) + self.lifetime
            claims = {"aud": audience, "exp": expires, "sub": self.subject}
            fresh = VapidToken(jwt=jwt.sign(claims, self._key), expires=expires)
            self.signed += 1
            self._tokens.pop(audience, None)
            if len(self._tokens) >= MAX_CACHED_ORIGINS:
                del self._tokens[next(iter(self._tokens))]  # the longest-held origin
            self._tokens[audience] = fresh
            return fresh

    def authorization(self, endpoint: str, *, now: float) -> str:
        """The `Authorization` header value for a request to `endpoint` (RFC 8292 §3)."""
        return f"vapid t={self.token(endpoint, now=now).jwt}, k={self.public_key}"
