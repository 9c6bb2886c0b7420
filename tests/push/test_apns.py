"""push/apns.py: the pure request builder and result mapping, the provider token, and
`APNsSender` against the real HTTP/2 + TLS stand-in in tests/peers/apns.py."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hpack import Decoder, NeverIndexedHeaderTuple

from push.apns import (
    CRITICAL_SOUND,
    MAX_CONNECTIONS,
    STREAMS_PER_CONNECTION,
    TOKEN_RENEW_SECONDS,
    APNsSender,
    ProviderToken,
    _StaticEncoder,
    apns_result,
    retry_after_seconds,
    to_apns_request,
)
from push.message import (
    ApnsRegistration,
    Delivered,
    Gone,
    PushMessage,
    PushResult,
    Rejected,
    Retry,
    WebPushSubscription,
)
from tests.peers.apns import Answer, APNsStandIn, ProviderKey, verify_provider_token
from tests.push import samples

TOPIC = "se.pdvalert.test"
TOKEN = "ab" * 32
OTHER_TOKEN = "cd" * 32
NOW = datetime(2025, 3, 4, 8, 15, tzinfo=UTC)
WAIT = 10.0  # seconds any single wait in these tests may take before it is a failure
ROOT = Path(__file__).resolve().parents[2]
ALERT_KEYS = {"alert_id", "seq", "event", "kind", "mode", "state", "url"}


def message(**changes: object) -> PushMessage:
    return samples.message(
        **{
            "title": "PÅGÅENDE DÖDLIGT VÅLD",
            "body": "Lås in dig. Håll dig tyst.",
            "sites": ("Skolan",),
            "url": "https://pdv.example/alerts/42",
            **changes,
        }
    )


def sandbox(token: str = TOKEN) -> ApnsRegistration:
    return ApnsRegistration(token=token, environment="sandbox")


@pytest.fixture
def key() -> ProviderKey:
    return ProviderKey.generate()


@pytest.fixture
async def apns(tmp_path: Path, key: ProviderKey) -> AsyncIterator[APNsStandIn]:
    async with APNsStandIn(topic=TOPIC, directory=tmp_path) as stand_in:
        stand_in.trust(key)
        yield stand_in


def sender_for(apns: APNsStandIn, key: ProviderKey, **options: object) -> APNsSender:
    return APNsSender(
        key=key.pem,
        key_id=key.key_id,
        team_id=key.team_id,
        topic=TOPIC,
        url=apns.url,
        ca_file=apns.ca_file,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def sender(apns: APNsStandIn, key: ProviderKey) -> AsyncIterator[APNsSender]:
    async with sender_for(apns, key) as opened:
        yield opened


# -- the pure builder -----------------------------------------------------------------------


def test_an_actual_pdv_alert_is_a_critical_alert_push() -> None:
    """An actual PDV alert: alert push, priority 10, collapse id per alert, expiration, and a
    critical interruption with the critical sound dictionary; the alert's fields ride along."""
    request = to_apns_request(message(), sandbox(), topic=TOPIC, now=NOW, ttl_seconds=600)
    assert request.path == f"/3/device/{TOKEN}"
    assert request.environment == "sandbox"
    assert request.headers == {
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-topic": TOPIC,
        "apns-expiration": str(int(NOW.timestamp()) + 600),
        "apns-collapse-id": "alert-42",
    }
    assert request.payload["aps"] == {
        "alert": {"title": "PÅGÅENDE DÖDLIGT VÅLD", "body": "Lås in dig. Håll dig tyst."},
        "interruption-level": "critical",
        "sound": {"critical": 1, "name": "default", "volume": 1.0},
    }
    assert set(request.payload) == {"aps", *ALERT_KEYS}
    assert request.payload["alert_id"] == 42 and request.payload["seq"] == 7
    assert request.payload["url"] == "https://pdv.example/alerts/42"


