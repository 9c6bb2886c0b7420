"""The pure push schedule: the emergency slots, resends, which due deliveries are sent or
stopped and why, and what each provider answer does to a delivery."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.core.push_schedule import (
    ENDED_RETRY_SECONDS,
    MAX_RESULT_LENGTH,
    MAX_RETRY_AFTER_SECONDS,
    SCHEDULE_SECONDS,
    STEADY_SECONDS,
    Answer,
    DeliveryState,
    Due,
    ReceiptView,
    Send,
    Stop,
    after_answer,
    decide,
    describe,
    pushes_event,
    receipted,
    resend_at,
    retry_at,
)

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
RESEND = 30.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def offset(moment: datetime) -> float:
    return (moment - T0).total_seconds()


def slots(up_to: float) -> list[float]:
    """Every slot of the emergency schedule up to `up_to` seconds after the event."""
    found = [float(s) for s in SCHEDULE_SECONDS]
    while found[-1] < up_to:
        found.append(found[-1] + STEADY_SECONDS)
    return found


def due(**changes: object) -> Due:
    values: dict[str, object] = dict(
        seq=5,
        event_type="triggered",
        event_at=T0,
        state=DeliveryState.QUEUED,
        alert_active=True,
        receipt=None,
        newest_accepted_seq=None,
        device_revoked=False,
        registered=True,
        has_sender=True,
    )
    values.update(changes)
    return Due(**values)  # type: ignore[arg-type]


# -- the schedule --------------------------------------------------------------------------


def test_retries_follow_the_emergency_schedule_then_every_minute() -> None:
    """Walking from the event: 0, 1, 2, 5, 10, 30, 60, 120, 180 s after it."""
    moment, seen = at(-0.5), []
    for _ in range(9):
        moment = retry_at(T0, now=moment)
        seen.append(offset(moment))
    assert seen == [0, 1, 2, 5, 10, 30, 60, 120, 180]


@given(st.integers(min_value=-5_000_000, max_value=100_000_000_000))
def test_retry_is_the_first_slot_after_now(elapsed_us: int) -> None:
    """The next retry is a slot, strictly after now, with no slot skipped in between, and
    never more than a minute away."""
    elapsed = elapsed_us / 1e6
    later = offset(retry_at(T0, now=T0 + timedelta(microseconds=elapsed_us)))
    assert later > elapsed
    assert later in slots(later)
    assert not [s for s in slots(later) if elapsed < s < later]
    assert later - max(elapsed, 0) <= STEADY_SECONDS


def test_resends_come_after_resend_after_then_double() -> None:
    """An accepted push is checked at 30 s after the event, then 60, 120, 240 s."""
    moment, seen = T0, []
    for _ in range(4):
        moment = resend_at(T0, now=moment, resend_after=RESEND)
        seen.append(offset(moment))
    assert seen == [30, 60, 120, 240]


@given(
    st.integers(min_value=-5_000_000, max_value=1_000_000_000_000),
    st.integers(min_value=500, max_value=600_000),
)
def test_resend_is_the_first_doubling_after_now(elapsed_us: int, resend_after_ms: int) -> None:
    """The resend lies strictly after now, at resend_after × a power of two, and the one
    before it (if any) was not after now."""
    now = T0 + timedelta(microseconds=elapsed_us)
    resend_after = resend_after_ms / 1000
    later = resend_at(T0, now=now, resend_after=resend_after)
    assert later > now
    multiple = (later - T0) / timedelta(milliseconds=resend_after_ms)
    power = round(math.log2(multiple))
    assert multiple == 2**power
    if power > 0:
        assert T0 + timedelta(milliseconds=resend_after_ms) * 2 ** (power - 1) <= now


def test_resend_after_must_be_positive() -> None:
    """A zero resend interval is a programming error."""
    with pytest.raises(ValueError):
        resend_at(T0, now=T0, resend_after=0)


# -- which events are pushed ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "changes", "pushed"),
    [
        ("triggered", {}, True),
        ("updated", {"order": {"sv": "x", "en": "x"}}, True),
        ("updated", {"kind": "evacuate", "escalated": True}, True),
        ("updated", {"escalation_requested": {"reason": "other_kind_active"}}, False),
        ("resolved", {"state": "resolved"}, True),
        ("cancelled", {"state": "cancelled", "superseded_by": 9}, True),
    ],
)
def test_an_escalation_request_alone_is_not_pushed(
    event: str, changes: dict[str, object], pushed: bool
) -> None:
    """Every event is pushed except an update that only asks the leaders for a change."""
    assert pushes_event(event, changes) is pushed


# -- receipts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("receipt", "expected"),
    [
        (None, False),
        (ReceiptView(seq=4, updated_at=at(100)), False),  # an older event, even if later
        (ReceiptView(seq=5, updated_at=at(-100)), True),
        (ReceiptView(seq=9, updated_at=at(-100)), True),  # a later event of the alert
        (ReceiptView(seq=None, updated_at=at(-1)), False),  # a WebSocket receipt before it
        (ReceiptView(seq=None, updated_at=at(0)), True),
        (ReceiptView(seq=None, updated_at=at(3)), True),
    ],
)
def test_receipt_of_this_or_a_later_event_counts(
    receipt: ReceiptView | None, expected: bool
) -> None:
    """A receipt's seq decides; without one (WebSocket), one at or after the event counts."""
    assert receipted(receipt, seq=5, event_at=T0) is expected


