"""Apple Push Notification service: a pure request builder and a sender on aioapns.

`to_apns_request()` turns one `PushMessage` for one `ApnsRegistration` into the request APNs
expects (path, `apns-*` headers, JSON payload); `apns_result()` turns APNs' answer into a typed
`PushResult`. `APNsSender` sends over HTTP/2 + TLS with token authentication (an ES256
provider token, renewed before Apple's one-hour limit), one aioapns connection pool per APNs
environment, and never raises for APNs' answers or for network failures.

aioapns builds every connection to Apple's hosts on port 443 with a provider token of its own
per connection; the small subclasses here (`_Pool`, `_Connection`) connect to the host and port
the sender was given (a local stand-in's `url`, trusting `ca_file`), share one `ProviderToken`
so an `ExpiredProviderToken` answer can renew it, read `Retry-After`, return the HTTP/2
flow-control window, and ignore an answer that arrives after the sender gave up waiting.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache, partial
from typing import Any, Literal, NoReturn, cast
from urllib.parse import urlsplit

import jwt
from aioapns.common import NotificationResult, PushType
from aioapns.connection import (
    APNsBaseClientProtocol,
    APNsBaseConnectionPool,
    APNsDevelopmentClientProtocol,
    APNsProductionClientProtocol,
    APNsTLSClientProtocol,
    AuthorizationHeaderProvider,
)
from aioapns.exceptions import ConnectionClosed
from aioapns.exceptions import ConnectionError as ApnsConnectionError
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.exceptions import H2Error
from h2.settings import ChangedSetting, SettingCodes
from hpack import Encoder, HeaderTuple, NeverIndexedHeaderTuple
from hpack.hpack import encode_integer
from hpack.table import HeaderTable

from push.message import (
    ApnsRegistration,
    Delivered,
    Gone,
    PushMessage,
    PushResult,
    Rejected,
    Retry,
    Target,
)

Environment = Literal["sandbox", "production"]

# Apple's hosts per environment (as aioapns names them) and port.
APPLE_HOSTS: dict[Environment, str] = {
    "production": APNsProductionClientProtocol.APNS_SERVER,
    "sandbox": APNsDevelopmentClientProtocol.APNS_SERVER,
}
APPLE_PORT = 443

PRIORITY_ALERT = 10  # deliver at once
PRIORITY_BACKGROUND = 5  # Apple refuses 10 for a background push
EXPIRATION_SECONDS = 3600  # how long APNs keeps an undelivered notification
# Apple refuses a provider token older than one hour and one refreshed more often than every
# 20 minutes (TooManyProviderTokenUpdates): renew after 45.
TOKEN_RENEW_SECONDS = 45 * 60
CRITICAL_SOUND: dict[str, Any] = {"critical": 1, "name": "default", "volume": 1.0}
DEVICE_TOKEN = re.compile(r"(?:[0-9a-fA-F]{2}){8,200}")
MAX_CONNECTIONS = 10  # per environment
# Requests in flight per connection (APNs allows up to 1,000): h2 walks every open stream to
# open another, so more streams per connection cost more CPU than more connections.
STREAMS_PER_CONNECTION = 100


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class APNsRequest:
    """What goes to APNs for one device: `POST path` with `headers` and `body`."""

    token: str
    environment: Environment
    path: str
    headers: dict[str, str]
    body: bytes  # the JSON payload as sent

    @property
    def payload(self) -> dict[str, Any]:
        """The JSON payload (decoded from `body`, a new dict each time)."""
        return cast(dict[str, Any], json.loads(self.body))


def interruption_level(message: PushMessage) -> Literal["critical", "time-sensitive"]:
    """`critical` (through silent mode and Focus, at full volume) for an actual PDV alert;
    `time-sensitive` (through Focus) for every other kind and for drills."""
    if message.mode == "actual" and message.kind == "pdv_lockdown":
        return "critical"
    return "time-sensitive"


def to_apns_request(
    message: PushMessage,
    registration: ApnsRegistration,
    *,
    topic: str,
    now: datetime,
    ttl_seconds: int = EXPIRATION_SECONDS,
) -> APNsRequest:
    """The APNs request for `message` to `registration`'s device. A `test` alert is a
    background push (no alert, no sound: the app wakes and receipts it); every other one an
    alert, replacing a pending notification of the same alert (`apns-collapse-id`)."""
    if not DEVICE_TOKEN.fullmatch(registration.token):
        raise ValueError("an APNs device token is an even number of hex digits")
    background = message.mode == "test"
    headers = {
        "apns-push-type": PushType.BACKGROUND.value if background else PushType.ALERT.value,
        "apns-priority": str(PRIORITY_BACKGROUND if background else PRIORITY_ALERT),
        "apns-topic": topic,
        "apns-expiration": str(int(now.timestamp()) + ttl_seconds),
        "apns-collapse-id": message.topic,
    }
    return APNsRequest(
        token=registration.token,
        environment=registration.environment,
        path=f"/3/device/{registration.token}",
        headers=headers,
        body=apns_body(message),
    )


def apns_payload(message: PushMessage) -> dict[str, Any]:
    """The JSON payload of `message`."""
    aps: dict[str, Any]
    if message.mode == "test":
        aps = {"content-available": 1}
    else:
        level = interruption_level(message)
        aps = {
            "alert": {"title": message.title, "body": message.body},
            "interruption-level": level,
            "sound": dict(CRITICAL_SOUND) if level == "critical" else "default",
        }
    payload: dict[str, Any] = {
        "aps": aps,
        "alert_id": message.alert_id,
        "seq": message.seq,
        "event": message.event,
        "kind": message.kind,
        "mode": message.mode,
        "state": message.state,
        "url": message.url,
    }
    return payload


@lru_cache(maxsize=64)
def apns_body(message: PushMessage) -> bytes:
    """The payload as sent (compact UTF-8 JSON), encoded once per message: the dispatcher
    hands the same message to every device of an event and language."""
    return json.dumps(apns_payload(message), ensure_ascii=False, separators=(",", ":")).encode()


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """A `Retry-After` header (seconds or an HTTP date) as seconds from `now`; None when absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def apns_result(status: int, reason: str, *, retry_after: float | None = None) -> PushResult:
    """APNs' answer (HTTP status, the body's `reason`) as a typed result.

    `BadDeviceToken` means gone only when the token was sent to the environment it was issued
    for; the sender always sends a registration to its own environment, so it is gone here.
    `ExpiredProviderToken` is a retry: the sender renews the token (and has retried once)."""
    described = reason or f"HTTP {status}"
    if status == 200:
        return Delivered(status=200)
    if status == 410 or (status == 400 and reason == "BadDeviceToken"):
        return Gone(reason=described, status=status)
    if (status == 403 and reason == "ExpiredProviderToken") or status == 429 or status >= 500:
        return Retry(reason=described, status=status, after=retry_after)
    return Rejected(reason=described, status=status)