@pytest.mark.parametrize(
    "changes",
    [
        {"mode": "drill"},
        {"kind": "evacuate"},
        {"kind": "secure"},
        {"kind": "custom"},
        {"mode": "drill", "kind": "evacuate"},
    ],
)
def test_drills_and_other_kinds_are_time_sensitive(changes: dict[str, str]) -> None:
    """A drill of any kind and every actual kind but PDV break through Focus
    (`time-sensitive`) with the default sound, never as critical alerts."""
    request = to_apns_request(message(**changes), sandbox(), topic=TOPIC, now=NOW)
    assert request.headers["apns-push-type"] == "alert"
    assert request.headers["apns-priority"] == "10"
    assert request.payload["aps"]["interruption-level"] == "time-sensitive"
    assert request.payload["aps"]["sound"] == "default"


def test_a_test_alert_is_a_background_push() -> None:
    """A `test` alert wakes the app silently: background push type, priority 5,
    `content-available` and no alert or sound."""
    request = to_apns_request(message(mode="test"), sandbox(), topic=TOPIC, now=NOW)
    assert request.headers["apns-push-type"] == "background"
    assert request.headers["apns-priority"] == "5"
    assert request.payload["aps"] == {"content-available": 1}
    assert ALERT_KEYS <= set(request.payload)


def test_the_builder_refuses_a_token_that_is_not_hex() -> None:
    """A device token goes into the path, so anything but hex digits is refused."""
    with pytest.raises(ValueError, match="hex"):
        to_apns_request(message(), sandbox("ab/../x" + "0" * 60), topic=TOPIC, now=NOW)


def test_header_blocks_are_hpack_without_the_dynamic_table() -> None:
    """Every header comes back from a standard HPACK decoder as sent, the per-request ones
    flagged never-indexed, nothing enters the header table, and a table size the peer sets
    is acknowledged at the start of the next block."""
    encoder = _StaticEncoder()
    decoder = Decoder()
    headers = [
        (":method", "POST"),
        (":scheme", "https"),
        NeverIndexedHeaderTuple(":path", "/3/device/" + "ab" * 32),
        ("host", "127.0.0.1"),
        NeverIndexedHeaderTuple("apns-id", "6a1c4f0e-0000-4000-8000-000000000001"),
        ("apns-topic", TOPIC),
        ("authorization", "bearer " + "x" * 200),
    ]
    for _ in range(2):  # the second block from the remembered fields
        decoded = decoder.decode(encoder.encode(headers), raw=False)
        assert decoded == [(name, value) for name, value in headers]
        assert [type(h) is NeverIndexedHeaderTuple for h in decoded] == [
            type(h) is NeverIndexedHeaderTuple for h in headers
        ]
        assert len(decoder.header_table.dynamic_entries) == 0
    encoder.header_table_size = 0
    block = encoder.encode(headers[:1])
    assert block[0] & 0xE0 == 0x20  # a dynamic table size update first (RFC 7541 6.3)
    assert decoder.decode(block) == [(":method", "POST")]


def test_the_body_is_encoded_once_per_message() -> None:
    """Requests for one message share its encoded payload; another message has its own."""
    first = to_apns_request(message(), sandbox(), topic=TOPIC, now=NOW)
    again = to_apns_request(message(), sandbox("cd" * 32), topic=TOPIC, now=NOW)
    other = to_apns_request(message(seq=8), sandbox(), topic=TOPIC, now=NOW)
    assert again.body is first.body
    assert json.loads(other.body)["seq"] == 8 and json.loads(first.body)["seq"] == 7


