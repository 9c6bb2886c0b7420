"""When the push dispatcher sends an alert event to a device, and what a provider's answer
does to that delivery. Pure: every function takes `now`.

One delivery is one (event, device) pair (`push_deliveries`). Its states:

    queued ──claim──► sent ──Delivered──► delivered ──receipt──► receipted
      ▲                 │ ──Retry───────► queued (next slot, or Retry-After if later)
      │                 │ ──Gone────────► gone     (registration removed)
      │                 │ ──Rejected────► failed   (registration kept, operator warned)
      └─(lease expired: the node died while sending; `sent` is due again)

    any pending state ──► stopped (alert ended, superseded, device revoked, expired)
                      ──► receipted (the device receipted this event or a later one)

A delivery that is due is decided afresh (`decide`): it is sent unless the device already
receipted the event or a later one, the alert ended (its `resolved`/`cancelled` event is still
pushed), a newer event of the same alert was accepted by the provider for the device (it
carries the current order and replaces this one under the same topic), or there is nothing
to send to. A delivery the provider accepted keeps the state `delivered` when it stops.

Retries follow the emergency schedule: 0, 1, 2, 5, 10, 30, 60 s after the event, then every
60 s while the alert is active. An accepted push without a receipt is pushed again
`resend_after` after the event, then after 2×, 4×, 8× … that time (the push service keeps it
for its TTL meanwhile, and every resend may sound again). The end event of an alert is
retried until it is receipted or `ENDED_RETRY_SECONDS` after it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from protocol.vocabulary import EventType

SCHEDULE_SECONDS = (0, 1, 2, 5, 10, 30, 60)  # after the event
STEADY_SECONDS = 60  # after the schedule: every minute while the alert is active
ENDED_RETRY_SECONDS = 3600  # how long an alert's end event is retried without a receipt
MAX_RETRY_AFTER_SECONDS = 86_400  # a longer Retry-After is honoured as one day
MAX_RESULT_LENGTH = 200  # the `last_result` columns
ENDING_EVENTS = frozenset({EventType.RESOLVED.value, EventType.CANCELLED.value})
# An `updated` event whose changes are only these changes nothing a device shows.
_SILENT_CHANGES = frozenset({"escalation_requested"})


class DeliveryState(StrEnum):
    QUEUED = "queued"  # due at `next_attempt_at` (first attempt, or a retry)
    SENT = "sent"  # handed to the provider, no answer recorded yet (or the node died)
    DELIVERED = "delivered"  # the provider accepted it; waiting for the device's receipt
    RECEIPTED = "receipted"  # the device receipted this event or a later one
    FAILED = "failed"  # the provider refused it (or no sender is configured): see reason
    GONE = "gone"  # the registration is dead and was removed
    STOPPED = "stopped"  # nothing more to do: alert ended, superseded, revoked, expired


def pushes_event(event_type: str, changes: Mapping[str, object]) -> bool:
    """Whether an event is pushed at all: an `updated` event that only tells the leaders of
    an escalation request changes nothing a device shows (they see it on the dashboard), and
    pushing it would sound every phone again."""
    if event_type == EventType.UPDATED.value and changes:
        return not set(changes) <= _SILENT_CHANGES
    return True


# -- the schedule --------------------------------------------------------------------------


def _seconds(delta: timedelta) -> float:
    return delta.total_seconds()


def retry_at(event_at: datetime, *, now: datetime) -> datetime:
    """The first slot of the emergency schedule strictly after `now`: 0, 1, 2, 5, 10, 30,
    60 s after the event, then every `STEADY_SECONDS`."""
    for offset in SCHEDULE_SECONDS:
        if (moment := event_at + timedelta(seconds=offset)) > now:
            return moment
    steps = (now - event_at) // timedelta(seconds=STEADY_SECONDS) + 1
    return event_at + steps * timedelta(seconds=STEADY_SECONDS)


def resend_at(event_at: datetime, *, now: datetime, resend_after: float) -> datetime:
    """When an accepted push without a receipt is pushed again: the first of `resend_after`,
    2×, 4×, … after the event that is strictly after `now`."""
    if resend_after <= 0:
        raise ValueError("resend_after must be positive")
    multiple = 1
    while (moment := event_at + timedelta(seconds=multiple * resend_after)) <= now:
        multiple *= 2
    return moment


# -- deciding a due delivery ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiptView:
    """The device's receipt of the alert: the highest seq it receipted (HTTP receipts name
    it), and when the receipt last changed."""

    seq: int | None
    updated_at: datetime


def receipted(receipt: ReceiptView | None, *, seq: int, event_at: datetime) -> bool:
    """Whether the device has receipted event `seq` (made at `event_at`) or a later one.

    With a seq (an HTTP receipt) it is compared. Without one (only WebSocket receipts, which
    name no seq) a receipt that changed at or after the event counts: over a WebSocket the
    events arrive in seq order and a gap is resumed, so a device answering on its socket
    after the event was committed is being given it there too."""
    if receipt is None:
        return False
    if receipt.seq is not None:
        return receipt.seq >= seq
    return receipt.updated_at >= event_at


@dataclass(frozen=True, slots=True)
class Due:
    """What is known about a due delivery when it is claimed."""

    seq: int
    event_type: str
    event_at: datetime
    state: DeliveryState
    alert_active: bool  # the alert's state now
    receipt: ReceiptView | None
    newest_accepted_seq: int | None  # of the same alert and device: delivered or receipted
    device_revoked: bool
    registered: bool  # the device has a push registration
    has_sender: bool  # this node has a sender for the registration's type


@dataclass(frozen=True, slots=True)
class Send:
    """Send it now."""


@dataclass(frozen=True, slots=True)
class Stop:
    """Nothing more to do: the delivery ends in `state` with `reason`."""

    state: DeliveryState
    reason: str


def _stopped(due: Due, reason: str) -> Stop:
    """A delivery the provider accepted stays `delivered` when it stops."""
    state = DeliveryState.DELIVERED if due.state == DeliveryState.DELIVERED else None
    return Stop(state or DeliveryState.STOPPED, f"stopped: {reason}")


def decide(due: Due, *, now: datetime) -> Send | Stop:
    """Send a due delivery, or stop it (see the module's docstring for the order of rules)."""
    if due.device_revoked:
        return _stopped(due, "device revoked")
    if not due.registered:
        return _stopped(due, "no push registration")
    if receipted(due.receipt, seq=due.seq, event_at=due.event_at):
        return Stop(DeliveryState.RECEIPTED, "receipted")
    ending = due.event_type in ENDING_EVENTS
    if not ending and not due.alert_active:
        return _stopped(due, "alert ended")
    if due.newest_accepted_seq is not None and due.newest_accepted_seq > due.seq:
        return _stopped(due, f"superseded by seq {due.newest_accepted_seq}")
    if ending and _seconds(now - due.event_at) > ENDED_RETRY_SECONDS:
        return _stopped(due, "no receipt before the retry window closed")
    if not due.has_sender:
        return Stop(DeliveryState.FAILED, "failed: push not configured on this server")
    return Send()


# -- what a provider's answer does ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """A provider's answer, as the core sees it (the dispatcher translates push results)."""

    outcome: Literal["delivered", "retry", "gone", "rejected"]
    reason: str = ""
    status: int | None = None
    after: float | None = None  # Retry-After, seconds


@dataclass(frozen=True, slots=True)
class Outcome:
    """The delivery after an answer. `remove_registration`: the registration is dead (and
    the device's other pending deliveries stop); `warn`: tell the operator."""

    state: DeliveryState
    next_attempt_at: datetime | None
    last_result: str
    remove_registration: bool = False
    warn: bool = False


def describe(answer: Answer) -> str:
    """`last_result` text: outcome, status and reason, e.g. `retry 429: Too Many Requests`."""
    status = "" if answer.status is None else f" {answer.status}"
    reason = f": {answer.reason}" if answer.reason else ""
    return f"{answer.outcome}{status}{reason}"[:MAX_RESULT_LENGTH]


def _retry_after(after: float | None) -> timedelta:
    """Retry-After as a wait: none, negative or not a number is no wait; at most a day."""
    if after is None or not math.isfinite(after) or after <= 0:
        return timedelta(0)
    return timedelta(seconds=min(after, MAX_RETRY_AFTER_SECONDS))


def after_answer(
    answer: Answer, *, event_at: datetime, now: datetime, resend_after: float
) -> Outcome:
    """Delivered → `delivered`, checked again when the resend is due; Retry → `queued` at
    the next slot or after Retry-After, whichever is later; Gone → `gone`, the registration
    removed; Rejected → `failed`, the registration kept and the operator warned."""
    text = describe(answer)
    if answer.outcome == "delivered":
        resend = resend_at(event_at, now=now, resend_after=resend_after)
        return Outcome(DeliveryState.DELIVERED, resend, text)
    if answer.outcome == "retry":
        later = max(retry_at(event_at, now=now), now + _retry_after(answer.after))
        return Outcome(DeliveryState.QUEUED, later, text)
    if answer.outcome == "gone":
        return Outcome(DeliveryState.GONE, None, text, remove_registration=True)
    return Outcome(DeliveryState.FAILED, None, text, warn=True)
