"""What nodes tell each other over the bus: small frozen dataclasses, one encoding.

A signal only wakes ("organization 3 has an event with seq 41", "device 9 is revoked"); the
receiving node reads what changed from the database. On Redis a signal travels as one JSON
object `{"type": …, "node": <sender>, …fields}`; the memory bus passes the objects as they are.
`decode` refuses anything it does not know (`SignalError`); the bus logs and ignores it.

    event     EventSignal(org, seq)           an alert event was committed
    revoke    RevokeSignal(device_id)         close the device's connections (4002)
    signout   SignOutSignal(person_id)        close the person's connections
    logout    LogoutSignal(session)           close one login session's connections
    rights    RightsSignal(person_id)         the person's roles changed: make them reconnect
    rebind    RebindSignal(device_id)         the device's zone or person changed: reconnect it
    rollcall  RollCallSignal(org, alerts)     receipts of these alerts were written
    presence  PresenceSignal(org, site)       devices of the site connected or went away
              Reconnected()                   local only: the bus (re)connected, catch up
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any, ClassVar


class SignalError(ValueError):
    """Bytes from the bus that are not a signal this version knows."""


@dataclass(frozen=True)
class EventSignal:
    type: ClassVar[str] = "event"
    org: int
    seq: int


@dataclass(frozen=True)
class RevokeSignal:
    type: ClassVar[str] = "revoke"
    device_id: int


@dataclass(frozen=True)
class SignOutSignal:
    type: ClassVar[str] = "signout"
    person_id: int


@dataclass(frozen=True)
class LogoutSignal:
    type: ClassVar[str] = "logout"
    session: str


@dataclass(frozen=True)
class RightsSignal:
    type: ClassVar[str] = "rights"
    person_id: int


@dataclass(frozen=True)
class RebindSignal:
    type: ClassVar[str] = "rebind"
    device_id: int


@dataclass(frozen=True)
class RollCallSignal:
    type: ClassVar[str] = "rollcall"
    org: int
    alerts: tuple[int, ...]


@dataclass(frozen=True)
class PresenceSignal:
    type: ClassVar[str] = "presence"
    org: int
    site: int


@dataclass(frozen=True)
class Reconnected:
    """Never sent: the bus hands it to its own node when it (re)connected."""

    type: ClassVar[str] = "reconnected"


Signal = (
    EventSignal
    | RevokeSignal
    | SignOutSignal
    | LogoutSignal
    | RightsSignal
    | RebindSignal
    | RollCallSignal
    | PresenceSignal
    | Reconnected
)
SENT: dict[str, type[Signal]] = {
    kind.type: kind
    for kind in (
        EventSignal,
        RevokeSignal,
        SignOutSignal,
        LogoutSignal,
        RightsSignal,
        RebindSignal,
        RollCallSignal,
        PresenceSignal,
    )
}


def encode(signal: Signal, *, node: str) -> str:
    """The JSON text of `signal` as sent by `node`."""
    if signal.type not in SENT:
        raise SignalError(f"{signal.type} signals are not sent")
    values = {field.name: getattr(signal, field.name) for field in fields(signal)}
    return json.dumps({"type": signal.type, "node": node, **values}, separators=(",", ":"))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _value(name: str, annotation: str, raw: object) -> object:
    """One field of a decoded signal, checked against its declared type."""
    if annotation == "int" and _is_int(raw):
        return raw
    if annotation == "str" and isinstance(raw, str):
        return raw
    if annotation == "tuple[int, ...]" and isinstance(raw, list) and all(map(_is_int, raw)):
        return tuple(raw)
    raise SignalError(f"field {name!r} is not {annotation}: {raw!r}")


def decode(data: str | bytes) -> tuple[str, Signal]:
    """(sending node, signal) from the JSON text; SignalError for anything else. Unknown
    extra fields are ignored (a newer node may add some)."""
    try:
        message: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SignalError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise SignalError("not a JSON object")
    name = message.get("type")
    kind = SENT.get(name) if isinstance(name, str) else None
    if kind is None:
        raise SignalError(f"unknown signal type {message.get('type')!r}")
    node = message.get("node")
    if not isinstance(node, str):
        raise SignalError("no sending node")
    values: dict[str, Any] = {}
    for field in fields(kind):
        if field.name not in message:
            raise SignalError(f"{kind.type} signal without {field.name!r}")
        values[field.name] = _value(field.name, str(field.type), message[field.name])
    return node, kind(**values)
