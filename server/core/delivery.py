"""What dashboards see of a device's pushes: pure functions over plain rows.

The push dispatcher (server/dispatch/) keeps one `push_deliveries` row per event and device
with a push registration, and moves its `state` along as it sends and the provider answers.
This module reads those rows for the roll call, the reachability report and presence:

- `PushRow` is a device's latest push in some scope (one alert's events, or every event for
  presence), with whether any push in that scope got through (`any_delivered`).
- `shown_state()` maps the stored state onto the five states clients know
  (`protocol.vocabulary.PushState`): queued, sent, delivered, receipted, failed. Any other
  stored state (`gone`: the provider said the registration is dead; `stopped`: the dispatcher
  gave up, e.g. the alert ended first) is shown as `failed`, with that state as its reason
  when the provider's answer is empty.
- `reached()` decides whether push got the alert to a device: it has a push registration
  (a dead one is deleted when the provider says so), and its latest push was delivered or
  receipted, or is still on its way (queued, sent) after an earlier push in the same scope
  got through. An update in flight therefore never makes a reached device flicker to "not
  reached"; a failed latest push does make it not reached (it may show an old order).

    push = {"type": "webpush" | "apns" | null,    the registration's type; null: none (any more)
            "state": PushState | null,            null: registered, but not pushed in scope
            "reason": str | null,                 the provider's latest answer, if any
            "alert_id", "seq", "attempts", "at"}  the latest push: its event and last attempt
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from protocol.messages import PushCounts
from protocol.vocabulary import PushState

SHOWN: frozenset[str] = frozenset(state.value for state in PushState)
GOT_THROUGH: frozenset[str] = frozenset({PushState.DELIVERED.value, PushState.RECEIPTED.value})
IN_FLIGHT: frozenset[str] = frozenset({PushState.QUEUED.value, PushState.SENT.value})


@dataclass(frozen=True)
class PushRow:
    """A device's latest push in a scope (one alert, or every alert), as stored."""

    device_id: int
    alert_id: int
    seq: int
    state: str  # push_deliveries.state as the dispatcher wrote it
    last_result: str = ""
    attempts: int = 0
    at: datetime | None = None  # the last attempt, else when the push was queued
    any_delivered: bool = False  # this push or an earlier one in the scope got through


def shown_state(stored: str) -> PushState:
    """The state clients see for a stored one (unknown and terminal ones read as failed)."""
    return PushState(stored) if stored in SHOWN else PushState.FAILED


def reason(push: PushRow) -> str | None:
    """Why the push stands where it does: the provider's latest answer, else for a push
    shown as failed the state it was stored with; None when there is nothing to say."""
    if push.last_result:
        return push.last_result
    return None if push.state in SHOWN else push.state


def reached(*, registered: bool, push: PushRow | None) -> bool:
    """Whether push got the alert to the device (see the module docstring)."""
    if not registered or push is None:
        return False
    if push.state in GOT_THROUGH:
        return True
    return push.state in IN_FLIGHT and push.any_delivered


def document(*, registration: str | None, push: PushRow | None) -> dict[str, Any] | None:
    """The `push` object of a device (None when it has neither a registration nor a push)."""
    if registration is None and push is None:
        return None
    return {
        "type": registration,
        "state": None if push is None else shown_state(push.state).value,
        "reason": None if push is None else reason(push),
        "alert_id": None if push is None else push.alert_id,
        "seq": None if push is None else push.seq,
        "attempts": 0 if push is None else push.attempts,
        "at": None if push is None or push.at is None else push.at.isoformat(),
    }


def counts(pushes: Iterable[PushRow | None]) -> PushCounts:
    """How many of `pushes` stand at each shown state (None: never pushed, not counted)."""
    tally = dict.fromkeys(PushState, 0)
    for push in pushes:
        if push is not None:
            tally[shown_state(push.state)] += 1
    return PushCounts(
        queued=tally[PushState.QUEUED],
        sent=tally[PushState.SENT],
        delivered=tally[PushState.DELIVERED],
        receipted=tally[PushState.RECEIPTED],
        failed=tally[PushState.FAILED],
    )