class ProviderToken(AuthorizationHeaderProvider):
    """The ES256 provider token (JWT: `kid` header, `iss` team id, `iat`) every request
    carries as `authorization: bearer …`, shared by all connections and renewed after
    `TOKEN_RENEW_SECONDS` or when APNs calls it expired."""

    def __init__(
        self, *, key: str, key_id: str, team_id: str, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        try:
            private_key = load_pem_private_key(key.encode(), password=None)
        except (TypeError, ValueError) as error:
            raise ValueError(f"the APNs key is not a PEM private key (.p8): {error}") from None
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
            private_key.curve, ec.SECP256R1
        ):
            raise ValueError("the APNs key must be an EC P-256 private key (.p8)")
        if not key_id or not team_id:
            raise ValueError("an APNs key needs its key id and the team id")
        self._key = private_key
        self._key_id = key_id
        self._team_id = team_id
        self._clock = clock
        self._header: str | None = None
        self._issued_at = 0

    def get_header(self) -> str:
        now = int(self._clock().timestamp())
        age = now - self._issued_at
        if self._header is None or not 0 <= age < TOKEN_RENEW_SECONDS:
            token = jwt.encode(
                {"iss": self._team_id, "iat": now},
                self._key,
                algorithm="ES256",
                headers={"kid": self._key_id},
            )
            self._header = f"bearer {token}"
            self._issued_at = now
        return self._header

    def renew(self, stale: str) -> None:
        """APNs called the token in header `stale` expired: the next request gets a new one
        (once, however many requests were answered so, when `stale` is still the current)."""
        if self._header == stale:
            self._header = None


# HPACK's static table (RFC 7541 appendix A): a header name's index, for literal fields.
_STATIC_NAMES: dict[bytes, int] = {}
for _index, (_name, _value) in enumerate(HeaderTable.STATIC_TABLE, start=1):
    _STATIC_NAMES.setdefault(_name, _index)