# -- deciding a due delivery ---------------------------------------------------------------


def test_a_due_delivery_is_sent() -> None:
    """Registered, not receipted, alert active, nothing newer accepted: send it."""
    assert decide(due(), now=at(1)) == Send()


@pytest.mark.parametrize(
    ("changes", "state", "reason"),
    [
        ({"device_revoked": True}, DeliveryState.STOPPED, "stopped: device revoked"),
        ({"registered": False}, DeliveryState.STOPPED, "stopped: no push registration"),
        (
            {"receipt": ReceiptView(seq=5, updated_at=T0)},
            DeliveryState.RECEIPTED,
            "receipted",
        ),
        ({"alert_active": False}, DeliveryState.STOPPED, "stopped: alert ended"),
        (
            {"newest_accepted_seq": 7},
            DeliveryState.STOPPED,
            "stopped: superseded by seq 7",
        ),
        (
            {"has_sender": False},
            DeliveryState.FAILED,
            "failed: push not configured on this server",
        ),
    ],
)
def test_a_due_delivery_stops_for_its_reason(
    changes: dict[str, object], state: DeliveryState, reason: str
) -> None:
    """Revoked, unregistered, receipted, alert ended, superseded or unconfigured: stop."""
    assert decide(due(**changes), now=at(1)) == Stop(state, reason)


def test_an_accepted_delivery_stays_delivered_when_it_stops() -> None:
    """A delivery the provider accepted keeps `delivered` when the alert ends."""
    decision = decide(due(state=DeliveryState.DELIVERED, alert_active=False), now=at(31))
    assert decision == Stop(DeliveryState.DELIVERED, "stopped: alert ended")


def test_a_receipt_beats_every_other_stop() -> None:
    """A receipted delivery of an ended alert is `receipted`, not `stopped`."""
    receipt = ReceiptView(seq=6, updated_at=T0)
    assert decide(due(receipt=receipt, alert_active=False), now=at(1)).state == (  # type: ignore[union-attr]
        DeliveryState.RECEIPTED
    )


def test_an_older_accepted_event_does_not_supersede() -> None:
    """Only a newer event accepted for the device supersedes; an older or the same does not."""
    assert decide(due(newest_accepted_seq=5), now=at(1)) == Send()
    assert decide(due(newest_accepted_seq=3), now=at(1)) == Send()


@pytest.mark.parametrize("event_type", ["resolved", "cancelled"])
def test_the_end_event_is_pushed_after_the_alert_ended(event_type: str) -> None:
    """The alert's own resolved/cancelled event is sent though the alert is no longer active."""
    assert decide(due(event_type=event_type, alert_active=False), now=at(1)) == Send()


def test_the_end_event_is_retried_until_its_window_closes() -> None:
    """An unreceipted end event is given up `ENDED_RETRY_SECONDS` after it."""
    ending = due(event_type="resolved", alert_active=False)
    assert decide(ending, now=at(ENDED_RETRY_SECONDS)) == Send()
    assert decide(ending, now=at(ENDED_RETRY_SECONDS + 1)) == Stop(
        DeliveryState.STOPPED, "stopped: no receipt before the retry window closed"
    )


