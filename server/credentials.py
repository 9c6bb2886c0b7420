"""Secrets the server hands out and checks: passwords (argon2id) and bearer tokens.

Tokens are 256-bit random strings with a readable prefix naming what they are
(`pdvs_` login session, `pdvd_` device, `pdvk_` API key). They are stored only as SHA-256
hashes: with that much entropy a fast hash is enough, and a database leak gives no tokens.
Enrollment codes are short enough to type, so they expire and are single- or N-use.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

SESSION_COOKIE = "pdv_session"  # the login session's HttpOnly cookie (HTTP and WebSocket)
SESSION_PREFIX = "pdvs_"
DEVICE_PREFIX = "pdvd_"
API_KEY_PREFIX = "pdvk_"
ENROLLMENT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud, typed on phones

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# A fixed hash verified when the account does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash("pdv-alert: no such account")


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_enrollment_code() -> str:
    """A 12-character code in groups of four, e.g. `K7QM-3XWD-9PRT` (60 bits)."""
    raw = "".join(secrets.choice(ENROLLMENT_ALPHABET) for _ in range(12))
    return "-".join(raw[i : i + 4] for i in range(0, 12, 4))


def normalize_enrollment_code(code: str) -> str:
    """Accept codes typed in lower case, with spaces or without dashes."""
    raw = "".join(ch for ch in code.upper() if ch.isalnum())
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; takes the same time when there is no hash to check."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