FIELDS_KEPT = 64  # encoded header fields remembered (the constant ones, tokens, expirations)


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def literal_field(name: bytes, value: bytes, *, never_indexed: bool) -> bytes:
    """One header as an HPACK literal field without indexing (RFC 7541 6.2.2) or never
    indexed (6.2.3), its name by static-table index when there is one, no Huffman coding."""
    index = _STATIC_NAMES.get(name, 0)
    first = encode_integer(index, 4)
    first[0] |= 0x10 if never_indexed else 0x00
    name_part = b"" if index else bytes(encode_integer(len(name), 7)) + name
    return bytes(first) + name_part + bytes(encode_integer(len(value), 7)) + value


class _StaticEncoder(Encoder):
    """HPACK that never uses the dynamic table: each header is a literal field, encoded once
    and remembered (the constant headers, the provider token and the expiration repeat from
    request to request), the values that never repeat (`apns-id`, the path) as never-indexed
    literals. The header table hpack keeps per header cost more CPU than the bytes it saved
    (bench/README.md "Push"). Still HPACK: a table size the peer asks for is acknowledged."""

    def __init__(self) -> None:
        super().__init__()
        self._fields: dict[tuple[bytes, bytes], bytes] = {}

    def encode(self, headers: Any, huffman: bool = False) -> bytes:
        block: list[bytes] = []
        if self.header_table.resized:  # the peer's SETTINGS_HEADER_TABLE_SIZE
            block.append(self._encode_table_size_change())
            self.header_table.resized = False
        fields = self._fields
        for header in headers:
            name, value = _bytes(header[0]), _bytes(header[1])
            if isinstance(header, HeaderTuple) and not header.indexable:
                block.append(literal_field(name, value, never_indexed=True))
                continue
            field = fields.get((name, value))
            if field is None:
                if len(fields) >= FIELDS_KEPT:
                    fields.clear()
                field = fields[name, value] = literal_field(name, value, never_indexed=False)
            block.append(field)
        return b"".join(block)