def test_the_critical_sound_is_not_shared_between_requests() -> None:
    """Each request gets its own sound dictionary: changing one changes no other."""
    request = to_apns_request(message(), sandbox(), topic=TOPIC, now=NOW)
    request.payload["aps"]["sound"]["volume"] = 0.0
    assert CRITICAL_SOUND["volume"] == 1.0


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (200, "", Delivered(status=200)),
        (410, "Unregistered", Gone(reason="Unregistered", status=410)),
        (400, "BadDeviceToken", Gone(reason="BadDeviceToken", status=400)),
        (400, "DeviceTokenNotForTopic", Rejected(reason="DeviceTokenNotForTopic", status=400)),
        (400, "BadCollapseId", Rejected(reason="BadCollapseId", status=400)),
        (403, "InvalidProviderToken", Rejected(reason="InvalidProviderToken", status=403)),
        (403, "ExpiredProviderToken", Retry(reason="ExpiredProviderToken", status=403, after=3.0)),
        (413, "PayloadTooLarge", Rejected(reason="PayloadTooLarge", status=413)),
        (429, "TooManyRequests", Retry(reason="TooManyRequests", status=429, after=3.0)),
        (500, "InternalServerError", Retry(reason="InternalServerError", status=500, after=3.0)),
        (503, "", Retry(reason="HTTP 503", status=503, after=3.0)),
    ],
)
def test_apns_answers_map_to_typed_results(status: int, reason: str, expected: PushResult) -> None:
    """Each APNs status and reason becomes delivered, gone, retry (with Retry-After) or
    rejected with Apple's reason."""
    assert apns_result(status, reason, retry_after=3.0) == expected


def test_retry_after_reads_seconds_and_http_dates() -> None:
    """Retry-After in seconds or as an HTTP date gives seconds from now; garbage gives None."""
    assert retry_after_seconds("7", now=NOW) == 7.0
    later = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(later, now=NOW) == 30.0
    assert retry_after_seconds("soon", now=NOW) is None
    assert retry_after_seconds(None, now=NOW) is None


# -- the provider token ---------------------------------------------------------------------


def test_the_provider_token_is_an_es256_jwt_renewed_before_an_hour(key: ProviderKey) -> None:
    """The token carries kid, iss and iat, verifies with the key's public half, is reused
    while young and replaced once `TOKEN_RENEW_SECONDS` old (Apple refuses one past 1 h)."""
    clock = [NOW]
    token = ProviderToken(
        key=key.pem, key_id=key.key_id, team_id=key.team_id, clock=lambda: clock[0]
    )
    first = token.get_header()
    claims = verify_provider_token(first.removeprefix("bearer "), {key.key_id: key})
    assert claims == {"iss": key.team_id, "iat": int(NOW.timestamp())}
    clock[0] = NOW + timedelta(seconds=TOKEN_RENEW_SECONDS - 1)
    assert token.get_header() == first
    clock[0] = NOW + timedelta(seconds=TOKEN_RENEW_SECONDS)
    renewed = token.get_header()
    assert renewed != first
    assert TOKEN_RENEW_SECONDS < 3600
    claims = verify_provider_token(renewed.removeprefix("bearer "), {key.key_id: key})
    assert claims is not None and claims["iat"] == int(clock[0].timestamp())


def test_renewing_replaces_only_the_token_called_expired(key: ProviderKey) -> None:
    """`renew(stale)` replaces the current token when it is the stale one, and leaves a newer
    token alone (many answers about one token renew it once)."""
    token = ProviderToken(key=key.pem, key_id=key.key_id, team_id=key.team_id, clock=lambda: NOW)
    first = token.get_header()
    token.renew(first)
    second = token.get_header()
    assert second != first
    token.renew(first)
    assert token.get_header() == second


@pytest.mark.parametrize("curve", [ec.SECP384R1(), None])
def test_a_key_that_is_not_p256_is_refused(curve: ec.EllipticCurve | None) -> None:
    """Only an EC P-256 private key (Apple's .p8) is accepted; another curve or no PEM at
    all is refused at construction."""
    if curve is None:
        pem = "not a key"
    else:
        pem = (
            ec.generate_private_key(curve)
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode()
        )
    with pytest.raises(ValueError, match="APNs key"):
        APNsSender(key=pem, key_id="K", team_id="T", topic=TOPIC)


