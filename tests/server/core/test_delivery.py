"""What dashboards see of a device's pushes: shown states, reasons, when push counts as
reaching a device, the per-device document and the counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocol.codec import to_dict
from protocol.vocabulary import PushState
from server.core.delivery import PushRow, counts, document, reached, reason, shown_state

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def push(state: str, *, last_result: str = "", any_delivered: bool = False) -> PushRow:
    return PushRow(
        device_id=1,
        alert_id=7,
        seq=42,
        state=state,
        last_result=last_result,
        attempts=2,
        at=T0,
        any_delivered=any_delivered or state in ("delivered", "receipted"),
    )


@pytest.mark.parametrize("state", [state.value for state in PushState])
def test_the_five_known_states_are_shown_as_they_are(state: str) -> None:
    """queued, sent, delivered, receipted and failed read as themselves."""
    assert shown_state(state) is PushState(state)


@pytest.mark.parametrize("state", ["gone", "stopped", "exploded"])
def test_terminal_and_unknown_states_are_shown_as_failed(state: str) -> None:
    """A dead registration, a push given up on or a state this version doesn't know: failed,
    with the stored state as the reason when the provider said nothing."""
    assert shown_state(state) is PushState.FAILED
    assert reason(push(state)) == state
    assert reason(push(state, last_result="410 Gone: expired")) == "410 Gone: expired"


def test_the_reason_is_the_providers_answer_or_nothing() -> None:
    """A queued push after a 503 says so; a clean delivery says nothing."""
    assert reason(push("queued", last_result="retry: 503")) == "retry: 503"
    assert reason(push("delivered")) is None
    assert reason(push("failed", last_result="rejected: 403 BadJwtToken")) == (
        "rejected: 403 BadJwtToken"
    )


@pytest.mark.parametrize(
    ("state", "earlier", "expected"),
    [
        ("delivered", False, True),
        ("receipted", False, True),
        ("queued", False, False),
        ("sent", False, False),
        ("queued", True, True),
        ("sent", True, True),
        ("failed", True, False),
        ("gone", True, False),
        ("stopped", False, False),
    ],
)
def test_push_reaches_a_registered_device_when_its_latest_push_got_through(
    state: str, earlier: bool, expected: bool
) -> None:
    """Delivered or receipted reaches; an update still on its way keeps an earlier success;
    a failed latest push, or one never through, does not reach."""
    assert reached(registered=True, push=push(state, any_delivered=earlier)) is expected


def test_without_a_registration_or_a_push_nothing_reaches() -> None:
    """A delivered push to a registration since removed, or a registration never pushed:
    not reached by push."""
    assert not reached(registered=False, push=push("delivered"))
    assert not reached(registered=True, push=None)


def test_the_document_shows_registration_and_latest_push() -> None:
    """Every field of the push object; None only without registration and push."""
    assert document(registration=None, push=None) is None
    assert document(registration="apns", push=None) == {
        "type": "apns",
        "state": None,
        "reason": None,
        "alert_id": None,
        "seq": None,
        "attempts": 0,
        "at": None,
    }
    assert document(registration=None, push=push("gone", last_result="410")) == {
        "type": None,
        "state": "failed",
        "reason": "410",
        "alert_id": 7,
        "seq": 42,
        "attempts": 2,
        "at": T0.isoformat(),
    }


def test_counts_tally_devices_by_shown_state() -> None:
    """Never-pushed devices (None) count nowhere; gone counts as failed."""
    pushes = [push("queued"), push("delivered"), push("delivered"), push("gone"), None]
    assert to_dict(counts(pushes)) == {
        "queued": 1,
        "sent": 0,
        "delivered": 2,
        "receipted": 0,
        "failed": 1,
    }
