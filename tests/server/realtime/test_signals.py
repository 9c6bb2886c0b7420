"""Bus signals: every kind survives encode → decode; anything else is refused clearly."""

from __future__ import annotations

import json

import pytest

from server.realtime.signals import (
    SENT,
    EventSignal,
    LogoutSignal,
    PresenceSignal,
    RebindSignal,
    Reconnected,
    RevokeSignal,
    RightsSignal,
    RollCallSignal,
    SignalError,
    SignOutSignal,
    decode,
    encode,
)

EXAMPLES = (
    EventSignal(org=3, seq=41),
    RevokeSignal(device_id=9),
    SignOutSignal(person_id=12),
    LogoutSignal(session="ab" * 32),
    RightsSignal(person_id=12),
    RebindSignal(device_id=9),
    RollCallSignal(org=3, alerts=(1, 7)),
    PresenceSignal(org=3, site=2),
)


def test_every_sent_kind_has_an_example() -> None:
    """The examples below cover every signal type that travels over the bus."""
    assert {example.type for example in EXAMPLES} == set(SENT)


@pytest.mark.parametrize("signal", EXAMPLES, ids=lambda s: s.type)
def test_signals_round_trip_with_their_sender(signal: object) -> None:
    """decode(encode(s)) gives back the same signal and the sending node."""
    text = encode(signal, node="node-1")  # type: ignore[arg-type]
    assert json.loads(text)["type"] == signal.type  # type: ignore[attr-defined]
    assert decode(text) == ("node-1", signal)
    assert decode(text.encode()) == ("node-1", signal)


def test_unknown_extra_fields_are_ignored() -> None:
    """A newer node's extra field does not make the signal unreadable."""
    assert decode('{"type":"event","node":"n","org":1,"seq":2,"epoch":"x"}') == (
        "n",
        EventSignal(org=1, seq=2),
    )


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe",
        "not json",
        "[1, 2]",
        '{"node": "n", "org": 1, "seq": 2}',
        '{"type": "reconnected", "node": "n"}',
        '{"type": "explode", "node": "n"}',
        '{"type": ["event"], "node": "n"}',
        '{"type": "event", "org": 1, "seq": 2}',
        '{"type": "event", "node": "n", "org": 1}',
        '{"type": "event", "node": "n", "org": "1", "seq": 2}',
        '{"type": "event", "node": "n", "org": true, "seq": 2}',
        '{"type": "rollcall", "node": "n", "org": 1, "alerts": [1, "2"]}',
        '{"type": "logout", "node": "n", "session": 5}',
    ],
)
def test_garbage_is_refused_with_a_signal_error(data: str | bytes) -> None:
    """Bytes that are no known signal raise SignalError (the bus logs and ignores them)."""
    with pytest.raises(SignalError):
        decode(data)


def test_reconnected_is_never_sent() -> None:
    """The bus's own Reconnected stays local: encoding it is refused."""
    with pytest.raises(SignalError):
        encode(Reconnected(), node="n")