def test_the_sender_refuses_a_url_that_is_not_https(key: ProviderKey) -> None:
    """The stand-in's url must be https://host:port: APNs is HTTP/2 over TLS only."""
    with pytest.raises(ValueError, match="https"):
        APNsSender(key=key.pem, key_id="K", team_id="T", topic=TOPIC, url="http://127.0.0.1:1")


def test_the_stand_in_verifier_refuses_a_forged_token(key: ProviderKey) -> None:
    """The stand-in's token check can fail: changed claims, another signer or an unknown key
    id are refused."""
    token = ProviderToken(key=key.pem, key_id=key.key_id, team_id=key.team_id, clock=lambda: NOW)
    jwt = token.get_header().removeprefix("bearer ")
    assert verify_provider_token(jwt, {key.key_id: key}) is not None
    header, _claims, signature = jwt.split(".")
    other = ProviderToken(key=key.pem, key_id=key.key_id, team_id="OTHERTEAM1", clock=lambda: NOW)
    forged_claims = other.get_header().removeprefix("bearer ").split(".")[1]
    assert verify_provider_token(f"{header}.{forged_claims}.{signature}", {key.key_id: key}) is None
    impostor = ProviderKey.generate(key_id=key.key_id, team_id=key.team_id)
    assert verify_provider_token(jwt, {key.key_id: impostor}) is None
    assert verify_provider_token(jwt, {"SOMEKEY": key}) is None


# -- against the stand-in -------------------------------------------------------------------


async def test_an_actual_pdv_alert_reaches_the_stand_in_as_a_critical_push(
    apns: APNsStandIn, sender: APNsSender, key: ProviderKey
) -> None:
    """The wire carries the builder's path, headers and payload with a provider token the
    stand-in verified; APNs' 200 is `Delivered`."""
    result = await sender.send(message(), sandbox())
    assert result == Delivered(status=200)
    [recorded] = apns.requests
    expected = to_apns_request(message(), sandbox(), topic=TOPIC, now=datetime.now(UTC))
    assert recorded.method == "POST"
    assert recorded.path == expected.path
    for name in ("apns-push-type", "apns-priority", "apns-topic", "apns-collapse-id"):
        assert recorded.headers[name] == expected.headers[name]
    drift = int(recorded.headers["apns-expiration"]) - int(expected.headers["apns-expiration"])
    assert abs(drift) <= 5
    assert recorded.payload == expected.payload
    assert recorded.payload["aps"]["interruption-level"] == "critical"
    assert recorded.claims is not None and recorded.claims["iss"] == key.team_id


