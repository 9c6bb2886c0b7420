"""VAPID keys and tokens (push/vapid.py): the public key browsers subscribe with, the JWT's
claims and signature, and the per-origin cache that renews a token before it expires."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from push.vapid import (
    MAX_CACHED_ORIGINS,
    RENEW_BEFORE_SECONDS,
    TOKEN_LIFETIME_SECONDS,
    VapidKeyError,
    VapidTokens,
    generate_vapid_key,
    load_vapid_key,
    vapid_public_key,
)
from tests.peers.webpush import Refusal, b64url_decode, verify_jwt
from tests.push.conftest import SUBJECT

NOW = 1_800_000_000.0
ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc:def"


def public_key_object(b64: str) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(b64))


def test_public_key_is_the_unpadded_base64url_uncompressed_point(vapid_pem: str) -> None:
    """vapid_public_key() is base64url without padding of 0x04 || x || y of the PEM's key."""
    public = vapid_public_key(vapid_pem)
    raw = base64.urlsafe_b64decode(public + "=")
    expected = (
        load_vapid_key(vapid_pem)
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    assert "=" not in public and "+" not in public and "/" not in public
    assert len(public) == 87 and len(raw) == 65 and raw[0] == 4
    assert raw == expected


def test_generated_keys_are_pkcs8_pem_and_distinct() -> None:
    """generate_vapid_key() gives PKCS#8 PEM text of a new P-256 key each time."""
    first, second = generate_vapid_key(), generate_vapid_key()
    assert first.startswith("-----BEGIN PRIVATE KEY-----")
    assert vapid_public_key(first) != vapid_public_key(second)


def test_a_sec1_pem_key_is_accepted() -> None:
    """An "EC PRIVATE KEY" PEM (what `openssl ecparam -genkey` writes) loads too."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    assert pem.startswith("-----BEGIN EC PRIVATE KEY-----")
    assert base64.urlsafe_b64decode(vapid_public_key(pem) + "=")[1:33] == (
        key.public_key().public_numbers().x.to_bytes(32, "big")
    )


@pytest.mark.parametrize(
    "pem",
    [
        "",
        "not a key",
        ec.generate_private_key(ec.SECP384R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode(),
    ],
    ids=["empty", "garbage", "p384"],
)
def test_keys_that_are_not_p256_pem_are_refused(pem: str) -> None:
    """Anything but a P-256 private key in PEM raises VapidKeyError."""
    with pytest.raises(VapidKeyError):
        vapid_public_key(pem)


@pytest.mark.parametrize("subject", ["", "it@skola.example", "mailto:nobody", "http://x.example"])
def test_a_subject_that_is_not_mailto_or_https_is_refused(vapid_pem: str, subject: str) -> None:
    """The contact must be a mailto: address or an https: URL."""
    with pytest.raises(ValueError, match="subject"):
        VapidTokens(vapid_pem, subject=subject)


def test_the_token_names_the_origin_expires_within_a_day_and_verifies(vapid_pem: str) -> None:
    """aud is the endpoint's scheme://host[:port] (no path), exp now + 12 h, sub the contact,
    and the ES256 signature verifies with the k= key."""
    tokens = VapidTokens(vapid_pem, subject=SUBJECT)
    header = tokens.authorization("HTTPS://Push.Example:8443/wpush/v2/xyz", now=NOW)
    scheme, _, params = header.partition(" ")
    t, k = (part.split("=", 1)[1] for part in params.split(", "))
    assert scheme == "vapid" and k == vapid_public_key(vapid_pem)
    claims = verify_jwt(t, public_key_object(k))
    assert claims == {
        "aud": "https://push.example:8443",
        "exp": int(NOW) + TOKEN_LIFETIME_SECONDS,
        "sub": SUBJECT,
    }
    assert claims["exp"] - NOW <= 24 * 3600


def test_a_token_signed_by_another_key_does_not_verify(vapid_pem: str) -> None:
    """The signature check can fail: another key's k refuses the token."""
    token = VapidTokens(vapid_pem, subject=SUBJECT).token(ENDPOINT, now=NOW).jwt
    with pytest.raises(Refusal, match="signature"):
        verify_jwt(token, public_key_object(vapid_public_key(generate_vapid_key())))


def test_one_token_per_origin_is_reused(vapid_pem: str) -> None:
    """Two endpoints of one push service share a token; another service gets its own."""
    tokens = VapidTokens(vapid_pem, subject=SUBJECT)
    first = tokens.token("https://fcm.googleapis.com/fcm/send/a", now=NOW)
    second = tokens.token("https://fcm.googleapis.com/fcm/send/b", now=NOW + 600)
    other = tokens.token("https://updates.push.services.mozilla.com/wpush/v2/c", now=NOW + 600)
    assert second == first
    assert other != first
    assert tokens.signed == 2


def test_a_token_is_renewed_before_it_expires(vapid_pem: str) -> None:
    """Kept while more than RENEW_BEFORE_SECONDS are left, then replaced by one valid a
    full lifetime from then — never handed out within the last margin of its life."""
    tokens = VapidTokens(vapid_pem, subject=SUBJECT)
    first = tokens.token(ENDPOINT, now=NOW)
    renew_at = first.expires - RENEW_BEFORE_SECONDS
    assert tokens.token(ENDPOINT, now=renew_at - 1) == first
    renewed = tokens.token(ENDPOINT, now=renew_at)
    assert renewed != first
    assert renewed.expires == int(renew_at) + TOKEN_LIFETIME_SECONDS
    assert tokens.signed == 2


def test_the_cache_is_bounded(vapid_pem: str) -> None:
    """Past MAX_CACHED_ORIGINS origins the longest-held one is dropped (and signed again
    when needed); the newest stay cached."""
    tokens = VapidTokens(vapid_pem, subject=SUBJECT)
    for index in range(MAX_CACHED_ORIGINS + 1):
        tokens.token(f"https://wns2-{index}.notify.windows.com/w/?token=x", now=NOW)
    signed = tokens.signed
    tokens.token(f"https://wns2-{MAX_CACHED_ORIGINS}.notify.windows.com/w/", now=NOW)
    assert tokens.signed == signed
    tokens.token("https://wns2-0.notify.windows.com/w/", now=NOW)
    assert tokens.signed == signed + 1


@pytest.mark.parametrize(("lifetime", "renew_before"), [(24 * 3600 + 1, 60), (600, 600)])
def test_lifetimes_over_a_day_or_without_a_live_period_are_refused(
    vapid_pem: str, lifetime: int, renew_before: int
) -> None:
    """A token may not live over 24 h (RFC 8292) and must outlive its renewal margin."""
    with pytest.raises(ValueError):
        VapidTokens(vapid_pem, subject=SUBJECT, lifetime=lifetime, renew_before=renew_before)
