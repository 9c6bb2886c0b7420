"""The "known browser" marker, pure: proof that this browser logged in to an account before.

A successful login sets the `pdv_known` cookie (HttpOnly, long-lived, sent only to the login
path). It holds up to `MAX_MARKS` marks, newest first, so a shared staff-room computer can be
known for several accounts. A mark is `<issued unix seconds>.<tag>`, where the tag is an
HMAC-SHA256 of the lower-cased e-mail and the issue time under the server's `secret_key`:
the cookie names no account, can't be forged without the key, and a mark made for one
account proves nothing for another. The login throttle (server/core/ratelimit.py) never
refuses a login that carries a valid mark for its account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

KNOWN_BROWSER_COOKIE = "pdv_known"
MAX_MARKS = 8
_DOMAIN = b"pdv-alert known browser v1"
_TAG_BYTES = 16


def _tag(*, secret: str, account: str, issued: int) -> str:
    message = b"\x00".join((_DOMAIN, account.encode(), str(issued).encode()))
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()[:_TAG_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _parse(cookie: str) -> list[tuple[int, str]]:
    """The well-formed marks of a cookie value as (issued, tag); anything else is skipped."""
    marks = []
    for mark in cookie.split("~")[:MAX_MARKS]:
        issued, _, tag = mark.partition(".")
        if issued.isdigit() and tag:
            marks.append((int(issued), tag))
    return marks


def _fresh(issued: int, *, now: float, max_age: float) -> bool:
    return now - max_age < issued <= now + 60  # a minute of clock skew between nodes


def is_known(cookie: str, *, secret: str, account: str, now: float, max_age: float) -> bool:
    """Whether `cookie` holds an unexpired mark made for `account`."""
    return any(
        _fresh(issued, now=now, max_age=max_age)
        and hmac.compare_digest(tag, _tag(secret=secret, account=account, issued=issued))
        for issued, tag in _parse(cookie)
    )


def remember(cookie: str, *, secret: str, account: str, now: float, max_age: float) -> str:
    """The cookie value after a successful login to `account`: a new mark first, then the
    other accounts' unexpired marks (this account's older ones and the oldest dropped)."""
    issued = int(now)
    kept = [
        f"{when}.{tag}"
        for when, tag in _parse(cookie)
        if _fresh(when, now=now, max_age=max_age)
        and not hmac.compare_digest(tag, _tag(secret=secret, account=account, issued=when))
    ]
    return "~".join(
        [f"{issued}.{_tag(secret=secret, account=account, issued=issued)}", *kept][:MAX_MARKS]
    )