@pytest.mark.parametrize(
    ("changes", "push_type", "level"),
    [
        ({"mode": "drill"}, "alert", "time-sensitive"),
        ({"kind": "evacuate"}, "alert", "time-sensitive"),
        ({"mode": "test"}, "background", None),
    ],
)
async def test_drills_other_kinds_and_tests_reach_the_stand_in(
    apns: APNsStandIn,
    sender: APNsSender,
    changes: dict[str, str],
    push_type: str,
    level: str | None,
) -> None:
    """A drill and an actual evacuation arrive time-sensitive, a test as a background push
    with priority 5; the stand-in accepts each."""
    assert await sender.send(message(**changes), sandbox()) == Delivered(status=200)
    [recorded] = apns.requests
    assert recorded.headers["apns-push-type"] == push_type
    assert recorded.headers["apns-priority"] == ("5" if push_type == "background" else "10")
    assert recorded.payload["aps"].get("interruption-level") == level
    assert recorded.answer.status == 200


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (Answer.error(400, "BadDeviceToken"), Gone(reason="BadDeviceToken", status=400)),
        (Answer.unregistered(), Gone(reason="Unregistered", status=410)),
        (
            Answer.error(429, "TooManyRequests", retry_after="7"),
            Retry(reason="TooManyRequests", status=429, after=7.0),
        ),
        (Answer.error(429, "TooManyRequests"), Retry(reason="TooManyRequests", status=429)),
        (
            Answer.error(503, "ServiceUnavailable", retry_after="30"),
            Retry(reason="ServiceUnavailable", status=503, after=30.0),
        ),
        (Answer.error(500, "InternalServerError"), Retry(reason="InternalServerError", status=500)),
        (Answer.error(503, ""), Retry(reason="HTTP 503", status=503)),
    ],
)
async def test_stand_in_answers_map_to_results(
    apns: APNsStandIn, sender: APNsSender, answer: Answer, expected: PushResult
) -> None:
    """Gone for a dead token (410, BadDeviceToken in its own environment), Retry with
    Retry-After for 429 and 5xx — an error without a reason too."""
    apns.script(answer, token=TOKEN)
    assert await sender.send(message(), sandbox()) == expected
    assert await sender.send(message(), sandbox(OTHER_TOKEN)) == Delivered(status=200)


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (Answer.error(400, "DeviceTokenNotForTopic"), 400),
        (Answer.error(403, "InvalidProviderToken"), 403),
        (Answer.error(413, "PayloadTooLarge"), 413),
    ],
)
async def test_refusals_are_rejected_with_apples_reason(
    apns: APNsStandIn, sender: APNsSender, answer: Answer, status: int
) -> None:
    """400 (other reasons), 403 and 413 keep the registration: Rejected with Apple's reason,
    the apns-id and the environment for the operator."""
    apns.script(answer, token=TOKEN)
    result = await sender.send(message(), sandbox())
    assert isinstance(result, Rejected)
    assert (result.reason, result.status) == (answer.reason, status)
    assert result.detail == {
        "apns_id": apns.requests[0].headers["apns-id"],
        "environment": "sandbox",
    }


async def test_an_expired_provider_token_is_renewed_and_the_request_retried(
    apns: APNsStandIn, sender: APNsSender
) -> None:
    """ExpiredProviderToken once: the sender renews its token and the retried request, with
    the new token, is delivered; later requests keep the new token."""
    apns.script(Answer.error(403, "ExpiredProviderToken"), times=1)
    assert await sender.send(message(), sandbox()) == Delivered(status=200)
    first, retried = apns.requests
    assert first.answer.reason == "ExpiredProviderToken"
    assert retried.answer.status == 200
    assert retried.headers["authorization"] != first.headers["authorization"]
    assert await sender.send(message(seq=8), sandbox()) == Delivered(status=200)
    assert apns.requests[2].headers["authorization"] == retried.headers["authorization"]


async def test_a_token_still_expired_after_renewal_is_a_retry(
    apns: APNsStandIn, key: ProviderKey
) -> None:
    """A sender whose clock is two hours behind makes tokens the stand-in finds expired by
    their `iat`: one renewal and one retry, then Retry."""
    behind = sender_for(apns, key, clock=lambda: datetime.now(UTC) - timedelta(hours=2))
    async with behind:
        result = await behind.send(message(), sandbox())
    assert result == Retry(reason="ExpiredProviderToken", status=403)
    first, retried = apns.requests
    assert [first.answer.reason, retried.answer.reason] == ["ExpiredProviderToken"] * 2
    assert retried.headers["authorization"] != first.headers["authorization"]


async def test_the_stand_in_refuses_a_token_signed_by_another_key(
    apns: APNsStandIn, key: ProviderKey
) -> None:
    """A token with the trusted key id and team but signed by another key is refused with
    InvalidProviderToken (Rejected, nothing delivered)."""
    impostor = ProviderKey.generate(key_id=key.key_id, team_id=key.team_id)
    async with sender_for(apns, impostor) as forged:
        result = await forged.send(message(), sandbox())
    assert isinstance(result, Rejected)
    assert (result.reason, result.status) == ("InvalidProviderToken", 403)
    assert [request.claims for request in apns.requests] == [None]