class _Connection(APNsTLSClientProtocol):
    """aioapns' HTTP/2 client connection (its response handling, stream accounting and idle
    close), sending `APNsRequest`s as built: a request waits until a stream is free and the
    connection's flow-control window takes its body (aioapns writes regardless, and fails a
    burst with a half-sent stream). Also: `Retry-After` kept per request, received data
    acknowledged (aioapns never returns the window), an error answer without a body resolved
    at its stream's end, and late answers to abandoned requests dropped."""

    def __init__(
        self,
        *,
        host: str,
        topic: str,
        loop: asyncio.AbstractEventLoop,
        on_lost: Callable[[APNsBaseClientProtocol], None],
        token: ProviderToken,
    ) -> None:
        super().__init__(topic, loop, cast(Callable[[APNsBaseClientProtocol], NoReturn], on_lost))
        self.token = token
        self.APNS_SERVER = host
        self.retry_after: dict[str, str] = {}
        self.lost: asyncio.Future[None] = loop.create_future()
        self._waiting: deque[asyncio.Future[None]] = deque()  # requests waiting to send
        self._flush_scheduled = False
        # The headers are ours (a hex token, the configured topic): not validated again.
        self.conn = H2Connection(
            H2Configuration(
                client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False
            )
        )
        self.conn.encoder = _StaticEncoder()
        self.free_channels.bound = STREAMS_PER_CONNECTION

    async def post(self, request: APNsRequest) -> NotificationResult:
        """Send `request` on a new stream and wait for APNs' answer."""
        body = request.body
        await self._until_sendable(len(body))
        stream_id = await self.free_channels.acquire()  # a channel is free: no suspension
        apns_id = str(uuid.uuid4())
        # Values that never repeat are not indexed: they would evict the provider token and
        # the constant headers from HPACK's table, which then go out in full again.
        headers: list[HeaderTuple | tuple[str, str]] = [
            (":method", "POST"),
            (":scheme", "https"),
            NeverIndexedHeaderTuple(":path", request.path),
            ("host", self.APNS_SERVER),
            NeverIndexedHeaderTuple("apns-id", apns_id),
            *request.headers.items(),
            ("authorization", self.token.get_header()),
        ]
        self.conn.send_headers(stream_id, headers)
        self.conn.send_data(stream_id, body, end_stream=True)
        self.flush()
        answer: asyncio.Future[NotificationResult] = self.loop.create_future()
        self.requests[apns_id] = answer
        self.request_streams[stream_id] = apns_id
        self._wake_next()
        return await answer

    async def _until_sendable(self, size: int) -> None:
        """Until a stream is free and the window takes `size` bytes. Waiters queue in order
        and are woken one at a time (each, once it sent, wakes the next), not all at once."""
        first = True
        while True:
            if self.transport is None or self.transport.is_closing():
                self._wake_next()
                raise ConnectionClosed("connection closed")
            if (first and self._waiting) or not self._sendable(size):
                waiter: asyncio.Future[None] = self.loop.create_future()
                (self._waiting.append if first else self._waiting.appendleft)(waiter)
                try:
                    await waiter
                except asyncio.CancelledError:
                    if waiter in self._waiting:
                        self._waiting.remove(waiter)
                    elif waiter.done() and not waiter.cancelled():
                        self._wake_next()  # pass the turn on
                    raise
                first = False
                continue
            return

    def _sendable(self, size: int) -> bool:
        return not self.is_busy and self.conn.outbound_flow_control_window >= size

    def _wake_next(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._wake_next()

    def on_remote_settings_changed(
        self, changed_settings: dict[SettingCodes, ChangedSetting]
    ) -> None:
        for setting in changed_settings.values():
            if setting.setting == SettingCodes.MAX_CONCURRENT_STREAMS:
                self.free_channels.bound = min(setting.new_value, STREAMS_PER_CONNECTION)

    def flush(self) -> None:
        """Write what h2 has to send once per pass of the event loop, not once per request
        (a burst of requests is then a few TLS records, not one each)."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_scheduled = False
        if self.transport is not None and not self.transport.is_closing():
            super().flush()

    def _forget_abandoned(self, notification_id: str) -> None:
        waiting = self.requests.get(notification_id)
        if waiting is not None and waiting.done():
            del self.requests[notification_id]

    def on_response_received(self, headers: dict[bytes, bytes]) -> None:
        notification_id = headers.get(b"apns-id", b"").decode()
        self._forget_abandoned(notification_id)
        retry_after = headers.get(b"retry-after")
        if retry_after is not None and notification_id in self.requests:
            self.retry_after[notification_id] = retry_after.decode(errors="replace")
        super().on_response_received(headers)

    def on_data_received(self, data: bytes, stream_id: int) -> None:
        self.conn.acknowledge_received_data(len(data), stream_id)
        notification_id = self.request_streams.get(stream_id)
        if notification_id is not None:
            self._forget_abandoned(notification_id)
        try:
            super().on_data_received(data, stream_id)
        except (ValueError, KeyError):
            pass  # not APNs' JSON: the stream's end answers with the status alone

    def on_stream_ended(self, stream_id: int) -> None:
        notification_id = self.request_streams.pop(stream_id, None)
        if notification_id is not None:
            status = self.request_statuses.pop(notification_id, None)
            waiting = self.requests.pop(notification_id, None)
            if status is not None and waiting is not None and not waiting.done():
                waiting.set_result(NotificationResult(notification_id, status))
        super().on_stream_ended(stream_id)

    def connection_lost(self, exc: Exception | None) -> None:
        self.requests = {
            key: waiting for key, waiting in self.requests.items() if not waiting.done()
        }
        super().connection_lost(exc)
        self._wake_next()
        if not self.lost.done():
            self.lost.set_result(None)


class _Pool(APNsBaseConnectionPool):
    """aioapns' connection pool for one environment, connecting to `host:port`."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        topic: str,
        token: ProviderToken,
        ssl_context: ssl.SSLContext,
    ) -> None:
        super().__init__(topic=topic, max_connections=MAX_CONNECTIONS)
        self.ssl_context = ssl_context
        self._host = host
        self._port = port
        self._topic = topic
        self._token = token
        self.last_error: Exception | None = None

    async def create_connection(self) -> APNsBaseClientProtocol:
        factory = partial(
            _Connection,
            host=self._host,
            topic=self._topic,
            loop=self.loop,
            on_lost=self.discard_connection,
            token=self._token,
        )
        try:
            _, connection = await self.loop.create_connection(
                factory, host=self._host, port=self._port, ssl=self.ssl_context
            )
        except OSError as error:  # aioapns answers ConnectionError without the cause
            self.last_error = error
            raise
        return connection


NETWORK_FAILURES = (OSError, ApnsConnectionError, ConnectionClosed, H2Error)


@dataclass(frozen=True, slots=True)
class _Answer:
    """APNs' answer to one request, before it becomes a `PushResult`."""

    status: int
    reason: str
    apns_id: str
    retry_after: str | None = None


