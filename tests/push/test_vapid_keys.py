"""VAPID key helpers: generating, loading and the browser's applicationServerKey."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from push.vapid_keys import VapidKeyError, generate_private_key_pem, load_private_key, public_key


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_public_key_is_the_uncompressed_point_of_the_private_key() -> None:
    """public_key() is base64url without padding of 0x04‖x‖y of the key's public half."""
    pem = generate_private_key_pem()
    text = public_key(pem)
    assert "=" not in text and "+" not in text and "/" not in text
    point = _unb64url(text)
    assert len(point) == 65 and point[0] == 0x04
    numbers = load_private_key(pem).public_key().public_numbers()
    assert point[1:] == numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")


def test_a_sec1_pem_is_accepted_like_pkcs8() -> None:
    """An "EC PRIVATE KEY" PEM (what openssl ecparam writes) loads to the same key."""
    key = ec.generate_private_key(ec.SECP256R1())
    sec1 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    assert "EC PRIVATE KEY" in sec1
    assert load_private_key(sec1).private_numbers() == key.private_numbers()


@pytest.mark.parametrize(
    "make",
    [
        lambda: "not a key",
        lambda: (
            ec.generate_private_key(ec.SECP384R1())
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode()
        ),
        lambda: (
            rsa.generate_private_key(public_exponent=65537, key_size=1024)
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode()
        ),
    ],
    ids=["garbage", "p384", "rsa"],
)
def test_anything_but_a_p256_private_key_is_refused(make: object) -> None:
    """Garbage, another curve and RSA are a VapidKeyError, not a crash later."""
    with pytest.raises(VapidKeyError):
        load_private_key(make())  # type: ignore[operator]
