"""Validating push registrations: subscriptions, APNs tokens, origins and device kinds."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.core import push_registrations as core
from server.settings import PUBLIC_PUSH_SERVICES

PUBLIC = core.parse_origin_rules(PUBLIC_PUSH_SERVICES)
LOCAL = core.parse_origin_rules(["http://127.0.0.1:9999"])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def browser_key() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


P256DH = b64url(browser_key())
AUTH = b64url(b"0123456789abcdef")
FCM = "https://fcm.googleapis.com/fcm/send/abc:def"


def subscribe(endpoint: str = FCM, p256dh: str = P256DH, auth: str = AUTH, **kw: object) -> object:
    options: dict[str, object] = {"allowed": PUBLIC, "production": False}
    options.update(kw)
    return core.webpush(endpoint=endpoint, p256dh=p256dh, auth=auth, **options)  # type: ignore[arg-type]


def test_a_browser_subscription_is_accepted_and_normalized() -> None:
    """A real P-256 key and 16-byte secret at FCM pass; padding is dropped."""
    registration = subscribe(p256dh=P256DH + "=", auth=AUTH + "==")
    assert registration == core.Registration(type="webpush", endpoint=FCM, p256dh=P256DH, auth=AUTH)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://updates.push.services.mozilla.com/wpush/v2/gAAA",
        "https://web.push.apple.com/QGuQ",
        "https://db5p.notify.windows.com/w/?token=BQYAAA",
        "https://fcm.googleapis.com:443/fcm/send/x",
    ],
)
def test_the_public_push_services_are_allowed(endpoint: str) -> None:
    """Mozilla, Apple, a WNS subdomain (the wildcard) and an explicit default port pass."""
    assert subscribe(endpoint=endpoint).endpoint == endpoint  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("endpoint", "code"),
    [
        ("http://fcm.googleapis.com/fcm/send/x", "push.endpoint_not_allowed"),
        ("https://evil.example/fcm/send/x", "push.endpoint_not_allowed"),
        ("https://fcm.googleapis.com.evil.example/x", "push.endpoint_not_allowed"),
        ("https://notify.windows.com/w", "push.endpoint_not_allowed"),
        ("https://fcm.googleapis.com:8443/x", "push.endpoint_not_allowed"),
        ("http://127.0.0.1:9999/push", "push.endpoint_not_allowed"),
        ("ftp://fcm.googleapis.com/x", "push.invalid_subscription"),
        ("https://user:pw@fcm.googleapis.com/x", "push.invalid_subscription"),
        ("https://fcm.googleapis.com/x#frag", "push.invalid_subscription"),
        ("https://fcm.googleapis.com/a b", "push.invalid_subscription"),
        ("https://fcm.googleapis.com/" + "x" * core.ENDPOINT_MAX, "push.invalid_subscription"),
        ("not a url", "push.invalid_subscription"),
    ],
)
def test_bad_endpoints_are_refused_with_their_code(endpoint: str, code: str) -> None:
    """Non-https, other hosts, look-alike hosts, the wildcard's bare host, other ports, a
    local service not listed, and malformed or overlong URLs are refused."""
    with pytest.raises(core.PushRegistrationError) as raised:
        subscribe(endpoint=endpoint)
    assert raised.value.code == code


def test_a_listed_local_push_service_counts_only_outside_production() -> None:
    """http://127.0.0.1:PORT is accepted when listed in development, never in production."""
    endpoint = "http://127.0.0.1:9999/push/1"
    assert subscribe(endpoint=endpoint, allowed=LOCAL).endpoint == endpoint  # type: ignore[attr-defined]
    with pytest.raises(core.EndpointNotAllowed):
        subscribe(endpoint=endpoint, allowed=LOCAL, production=True)


def off_curve() -> str:
    point = bytearray(browser_key())
    point[-1] ^= 1
    return b64url(bytes(point))


@pytest.mark.parametrize(
    ("p256dh", "auth"),
    [
        (P256DH[:-4], AUTH),  # too short
        (b64url(b"\x02" + browser_key()[1:33]), AUTH),  # compressed form
        (b64url(b"\x05" + browser_key()[1:]), AUTH),  # wrong prefix
        (off_curve(), AUTH),  # not on the curve
        (P256DH.replace(P256DH[5], "+"), AUTH),  # not base64url
        (P256DH, b64url(b"short")),
        (P256DH, AUTH + "!"),
        (P256DH, "A"),  # impossible base64 length
        (P256DH, ""),
    ],
    ids=["short", "compressed", "prefix", "off-curve", "plus", "auth-short", "auth-bang",
         "auth-length", "auth-empty"],
)  # fmt: skip
def test_bad_keys_are_invalid_subscriptions(p256dh: str, auth: str) -> None:
    """p256dh must be a 65-byte uncompressed point on P-256, auth 16 bytes, both base64url."""
    with pytest.raises(core.InvalidSubscription) as raised:
        subscribe(p256dh=p256dh, auth=auth)
    assert raised.value.code == "push.invalid_subscription"


def test_an_apns_token_is_lower_cased() -> None:
    """A 64-character hex token passes and is stored lower-case."""
    token = "AB" * 32
    assert core.apns(token=token, environment="sandbox") == core.Registration(
        type="apns", token="ab" * 32, environment="sandbox"
    )
    assert core.apns(token="0f" * 100, environment="production").token == "0f" * 100


@pytest.mark.parametrize(
    ("token", "environment"),
    [
        ("ab" * 31, "sandbox"),  # 62 characters
        ("ab" * 100 + "ab", "sandbox"),  # 202
        ("ab" * 32 + "a", "sandbox"),  # odd
        ("zz" * 32, "sandbox"),  # not hex
        ("ab" * 32, "development"),
    ],
)
def test_bad_apns_tokens_are_refused(token: str, environment: str) -> None:
    """Length, parity, hex digits and the environment are all checked."""
    with pytest.raises(core.InvalidToken) as raised:
        core.apns(token=token, environment=environment)
    assert raised.value.code == "push.invalid_token"


@pytest.mark.parametrize(
    ("kind", "kind_type", "ok"),
    [
        ("web", "webpush", True),
        ("ios", "apns", True),
        ("web", "apns", False),
        ("ios", "webpush", False),
        ("desktop", "webpush", False),
        ("integration", "apns", False),
    ],
)
def test_the_type_must_fit_the_device_kind(kind: str, kind_type: str, ok: bool) -> None:
    """web → webpush, ios → apns; other kinds register nothing."""
    if ok:
        core.check_type(device_kind=kind, registration_type=kind_type)
        return
    with pytest.raises(core.WrongType) as raised:
        core.check_type(device_kind=kind, registration_type=kind_type)
    assert raised.value.code == "push.wrong_type"


@pytest.mark.parametrize(
    "entry",
    [
        "http://push.example.com",
        "http://127.0.0.1",
        "https://*",
        "https://*.com",
        "https://a.*.example.com",
        "https://push.example.com/path",
        "push.example.com",
        "https://user@push.example.com",
    ],
)
def test_bad_allowed_origin_entries_are_refused(entry: str) -> None:
    """Only https origins (with an optional leading wildcard label) and loopback http
    origins with a port are allowed-origin entries."""
    with pytest.raises(ValueError, match="push origin"):
        core.parse_origin_rule(entry)


def test_on_p256_accepts_generated_points_only() -> None:
    """Points from a real key are on the curve; a coordinate ≥ p is not."""
    assert core.on_p256(browser_key())
    assert not core.on_p256(b"\x04" + b"\xff" * 64)
