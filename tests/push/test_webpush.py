"""Web Push (push/webpush.py): the pure request builder and answer mapping, and
`WebPushSender` against the local Web Push service (tests/peers/webpush.py), which verifies
the VAPID token and decrypts each message with the subscription's own keys."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import struct
import time
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from protocol.messages import MAX_ID
from push.message import Delivered, Gone, PushMessage, Rejected, Retry, WebPushSubscription
from push.vapid import VapidTokens, generate_vapid_key, vapid_public_key
from push.webpush import (
    InvalidSubscription,
    WebPushSender,
    encode_payload,
    parse_retry_after,
    to_result,
    to_webpush_request,
)
from tests.peers.webpush import PeerSubscription, WebPushPeer, b64url, decrypt, point
from tests.push.conftest import SUBJECT

NOW = 1_800_000_000.0
TIMEOUT = 10  # seconds a test waits for the peer before failing


def browser_subscription(endpoint: str = "https://push.example/sub/1") -> PeerSubscription:
    """A subscription's keys as a browser makes them, without a service behind it."""
    return PeerSubscription(
        id="1",
        endpoint=endpoint,
        private_key=ec.generate_private_key(ec.SECP256R1()),
        auth_secret=bytes(range(16)),
    )


def sender(pem: str, **options: object) -> WebPushSender:
    settings: dict[str, object] = {"ttl_seconds": 3600, **options}
    return WebPushSender(vapid_private_key=pem, vapid_subject=SUBJECT, **settings)  # type: ignore[arg-type]


# -- the pure builder ---------------------------------------------------------------------


def test_the_request_has_the_agreed_headers(vapid_pem: str, message: PushMessage) -> None:
    """TTL = the setting, Urgency high, Topic one per alert, aes128gcm, and a VAPID
    Authorization with the server's public key; the URL is the endpoint."""
    subscription = browser_subscription()
    request = to_webpush_request(
        message,
        subscription.target,
        vapid=VapidTokens(vapid_pem, subject=SUBJECT),
        ttl_seconds=900,
        now=NOW,
    )
    assert request.url == subscription.endpoint
    headers = dict(request.headers)
    authorization = headers.pop("Authorization")
    assert headers == {
        "TTL": "900",
        "Urgency": "high",
        "Topic": "alert-42",
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
    }
    assert authorization.startswith("vapid t=ey")
    assert authorization.endswith(f", k={vapid_public_key(vapid_pem)}")


def test_the_body_decrypts_to_the_payload(vapid_pem: str, message: PushMessage) -> None:
    """With the browser's private key and auth secret the body is to_payload(), in one
    aes128gcm record whose key id is the sender's fresh public point."""
    subscription = browser_subscription()
    sender_key = ec.generate_private_key(ec.SECP256R1())
    request = to_webpush_request(
        message,
        subscription.target,
        vapid=VapidTokens(vapid_pem, subject=SUBJECT),
        ttl_seconds=60,
        now=NOW,
        sender_key=sender_key,
        salt=b"s" * 16,
    )
    salt, record_size, id_length = struct.unpack("!16sLB", request.body[:21])
    assert (salt, record_size, id_length) == (b"s" * 16, 4096, 65)
    assert request.body[21:86] == point(sender_key)
    assert decrypt(request.body, subscription) == message.to_payload()


def test_every_message_gets_a_fresh_sender_key_and_salt(
    vapid_pem: str, message: PushMessage
) -> None:
    """Two requests for the same message differ in salt and key id (RFC 8291)."""
    subscription = browser_subscription().target
    vapid = VapidTokens(vapid_pem, subject=SUBJECT)
    first, second = (
        to_webpush_request(message, subscription, vapid=vapid, ttl_seconds=60, now=NOW)
        for _ in range(2)
    )
    assert first.body[:16] != second.body[:16]
    assert first.body[21:86] != second.body[21:86]


def test_the_payload_is_compact_utf8_json(message: PushMessage) -> None:
    """Swedish letters are UTF-8, not \\u escapes, and there is no whitespace padding."""
    plaintext = encode_payload(message)
    assert "Västerskolan".encode() in plaintext
    assert b"\\u" not in plaintext and b": " not in plaintext
    assert json.loads(plaintext) == message.to_payload()