class APNsSender:
    """Sends `PushMessage`s to iOS devices through APNs (a `push.message.Sender`).

    `key` is the .p8 key's PEM text, `key_id` its id, `team_id` the Apple team, `topic` the
    app's bundle id. `url` (`https://host:port`) sends both environments there instead of to
    Apple's hosts, trusting `ca_file` (a local stand-in); `timeout` bounds each attempt."""

    def __init__(
        self,
        *,
        key: str,
        key_id: str,
        team_id: str,
        topic: str,
        url: str | None = None,
        ca_file: str | None = None,
        timeout: float = 10.0,
        ttl_seconds: int = EXPIRATION_SECONDS,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if not topic:
            raise ValueError("the APNs topic (the app's bundle id) is required")
        self._token = ProviderToken(key=key, key_id=key_id, team_id=team_id, clock=clock)
        self._topic = topic
        self._timeout = timeout
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._addresses = _addresses(url)
        self._ssl = ssl.create_default_context(cafile=ca_file or None)
        self._ssl.set_alpn_protocols(["h2"])
        self._pools: dict[Environment, _Pool] = {}
        self._closed = False

    async def __aenter__(self) -> APNsSender:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def send(self, message: PushMessage, target: Target) -> PushResult:
        if not isinstance(target, ApnsRegistration):
            raise TypeError("APNsSender sends to an ApnsRegistration")
        if self._closed:
            return Retry(reason="sender closed")
        if not DEVICE_TOKEN.fullmatch(target.token):
            return Gone(reason="BadDeviceToken", status=400)
        answer = await self._attempt(message, target)
        if isinstance(answer, _Answer) and answer.reason == "ExpiredProviderToken":
            answer = await self._attempt(message, target)
        if not isinstance(answer, _Answer):
            return answer
        after = retry_after_seconds(answer.retry_after, now=self._clock())
        result = apns_result(answer.status, answer.reason, retry_after=after)
        if isinstance(result, Rejected):
            detail = {"apns_id": answer.apns_id, "environment": target.environment}
            result = replace(result, detail=detail)
        return result

    async def _attempt(self, message: PushMessage, target: ApnsRegistration) -> _Answer | Retry:
        """One request (on a fresh connection once more when its connection closed under it,
        e.g. by GOAWAY); an expired provider token is renewed for the next attempt."""
        now = self._clock()
        request = to_apns_request(
            message, target, topic=self._topic, now=now, ttl_seconds=self._ttl_seconds
        )
        pool = self._pool(request.environment)
        bearer = self._token.get_header()
        try:
            async with asyncio.timeout(self._timeout):
                connection, answer = await _post(pool, request)
        except TimeoutError:
            return Retry(reason="timeout")
        except ApnsConnectionError:
            return Retry(reason=f"cannot connect: {_described(pool.last_error)}")
        except NETWORK_FAILURES as error:
            return Retry(reason=_described(error))
        reason = answer.description or ""
        if reason == "ExpiredProviderToken":
            self._token.renew(bearer)
        return _Answer(
            status=int(answer.status) if answer.status.isdigit() else 0,
            reason=reason,
            apns_id=answer.notification_id,
            retry_after=connection.retry_after.pop(answer.notification_id, None),
        )

    def _pool(self, environment: Environment) -> _Pool:
        pool = self._pools.get(environment)
        if pool is None:
            host, port = self._addresses[environment]
            pool = _Pool(
                host=host, port=port, topic=self._topic, token=self._token, ssl_context=self._ssl
            )
            self._pools[environment] = pool
        return pool

    async def aclose(self) -> None:
        self._closed = True
        connections = [
            connection
            for pool in self._pools.values()
            for connection in pool.connections
            if isinstance(connection, _Connection)
        ]
        for pool in self._pools.values():
            pool.close()
        if connections:
            await asyncio.wait([connection.lost for connection in connections], timeout=1.0)


async def _post(pool: _Pool, request: APNsRequest) -> tuple[_Connection, NotificationResult]:
    for attempt in (1, 2):
        connection = await pool.acquire()
        assert isinstance(connection, _Connection)
        try:
            return connection, await connection.post(request)
        except ConnectionClosed:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _described(error: BaseException | None) -> str:
    if error is None:
        return "unknown error"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _addresses(url: str | None) -> dict[Environment, tuple[str, int]]:
    """Where each environment connects: Apple's hosts, or both to `url`."""
    if not url:
        return {environment: (host, APPLE_PORT) for environment, host in APPLE_HOSTS.items()}
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"the APNs url must be https://host[:port], not {url!r}")
    address = (parts.hostname, parts.port or APPLE_PORT)
    return {"production": address, "sandbox": address}
