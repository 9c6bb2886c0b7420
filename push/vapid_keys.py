"""VAPID keys (RFC 8292): a P-256 key pair, the private half as PEM, the public half as the
browser's `applicationServerKey` (base64url without padding of the uncompressed point).

    pem = generate_private_key_pem()
    public_key(pem)          # "BN3…" (87 characters: 65 bytes)

`VapidKeyError` says what is wrong with a key that is not a P-256 private key in PEM.
"""

from __future__ import annotations

import base64

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

PUBLIC_KEY_BYTES = 65  # 0x04 ‖ x ‖ y


class VapidKeyError(ValueError):
    """The text is not a P-256 (prime256v1) private key in PEM."""


def b64url(data: bytes) -> str:
    """base64url without padding (what Web Push uses for keys)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def generate_private_key_pem() -> str:
    """A new P-256 private key as unencrypted PKCS#8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def load_private_key(pem: str) -> ec.EllipticCurvePrivateKey:
    """The key in `pem` (PKCS#8 or SEC1 "EC PRIVATE KEY", unencrypted), or VapidKeyError."""
    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise VapidKeyError(f"not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise VapidKeyError("the VAPID key must be an elliptic-curve P-256 (prime256v1) key")
    return key


def public_key(pem: str) -> str:
    """The public key of the PEM private key: base64url (no padding) of the uncompressed
    P-256 point, as a browser's `pushManager.subscribe({applicationServerKey})` takes it."""
    point = (
        load_private_key(pem)
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return b64url(point)