@pytest.mark.parametrize("ttl", [0, -1])
def test_a_ttl_below_one_second_is_refused(vapid_pem: str, message: PushMessage, ttl: int) -> None:
    """TTL 0 would let a push service drop the alert when the phone is asleep: never sent."""
    vapid = VapidTokens(vapid_pem, subject=SUBJECT)
    with pytest.raises(ValueError, match="TTL"):
        to_webpush_request(
            message, browser_subscription().target, vapid=vapid, ttl_seconds=ttl, now=NOW
        )
    with pytest.raises(ValueError):
        sender(vapid_pem, ttl_seconds=ttl)


def test_the_topic_of_the_largest_alert_id_fits(vapid_pem: str, message: PushMessage) -> None:
    """Topic is ≤ 32 base64url characters for every alert id the protocol allows."""
    largest = dataclasses.replace(message, alert_id=MAX_ID)
    request = to_webpush_request(
        largest,
        browser_subscription().target,
        vapid=VapidTokens(vapid_pem, subject=SUBJECT),
        ttl_seconds=60,
        now=NOW,
    )
    topic = request.headers["Topic"]
    assert topic == f"alert-{MAX_ID}" and len(topic) <= 32
    assert all(char.isascii() and (char.isalnum() or char in "-_") for char in topic)


@pytest.mark.parametrize(
    ("p256dh", "auth", "problem"),
    [
        ("BAAA", None, "P-256"),
        ("not+base64/url", None, "base64url"),
        (None, "c2hvcnQ", "16 bytes"),
        (b64url(b"\x04" + bytes(64)), None, "P-256"),  # the right length, not on the curve
    ],
)
def test_keys_a_browser_would_not_send_are_refused(
    vapid_pem: str, message: PushMessage, p256dh: str | None, auth: str | None, problem: str
) -> None:
    """A p256dh that is not a P-256 point or an auth secret not 16 bytes raises
    InvalidSubscription before anything is sent."""
    good = browser_subscription().target
    bad = WebPushSubscription(good.endpoint, p256dh or good.p256dh, auth or good.auth)
    with pytest.raises(InvalidSubscription, match=problem):
        to_webpush_request(
            message, bad, vapid=VapidTokens(vapid_pem, subject=SUBJECT), ttl_seconds=60, now=NOW
        )


# -- the answer mapping (pure) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, Delivered),
        (201, Delivered),
        (202, Delivered),
        (404, Gone),
        (410, Gone),
        (429, Retry),
        (500, Retry),
        (502, Retry),
        (503, Retry),
        (400, Rejected),
        (401, Rejected),
        (403, Rejected),
        (413, Rejected),
        (418, Rejected),
        (301, Rejected),
    ],
)
def test_every_status_maps_to_its_result(status: int, kind: type) -> None:
    """200–202 delivered, 404/410 gone, 429/5xx retry, every other answer rejected; the
    result keeps the status."""
    result = to_result(status, body=b"why", phrase="Phrase", now=NOW)
    assert type(result) is kind
    assert result.status == status
    if not isinstance(result, Delivered):
        assert result.reason == f"{status} Phrase: why"


def test_a_rejection_keeps_the_providers_json_detail() -> None:
    """A JSON error body (autopush's) is kept as the detail; the reason is one short line."""
    body = json.dumps({"code": 413, "errno": 104, "message": "Payload\n too large"}).encode()
    result = to_result(413, body=body, phrase="Request Entity Too Large", now=NOW)
    assert isinstance(result, Rejected)
    assert result.detail == {"code": 413, "errno": 104, "message": "Payload\n too large"}
    assert "\n" not in result.reason and result.reason.startswith("413 Request Entity Too Large")
    long_answer = to_result(400, body=b"x" * 5000, now=NOW)
    assert isinstance(long_answer, Rejected)
    assert len(long_answer.reason) == 200 and len(long_answer.detail["body"]) == 1000


