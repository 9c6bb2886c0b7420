"""Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm message encryption (RFC 8291).

`to_webpush_request()` is pure (no I/O): it encrypts one `PushMessage` for one browser
subscription and returns the URL, headers and body to POST. `WebPushSender` makes the call
over one pooled aiohttp session and turns the push service's answer — or a timeout or a
network failure — into a typed result; it never raises for either. `to_result()` is that
mapping, pure too.

Encryption is http-ece's (`http_ece.encrypt` with a fresh ECDH key per message, as RFC 8291
asks); the JWT is py-vapid's, cached per push-service origin by `push.vapid.VapidTokens`.
bench/push_crypto.py measured the alternatives (bench/README.md has the table): signing a JWT
per call costs a third of the request's CPU, and httpx's connection pool costs ~10× aiohttp's
CPU per request with 50 in flight, so the HTTP client is aiohttp.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from functools import lru_cache, partial
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import http_ece
from cryptography.hazmat.primitives.asymmetric import ec

from push.message import (
    Delivered,
    Gone,
    PushMessage,
    PushResult,
    Rejected,
    Retry,
    Target,
    WebPushSubscription,
)
from push.vapid import VapidTokens, generate_vapid_key, vapid_public_key

__all__ = [
    "InvalidSubscription",
    "WebPushRequest",
    "WebPushSender",
    "encode_payload",
    "generate_vapid_key",
    "parse_retry_after",
    "to_result",
    "to_webpush_request",
    "vapid_public_key",
]

# RFC 8030 §5.4: a Topic is at most 32 characters of the URL-safe base64 alphabet.
TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
# One aes128gcm record holds the whole message (RFC 8291 §4); 4096 is what every push service
# accepts as a body, so the plaintext fits in a record of that size.
RECORD_SIZE = 4096
AUTH_SECRET_BYTES = 16
REASON_CHARS = 200  # of a provider's answer kept in a result's `reason`
DETAIL_CHARS = 1000  # of a provider's answer kept in `Rejected.detail`
ANSWER_BYTES = 8192  # of a provider's answer read at all


class InvalidSubscription(ValueError):
    """A subscription no request can go to: its endpoint is not an http(s) URL, or its
    `p256dh` or `auth` is not what a browser sends."""


@dataclass(frozen=True, slots=True)
class WebPushRequest:
    """One POST to a push service: `url` (the subscription's endpoint), headers, body."""

    url: str
    headers: Mapping[str, str]
    body: bytes


def b64url_decode(text: str, what: str) -> bytes:
    """Strict base64url (padding optional): anything outside the alphabet is an error."""
    stripped = text.rstrip("=")
    if not BASE64URL.fullmatch(stripped):
        raise InvalidSubscription(f"{what} is not base64url")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidSubscription(f"{what} is not base64url") from exc


def subscription_keys(
    subscription: WebPushSubscription,
) -> tuple[ec.EllipticCurvePublicKey, bytes]:
    """The browser's public key (its `p256dh` point, checked to be on P-256; loaded once per
    message and handed to the encryption as it is) and auth secret."""
    point = b64url_decode(subscription.p256dh, "p256dh")
    if len(point) != 65:
        raise InvalidSubscription("p256dh is not an uncompressed P-256 point")
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise InvalidSubscription("p256dh is not an uncompressed P-256 point") from exc
    auth = b64url_decode(subscription.auth, "auth")
    if len(auth) != AUTH_SECRET_BYTES:
        raise InvalidSubscription(f"auth must be {AUTH_SECRET_BYTES} bytes, not {len(auth)}")
    return key, auth


@lru_cache(maxsize=64)
def encode_payload(message: PushMessage) -> bytes:
    """The plaintext a service worker receives: `to_payload()` as compact UTF-8 JSON, encoded
    once per message (the dispatcher hands one message to every device of an event and
    language)."""
    return json.dumps(message.to_payload(), ensure_ascii=False, separators=(",", ":")).encode()


def encrypt(
    plaintext: bytes,
    subscription: WebPushSubscription,
    *,
    sender_key: ec.EllipticCurvePrivateKey | None = None,
    salt: bytes | None = None,
) -> bytes:
    """The aes128gcm body for `subscription` (RFC 8291): header (salt, record size, the
    sender's public point as key id) and one record. `sender_key` and `salt` default to fresh
    random ones; tests pass them to get a known body."""
    key, auth = subscription_keys(subscription)
    body: bytes = http_ece.encrypt(
        plaintext,
        salt=salt,
        private_key=sender_key or ec.generate_private_key(ec.SECP256R1()),
        dh=key,
        auth_secret=auth,
        rs=RECORD_SIZE,
        version="aes128gcm",
    )
    return body


def to_webpush_request(
    message: PushMessage,
    subscription: WebPushSubscription,
    *,
    vapid: VapidTokens,
    ttl_seconds: int,
    now: float,
    sender_key: ec.EllipticCurvePrivateKey | None = None,
    salt: bytes | None = None,
) -> WebPushRequest:
    """The request that delivers `message` to `subscription` at time `now` (epoch seconds;
    it decides whether the cached VAPID token is renewed). Raises `InvalidSubscription` for
    an endpoint that is not an http(s) URL or keys a browser would not send, `ValueError`
    for a TTL below 1 or an invalid topic."""
    if ttl_seconds < 1:
        raise ValueError("TTL must be at least 1 s: 0 lets a push service drop the message")
    if not TOPIC.fullmatch(message.topic):
        raise ValueError(f"topic {message.topic!r} is not ≤ 32 base64url characters")
    endpoint = urlsplit(subscription.endpoint)
    if endpoint.scheme not in ("https", "http") or not endpoint.hostname:
        raise InvalidSubscription("the endpoint is not an http(s) URL")
    body = encrypt(encode_payload(message), subscription, sender_key=sender_key, salt=salt)
    headers = {
        "TTL": str(ttl_seconds),
        "Urgency": "high",
        "Topic": message.topic,
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "Authorization": vapid.authorization(subscription.endpoint, now=now),
    }
    return WebPushRequest(url=subscription.endpoint, headers=headers, body=body)


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` value: delay-seconds or an HTTP-date (then
    relative to `now`, never negative); None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": an HTTP-date is GMT all the same
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _answer_text(body: bytes) -> str:
    return " ".join(body.decode("utf-8", errors="replace").split())


def _detail(body: bytes) -> dict[str, Any]:
    text = body.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and len(text) <= DETAIL_CHARS:
        return parsed
    return {"body": text[:DETAIL_CHARS]} if text else {}


def to_result(
    status: int,
    *,
    body: bytes = b"",
    phrase: str = "",
    retry_after: str | None = None,
    now: float,
) -> PushResult:
    """A push service's answer as a result: 200/201/202 delivered; 404/410 gone (the
    subscription is dead); 429 and 5xx retry (with Retry-After); any other answer rejected
    (400 bad request, 401/403 VAPID refused, 413 too large, …) — the registration is kept and
    the operator warned. `reason` is the status, its phrase and the start of the body."""
    reason = " ".join(part for part in (str(status), phrase) if part)
    text = _answer_text(body)
    if text:
        reason = f"{reason}: {text}"[:REASON_CHARS]
    if status in (200, 201, 202):
        return Delivered(status=status)
    if status in (404, 410):
        return Gone(reason=reason, status=status)
    if status == 429 or 500 <= status <= 599:
        return Retry(reason=reason, status=status, after=parse_retry_after(retry_after, now=now))
    return Rejected(reason=reason, status=status, detail=_detail(body))


class WebPushSender:
    """Sends `PushMessage`s to browser subscriptions over one pooled aiohttp session (made on
    first use, inside the running loop): at most `max_connections` connections, each
    request bounded by `timeout` seconds in all (waiting for a connection, connecting,
    sending, reading the answer), the VAPID token cached per push-service origin. No proxy
    (aiohttp's `trust_env` reads ~/.netrc on every request). `clock` (epoch seconds) is for
    tests. With `encrypt_threads` > 0 each request is built (encrypted) on one of that many
    worker threads, off the event loop: the ECDH, key generation and AES in it release the
    GIL, so the loop keeps about a quarter of the CPU it would spend, while the process
    spends ~25 % more in all (bench/README.md "Push"). An `async with` object; `aclose()`
    releases the connections and the threads."""

    def __init__(
        self,
        *,
        vapid_private_key: str,
        vapid_subject: str,
        ttl_seconds: int,
        timeout: float = 10.0,
        max_connections: int = 100,
        encrypt_threads: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl_seconds < 1:
            raise ValueError("ttl_seconds must be at least 1")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if encrypt_threads < 0:
            raise ValueError("encrypt_threads must be 0 or more")
        self.vapid = VapidTokens(vapid_private_key, subject=vapid_subject)
        self.ttl_seconds = ttl_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_connections = max_connections
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._encrypt_threads = encrypt_threads
        self._executor: ThreadPoolExecutor | None = None

    @property
    def public_key(self) -> str:
        """The `applicationServerKey` browsers subscribe with."""
        return self.vapid.public_key

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                timeout=self._timeout,
            )
        return self._session

    async def send(self, message: PushMessage, target: Target) -> PushResult:
        """Deliver `message` to one subscription; every answer and failure is a result."""
        if not isinstance(target, WebPushSubscription):
            raise TypeError(f"WebPushSender cannot send to {type(target).__name__}")
        try:
            request = await self._request(message, target)
        except InvalidSubscription as exc:
            return Rejected(reason=f"invalid subscription: {exc}", detail={"sent": False})
        # A pooled connection the service closed just as we sent is tried once more, at
        # once, on a fresh one (a duplicate is harmless: clients de-duplicate by seq).
        for _ in range(2):
            try:
                return await self._post(request)
            except aiohttp.ServerDisconnectedError as exc:
                disconnected = exc
        return Retry(reason=f"ServerDisconnectedError: {disconnected}"[:REASON_CHARS])

    async def _request(self, message: PushMessage, target: WebPushSubscription) -> WebPushRequest:
        """`to_webpush_request`, in the loop or on a worker thread."""
        build = partial(
            to_webpush_request,
            message,
            target,
            vapid=self.vapid,
            ttl_seconds=self.ttl_seconds,
            now=self._clock(),
        )
        if not self._encrypt_threads:
            return build()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self._encrypt_threads, thread_name_prefix="webpush-encrypt"
            )
        return await asyncio.get_running_loop().run_in_executor(self._executor, build)

    async def _post(self, request: WebPushRequest) -> PushResult:
        """One attempt; lets ServerDisconnectedError through for `send` to decide."""
        try:
            async with self._client().post(
                request.url, headers=dict(request.headers), data=request.body
            ) as response:
                body = await response.content.read(ANSWER_BYTES)
                return to_result(
                    response.status,
                    body=body,
                    phrase=response.reason or "",
                    retry_after=response.headers.get("Retry-After"),
                    now=self._clock(),
                )
        except aiohttp.ServerDisconnectedError:
            raise
        except aiohttp.InvalidURL as exc:
            return Rejected(reason=f"invalid endpoint: {exc}", detail={"sent": False})
        except TimeoutError:
            return Retry(reason="timeout")
        except (aiohttp.ClientError, OSError) as exc:
            return Retry(reason=f"{type(exc).__name__}: {exc}"[:REASON_CHARS])

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def __aenter__(self) -> WebPushSender:
        self._client()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