async def test_goaway_is_a_retry_and_the_next_send_reconnects(
    apns: APNsStandIn, sender: APNsSender
) -> None:
    """GOAWAY on every attempt (the request retried once on a fresh connection) is Retry;
    the next send opens a new connection and is delivered."""
    apns.script(Answer.go_away(), token=TOKEN)
    result = await sender.send(message(), sandbox())
    assert isinstance(result, Retry) and "ConnectionClosed" in result.reason
    assert [request.connection for request in apns.requests] == [1, 2]
    apns.clear_script()
    assert await sender.send(message(), sandbox()) == Delivered(status=200)
    assert apns.requests[-1].connection == 3


async def test_one_goaway_is_survived_on_a_fresh_connection(
    apns: APNsStandIn, sender: APNsSender
) -> None:
    """A single GOAWAY (Apple closing a connection) costs no delivery: the same send goes
    out again on a new connection."""
    apns.script(Answer.go_away(), times=1)
    assert await sender.send(message(), sandbox()) == Delivered(status=200)
    assert [request.connection for request in apns.requests] == [1, 2]


async def test_no_answer_is_a_retry_and_a_late_answer_keeps_the_connection(
    apns: APNsStandIn, key: ProviderKey
) -> None:
    """No answer within the timeout is Retry("timeout"); when the answer comes after all,
    it is dropped and the connection keeps serving."""
    apns.script(Answer.no_answer(), token=TOKEN, times=1)
    async with sender_for(apns, key, timeout=0.2) as impatient:
        assert await impatient.send(message(), sandbox()) == Retry(reason="timeout")
        assert apns.release() == 1
        assert await impatient.send(message(), sandbox()) == Delivered(status=200)
    assert [request.connection for request in apns.requests] == [1, 1]