@pytest.mark.parametrize(
    ("value", "after"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        (format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True), 90.0),
        (format_datetime(datetime.fromtimestamp(NOW - 90, UTC), usegmt=True), 0.0),
        ("Fri, 15 Jan 2027 08:00:30 -0000", 1_800_000_030.0 - NOW),
        ("-5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(value: str | None, after: float) -> None:
    """Delay-seconds or an HTTP-date (seconds from now, never negative); else None."""
    assert parse_retry_after(value, now=NOW) == after


# -- the sender against the local Web Push service ------------------------------------


async def test_a_message_arrives_decrypted_with_its_headers(
    vapid_pem: str, message: PushMessage, webpush_peer: WebPushPeer
) -> None:
    """The service verifies the VAPID token, decrypts the body to to_payload() and sees TTL,
    Urgency, Topic and Content-Encoding."""
    subscription = webpush_peer.subscribe(application_server_key=vapid_public_key(vapid_pem))
    async with sender(vapid_pem, ttl_seconds=1800) as push:
        result = await push.send(message, subscription.target)
    assert result == Delivered(201)
    [received] = webpush_peer.received_by(subscription)
    assert received.payload == message.to_payload()
    assert {key: received.headers[key] for key in ("ttl", "urgency", "topic")} == {
        "ttl": "1800",
        "urgency": "high",
        "topic": "alert-42",
    }
    assert received.headers["content-encoding"] == "aes128gcm"
    assert received.claims["aud"] == webpush_peer.origin
    assert received.claims["sub"] == SUBJECT
    assert time.time() < received.claims["exp"] <= time.time() + 24 * 3600
    assert webpush_peer.refused == []


@pytest.mark.parametrize(
    ("status", "retry_after", "kind", "after"),
    [
        (201, None, Delivered, None),
        (200, None, Delivered, None),
        (404, None, Gone, None),
        (410, None, Gone, None),
        (429, "30", Retry, 30.0),
        (500, None, Retry, None),
        (503, "5", Retry, 5.0),
        (400, None, Rejected, None),
        (401, None, Rejected, None),
        (403, None, Rejected, None),
        (413, None, Rejected, None),
    ],
)
async def test_every_answer_of_the_service_becomes_its_result(
    vapid_pem: str,
    message: PushMessage,
    webpush_peer: WebPushPeer,
    status: int,
    retry_after: str | None,
    kind: type,
    after: float | None,
) -> None:
    """Whatever the service answers a valid request, send() returns the matching result with
    the status, the reason (status, phrase, the service's text) and Retry-After in seconds."""
    subscription = webpush_peer.subscribe()
    body = "" if kind is Delivered else "scripted answer"
    webpush_peer.answer(status, retry_after=retry_after, body=body)
    async with sender(vapid_pem) as push:
        result = await push.send(message, subscription.target)
    assert type(result) is kind and result.status == status
    if isinstance(result, Retry):
        assert result.after == after
    if not isinstance(result, Delivered):
        assert result.reason.startswith(f"{status} ")
        assert result.reason.endswith(": scripted answer")
    if isinstance(result, Rejected):
        assert result.detail == {"body": "scripted answer"}
    assert len(webpush_peer.received_by(subscription)) == 1


async def test_an_http_date_retry_after_becomes_seconds(
    vapid_pem: str, message: PushMessage, webpush_peer: WebPushPeer
) -> None:
    """Retry-After as an HTTP-date two minutes ahead of the sender's clock → after = 120."""
    subscription = webpush_peer.subscribe()
    now = time.time()
    when = format_datetime(datetime.fromtimestamp(int(now) + 120, UTC), usegmt=True)
    webpush_peer.answer(429, retry_after=when)
    async with sender(vapid_pem, clock=lambda: float(int(now))) as push:
        result = await push.send(message, subscription.target)
    assert result == Retry("429 Too Many Requests", 429, 120.0)


async def test_an_unsubscribed_browser_is_gone(
    vapid_pem: str, message: PushMessage, webpush_peer: WebPushPeer
) -> None:
    """After the browser unsubscribes the service answers 410 and the result is Gone; an
    endpoint it never issued answers 404, also Gone."""
    subscription = webpush_peer.subscribe()
    webpush_peer.unsubscribe(subscription)
    unknown = dataclasses.replace(subscription.target, endpoint=f"{webpush_peer.origin}/push/x")
    async with sender(vapid_pem) as push:
        gone = await push.send(message, subscription.target)
        never = await push.send(message, unknown)
    assert isinstance(gone, Gone) and gone.status == 410
    assert isinstance(never, Gone) and never.status == 404
    assert webpush_peer.received == []


async def test_a_hanging_service_is_retried_after_the_timeout(
    vapid_pem: str, message: PushMessage, webpush_peer: WebPushPeer
) -> None:
    """A service that never answers yields Retry (a timeout) once `timeout` has passed; the
    same sender delivers once the service answers again."""
    subscription = webpush_peer.subscribe()
    webpush_peer.hang(times=1)
    async with asyncio.timeout(TIMEOUT), sender(vapid_pem, timeout=0.2) as push:
        result = await push.send(message, subscription.target)
        assert isinstance(result, Retry) and result.status is None
        assert result.reason == "timeout"
        assert [item.hung for item in webpush_peer.received] == [True]
        webpush_peer.release()
        assert await push.send(message, subscription.target) == Delivered(201)


async def test_an_unreachable_service_is_retried(vapid_pem: str, message: PushMessage) -> None:
    """A refused connection is Retry, not an exception."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    target = browser_subscription(f"http://127.0.0.1:{port}/push/1").target
    async with sender(vapid_pem, timeout=2) as push:
        result = await push.send(message, target)
    assert isinstance(result, Retry) and result.status is None
    assert result.reason.startswith("ClientConnectorError")


async def test_invalid_keys_are_rejected_without_a_request(
    vapid_pem: str, message: PushMessage, webpush_peer: WebPushPeer
) -> None:
    """A stored subscription with broken keys is Rejected (kept, operator warned); nothing
    reaches the service."""
    target = dataclasses.replace(webpush_peer.subscribe().target, auth="AAAA")
    async with sender(vapid_pem) as push:
        result = await push.send(message, target)
    assert isinstance(result, Rejected) and "auth" in result.reason
    assert result.detail == {"sent": False}
    assert webpush_peer.received == [] and webpush_peer.refused == []


async def test_an_apns_target_is_a_programming_error(vapid_pem: str, message: PushMessage) -> None:
    """Only Web Push subscriptions go to this sender."""
    from push.message import ApnsRegistration

    async with sender(vapid_pem) as push:
        with pytest.raises(TypeError):
            await push.send(message, ApnsRegistration("ab" * 32, "sandbox"))


async def test_the_token_is_reused_for_one_service_and_renewed_near_expiry(
    vapid_pem: str, message: PushMessage, webpush_peer: WebPushPeer
) -> None:
    """Messages to one service carry the same JWT; when the sender's clock nears its expiry
    the next message carries a new one, which the service accepts too."""
    subscriptions = [webpush_peer.subscribe() for _ in range(3)]
    now = [time.time()]
    async with sender(vapid_pem, clock=lambda: now[0]) as push:
        for subscription in subscriptions:
            assert await push.send(message, subscription.target) == Delivered(201)
        first_exp = webpush_peer.received[0].claims["exp"]
        now[0] = first_exp - 3600  # the last hour of the token's life: renew
        assert await push.send(message, subscriptions[0].target) == Delivered(201)
    tokens = [item.headers["authorization"] for item in webpush_peer.received]
    assert tokens[0] == tokens[1] == tokens[2] != tokens[3]
    assert push.vapid.signed == 2
    assert webpush_peer.received[3].claims["exp"] > first_exp


async def test_the_service_refuses_an_expired_token(
    vapid_pem: str, message: PushMessage, webpush_peer: WebPushPeer
) -> None:
    """A sender whose clock is 13 h behind signs a token already expired for the service:
    401, reported as Rejected with the service's reason, and nothing is received."""
    subscription = webpush_peer.subscribe()
    async with sender(vapid_pem, clock=lambda: time.time() - 13 * 3600) as push:
        result = await push.send(message, subscription.target)
    assert isinstance(result, Rejected) and result.status == 401
    assert "exp" in result.reason
    assert webpush_peer.received == [] and len(webpush_peer.refused) == 1


async def test_the_service_refuses_another_servers_key(
    vapid_pem: str, message: PushMessage, webpush_peer: WebPushPeer
) -> None:
    """A subscription made with one applicationServerKey refuses requests signed by
    another key: 403, Rejected."""
    subscription = webpush_peer.subscribe(application_server_key=vapid_public_key(vapid_pem))
    async with sender(generate_vapid_key()) as push:
        result = await push.send(message, subscription.target)
    assert isinstance(result, Rejected) and result.status == 403


async def test_a_message_too_large_for_the_service_is_rejected(
    vapid_pem: str, message: PushMessage, webpush_peer: WebPushPeer
) -> None:
    """A body over 4096 bytes is refused with 413 → Rejected (keep the registration)."""
    subscription = webpush_peer.subscribe()
    huge = dataclasses.replace(message, body="å" * 2500)
    async with sender(vapid_pem) as push:
        result = await push.send(huge, subscription.target)
    assert isinstance(result, Rejected) and result.status == 413


@pytest.mark.parametrize("encrypt_threads", [0, 3], ids=["in-the-loop", "on-threads"])
async def test_many_messages_share_the_pooled_client(
    vapid_pem: str, message: PushMessage, webpush_peer: WebPushPeer, encrypt_threads: int
) -> None:
    """200 concurrent sends to 20 subscriptions all arrive decrypted, each to its own
    subscription, over at most `max_connections` connections — encrypted in the loop or on
    worker threads, with one VAPID token signed for all."""
    subscriptions = [webpush_peer.subscribe() for _ in range(20)]
    options = {"max_connections": 8, "encrypt_threads": encrypt_threads}
    async with asyncio.timeout(TIMEOUT), sender(vapid_pem, **options) as push:
        results = await asyncio.gather(
            *(
                push.send(dataclasses.replace(message, seq=index), subscriptions[index % 20].target)
                for index in range(200)
            )
        )
    assert results == [Delivered(201)] * 200
    for number, subscription in enumerate(subscriptions):
        seqs = sorted(item.payload["seq"] for item in webpush_peer.received_by(subscription))
        assert seqs == list(range(number, 200, 20))
    assert len({item.client for item in webpush_peer.received}) <= 8
    assert push.vapid.signed == 1


class ClosingService:
    """A push service at the TCP level that reads each request and closes the connection
    without an answer `drops` times, then answers 201 — a keep-alive connection closed by
    the service just as a request went out."""

    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.requests = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            )
            await reader.readexactly(length)
            self.requests += 1
            if self.requests <= self.drops:
                writer.close()
                return
            writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/push/1"

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()


async def test_a_connection_closed_by_the_service_is_tried_once_more(
    vapid_pem: str, message: PushMessage
) -> None:
    """A request whose connection the service closes unanswered is sent again at once on a
    fresh connection and delivered."""
    service = ClosingService(drops=1)
    async with service as endpoint, sender(vapid_pem, timeout=5) as push:
        result = await push.send(message, browser_subscription(endpoint).target)
    assert result == Delivered(201)
    assert service.requests == 2


async def test_a_service_that_keeps_closing_is_retried_later(
    vapid_pem: str, message: PushMessage
) -> None:
    """Only one immediate second try: a service that closes again yields Retry."""
    service = ClosingService(drops=5)
    async with service as endpoint, sender(vapid_pem, timeout=5) as push:
        result = await push.send(message, browser_subscription(endpoint).target)
    assert isinstance(result, Retry) and result.reason.startswith("ServerDisconnectedError")
    assert service.requests == 2


@pytest.mark.parametrize("endpoint", ["ftp://push.example/1", "https:///no-host"])
async def test_an_endpoint_that_is_not_an_http_url_is_rejected(
    vapid_pem: str, message: PushMessage, endpoint: str
) -> None:
    """An endpoint no HTTP request can go to is Rejected (retrying cannot help)."""
    async with sender(vapid_pem) as push:
        result = await push.send(message, browser_subscription(endpoint).target)
    assert isinstance(result, Rejected) and "endpoint" in result.reason
    assert result.detail == {"sent": False}
