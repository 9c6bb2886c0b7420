"""How a WebSocket connection ends, and what a client does next.

Before closing because of something the client sent (4001, 4003, 4005) the server sends an
`error` frame saying why; a revocation (4002) may come without one. Clients act on the close
code alone, never on the reason text. A client reconnects after every
close except the NEVER ones, with `reconnect_delay()` (jittered, 0.5 s doubling up to 15 s,
reset after each `welcome`), and warns loudly once it has been disconnected longer than
DISCONNECTED_WARNING_S. A client that stops reconnecting keeps showing why until a person acts.
"""

from __future__ import annotations

import random as _random
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum

RECONNECT_INITIAL_S = 0.5
RECONNECT_MAX_S = 15.0
DISCONNECTED_WARNING_S = 30.0


class Reconnect(StrEnum):
    """What a client does after a close."""

    BACKOFF = "backoff"  # reconnect with the jittered backoff and resume
    SLOW = "slow"  # reconnect, but at the capped backoff step (7.5–15 s)
    NEVER = "never"  # stop: a person must act (log in, enroll again, update the client)


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    ABNORMAL = 1006  # never sent: what a client sees when the connection just dropped
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    INVALID_TOKEN = 4001
    REVOKED = 4002
    PROTOCOL_ABUSE = 4003
    HELLO_TIMEOUT = 4004
    UNSUPPORTED_VERSION = 4005


@dataclass(frozen=True, slots=True)
class CloseInfo:
    code: int
    reason: str  # the close frame's reason (ASCII, well under the 123-byte limit)
    reconnect: Reconnect
    doc: str

    @property
    def should_reconnect(self) -> bool:
        return self.reconnect is not Reconnect.NEVER


def _info(code: CloseCode, reason: str, reconnect: Reconnect, doc: str) -> CloseInfo:
    return CloseInfo(code=int(code), reason=reason, reconnect=reconnect, doc=doc)


_B, _S, _N = Reconnect.BACKOFF, Reconnect.SLOW, Reconnect.NEVER

CLOSE_CODES: Mapping[int, CloseInfo] = {
    info.code: info
    for info in (
        _info(CloseCode.NORMAL, "normal", _B, "Closed normally (a client that quits sends it)."),
        _info(CloseCode.GOING_AWAY, "going away", _B, "Server shutting down; another node serves."),
        _info(CloseCode.ABNORMAL, "abnormal", _B, "Dropped without a close frame (network)."),
        _info(CloseCode.POLICY, "policy", _N, "Refused: Origin not allowed or not authorized."),
        _info(CloseCode.TOO_BIG, "too big", _B, "A frame exceeded 4096 bytes; don't resend it."),
        _info(CloseCode.INTERNAL_ERROR, "internal error", _B, "Unexpected server error."),
        _info(CloseCode.SERVICE_RESTART, "service restart", _B, "Server restarting."),
        _info(
            CloseCode.TRY_AGAIN_LATER,
            "try again later",
            _B,
            "Too slow to keep up (send buffer overflow); reconnect and resume.",
        ),
        _info(
            CloseCode.INVALID_TOKEN,
            "auth.invalid_token",
            _N,
            "The token is unknown or the session expired: log in or enroll again.",
        ),
        _info(
            CloseCode.REVOKED,
            "auth.revoked",
            _N,
            "The device or session was revoked during the connection.",
        ),
        _info(
            CloseCode.PROTOCOL_ABUSE,
            "protocol.abuse",
            _S,
            "Too many invalid frames (a client bug); reconnect slowly.",
        ),
        _info(
            CloseCode.HELLO_TIMEOUT,
            "protocol.hello_timeout",
            _B,
            "No `hello` within the hello timeout after connecting.",
        ),
        _info(
            CloseCode.UNSUPPORTED_VERSION,
            "protocol.unsupported_version",
            _N,
            "The server does not speak the client's protocol version: update the client.",
        ),
    )
}


def close_info(code: int) -> CloseInfo:
    """What `code` means; an unknown code is treated as a dropped connection (reconnect)."""
    info = CLOSE_CODES.get(code)
    if info is None:
        return CloseInfo(code=code, reason="", reconnect=_B, doc="Unknown close code.")
    return info


def reconnect_delay(attempt: int, random: float | None = None) -> float:
    """Seconds to wait before reconnect number `attempt` (0 = the first after a drop).

    Equal jitter: uniformly within [base/2, base], base = 0.5 s doubling, capped at 15 s.
    `random` is uniform in [0, 1): by default a fresh `random.random()` (tests pass fixed
    values), as protocol.js's `Math.random()` default.
    """
    base = min(RECONNECT_MAX_S, RECONNECT_INITIAL_S * (1 << min(max(attempt, 0), 16)))
    return _equal_jitter(base, random)


def delay_after_close(code: int, attempt: int, random: float | None = None) -> float | None:
    """Seconds to wait before reconnecting after a close with `code`; None: don't."""
    action = close_info(code).reconnect
    if action is Reconnect.NEVER:
        return None
    if action is Reconnect.SLOW:
        return _equal_jitter(RECONNECT_MAX_S, random)
    return reconnect_delay(attempt, random)


def _equal_jitter(base: float, random: float | None) -> float:
    """Uniformly within [base/2, base]; `random` in [0, 1), a fresh one when None."""
    return base * (0.5 + (_random.random() if random is None else random) / 2)