async def test_an_unreachable_service_is_a_retry(tmp_path: Path, key: ProviderKey) -> None:
    """Nothing listening: Retry with the cause, not an exception."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with APNsSender(
        key=key.pem,
        key_id=key.key_id,
        team_id=key.team_id,
        topic=TOPIC,
        url=f"https://127.0.0.1:{port}",
    ) as sender:
        result = await sender.send(message(), sandbox())
    assert isinstance(result, Retry) and "ConnectionRefusedError" in result.reason


async def test_a_server_certificate_not_signed_by_the_ca_is_refused(
    apns: APNsStandIn, key: ProviderKey, tmp_path: Path
) -> None:
    """TLS is verified: trusting another CA, the sender does not talk to the stand-in."""
    other = APNsStandIn(topic=TOPIC, directory=tmp_path / "other")
    async with APNsSender(
        key=key.pem,
        key_id=key.key_id,
        team_id=key.team_id,
        topic=TOPIC,
        url=apns.url,
        ca_file=other.ca_file,
    ) as sender:
        result = await sender.send(message(), sandbox())
    assert isinstance(result, Retry) and "CERTIFICATE_VERIFY_FAILED" in result.reason
    assert apns.requests == []


async def test_a_malformed_token_is_gone_without_a_request(
    apns: APNsStandIn, sender: APNsSender
) -> None:
    """A token that is not hex can never be delivered: Gone, and nothing is sent."""
    assert await sender.send(message(), sandbox("not-hex")) == Gone(
        reason="BadDeviceToken", status=400
    )
    assert apns.requests == []


async def test_the_sender_only_sends_to_apns_registrations(sender: APNsSender) -> None:
    """A Web Push subscription handed to the APNs sender is a programming error."""
    with pytest.raises(TypeError):
        await sender.send(message(), WebPushSubscription("https://push.example/x", "k", "a"))


async def test_each_environment_has_its_own_connection(
    apns: APNsStandIn, sender: APNsSender
) -> None:
    """Sandbox and production are two clients: with `url` both reach the stand-in, each on
    its own connection."""
    production = ApnsRegistration(token=OTHER_TOKEN, environment="production")
    assert await sender.send(message(), sandbox()) == Delivered(status=200)
    assert await sender.send(message(), production) == Delivered(status=200)
    assert await sender.send(message(seq=8), sandbox()) == Delivered(status=200)
    assert [request.connection for request in apns.requests] == [1, 2, 1]


async def test_a_burst_beyond_the_flow_control_window_is_delivered(
    apns: APNsStandIn, sender: APNsSender
) -> None:
    """A hundred 2 KB notifications at once on one open connection (three times HTTP/2's
    64 KiB window): each waits for window, none fails, each result is its own."""
    assert await sender.send(message(), sandbox()) == Delivered(status=200)
    apns.script(Answer.unregistered(), token=OTHER_TOKEN)
    tokens = [TOKEN if index % 2 else OTHER_TOKEN for index in range(STREAMS_PER_CONNECTION)]
    long = message(body="Lås in dig. " * 170)
    async with asyncio.timeout(WAIT):
        results = await asyncio.gather(
            *(
                sender.send(replace(long, seq=index), sandbox(token))
                for index, token in enumerate(tokens)
            )
        )
    for token, result in zip(tokens, results, strict=True):
        assert result == (Delivered(status=200) if token == TOKEN else Gone("Unregistered", 410))
    assert sum(len(str(request.payload).encode()) for request in apns.requests) > 3 * 65535
    assert {request.connection for request in apns.requests} == {1}
    assert len({request.headers["apns-id"] for request in apns.requests}) == len(tokens) + 1


async def test_more_requests_than_a_connection_carries_open_more_connections(
    apns: APNsStandIn, sender: APNsSender
) -> None:
    """Five hundred sends at once spread over several connections, each at most
    `STREAMS_PER_CONNECTION` at a time; all are delivered."""
    assert await sender.send(message(), sandbox()) == Delivered(status=200)
    async with asyncio.timeout(WAIT):
        results = await asyncio.gather(
            *(sender.send(message(seq=index), sandbox(f"{index:064x}")) for index in range(500))
        )
    assert results == [Delivered(status=200)] * 500
    assert 1 < apns.connections <= MAX_CONNECTIONS


async def test_closing_the_sender_closes_its_connections(
    apns: APNsStandIn, key: ProviderKey
) -> None:
    """`aclose()` closes every connection; a send afterwards is Retry("sender closed")."""
    sender = sender_for(apns, key)
    await sender.send(message(), sandbox())
    await sender.send(message(), ApnsRegistration(token=TOKEN, environment="production"))
    assert apns.open_connections == 2
    await sender.aclose()
    async with asyncio.timeout(WAIT):
        await apns.wait_until(lambda: apns.open_connections == 0)
    assert await sender.send(message(), sandbox()) == Retry(reason="sender closed")


async def test_the_stand_in_runs_as_a_program_for_the_demo(tmp_path: Path) -> None:
    """`python -m tests.peers.apns` prints the settings as one JSON line, a sender built from
    them is delivered to, and SIGTERM stops it cleanly."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.peers.apns",
        "--directory",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(WAIT):
            settings = json.loads(await process.stdout.readline())
        key_pem = await asyncio.to_thread(Path(settings["apns_key_file"]).read_text)
        async with APNsSender(
            key=key_pem,
            key_id=settings["apns_key_id"],
            team_id=settings["apns_team_id"],
            topic=settings["apns_topic"],
            url=settings["apns_url"],
            ca_file=settings["apns_ca_file"],
        ) as sender:
            assert await sender.send(message(), sandbox()) == Delivered(status=200)
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(WAIT):
            _, stderr = await process.communicate()
    assert process.returncode == 0
    assert f"POST /3/device/{TOKEN} → 200" in stderr.decode()