def test_an_active_alert_is_retried_without_end() -> None:
    """While the alert is active its events are sent however old they are."""
    assert decide(due(), now=at(7 * 24 * 3600)) == Send()


# -- answers -------------------------------------------------------------------------------


def test_delivered_waits_for_the_receipt_until_the_resend() -> None:
    """Delivered → `delivered`, due again `resend_after` after the event."""
    outcome = after_answer(
        Answer("delivered", status=201), event_at=T0, now=at(0.2), resend_after=30
    )
    assert outcome.state == DeliveryState.DELIVERED
    assert outcome.next_attempt_at == at(30)
    assert outcome.last_result == "delivered 201"
    assert not outcome.remove_registration and not outcome.warn


def test_retry_goes_to_the_next_slot() -> None:
    """Retry without Retry-After → `queued` at the next slot of the schedule."""
    outcome = after_answer(
        Answer("retry", "Service Unavailable", 503), event_at=T0, now=at(2.5), resend_after=30
    )
    assert outcome.state == DeliveryState.QUEUED
    assert outcome.next_attempt_at == at(5)
    assert outcome.last_result == "retry 503: Service Unavailable"


def test_retry_after_later_than_the_slot_is_honoured() -> None:
    """Retry-After beyond the next slot wins."""
    outcome = after_answer(
        Answer("retry", "Too Many Requests", 429, after=12), event_at=T0, now=at(1), resend_after=30
    )
    assert outcome.next_attempt_at == at(13)


def test_retry_after_sooner_than_the_slot_keeps_the_slot() -> None:
    """A Retry-After shorter than the schedule does not make the retry earlier."""
    outcome = after_answer(
        Answer("retry", "Too Many Requests", 429, after=0.1),
        event_at=T0,
        now=at(10.5),
        resend_after=30,
    )
    assert outcome.next_attempt_at == at(30)


@given(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)))
def test_any_retry_after_gives_a_time_after_now(after: float | None) -> None:
    """Whatever the provider says (none, negative, huge, NaN), the retry is after now and
    at most a day away."""
    now = at(3)
    outcome = after_answer(
        Answer("retry", "x", 429, after=after), event_at=T0, now=now, resend_after=30
    )
    assert outcome.next_attempt_at is not None
    assert now < outcome.next_attempt_at <= now + timedelta(seconds=MAX_RETRY_AFTER_SECONDS)


def test_gone_removes_the_registration() -> None:
    """Gone → `gone`, nothing more due, the registration to be removed."""
    outcome = after_answer(
        Answer("gone", "Unregistered", 410), event_at=T0, now=at(1), resend_after=30
    )
    assert outcome.state == DeliveryState.GONE
    assert outcome.next_attempt_at is None
    assert outcome.remove_registration and not outcome.warn


def test_rejected_fails_and_warns() -> None:
    """Rejected → `failed` with the reason, registration kept, the operator warned."""
    outcome = after_answer(
        Answer("rejected", "BadJwtToken", 403), event_at=T0, now=at(1), resend_after=30
    )
    assert outcome.state == DeliveryState.FAILED
    assert outcome.next_attempt_at is None
    assert outcome.last_result == "rejected 403: BadJwtToken"
    assert outcome.warn and not outcome.remove_registration


@given(
    st.sampled_from(["delivered", "retry", "gone", "rejected"]),
    st.text(max_size=500),
    st.one_of(st.none(), st.integers(min_value=100, max_value=599)),
    st.floats(min_value=0, max_value=10_000, allow_nan=False),
)
def test_every_answer_fits_its_columns_and_moves_forward(
    outcome_name: str, reason: str, status: int | None, elapsed: float
) -> None:
    """Any answer: the result text fits `last_result`, a pending delivery is due after now,
    a final one is due never."""
    answer = Answer(outcome_name, reason, status)  # type: ignore[arg-type]
    now = at(elapsed)
    outcome = after_answer(answer, event_at=T0, now=now, resend_after=RESEND)
    assert len(outcome.last_result) <= MAX_RESULT_LENGTH
    assert outcome.last_result == describe(answer)
    if outcome.state in (DeliveryState.GONE, DeliveryState.FAILED):
        assert outcome.next_attempt_at is None
    else:
        assert outcome.next_attempt_at is not None and outcome.next_attempt_at > now
