import pytest

from protocol.closecodes import (
    CLOSE_CODES,
    DISCONNECTED_WARNING_S,
    RECONNECT_INITIAL_S,
    RECONNECT_MAX_S,
    CloseCode,
    Reconnect,
    close_info,
    delay_after_close,
    reconnect_delay,
)
from protocol.codec import ERROR_MESSAGES


def test_every_close_code_is_described() -> None:
    """Each CloseCode has a reason, a reconnect rule and a one-line doc."""
    assert set(CLOSE_CODES) == {int(code) for code in CloseCode}
    for code, info in CLOSE_CODES.items():
        assert info.code == code
        assert info.doc and "\n" not in info.doc
        assert info.reason.isascii() and len(info.reason.encode()) <= 123


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (1000, Reconnect.BACKOFF),
        (1001, Reconnect.BACKOFF),
        (1006, Reconnect.BACKOFF),
        (1008, Reconnect.NEVER),
        (1009, Reconnect.BACKOFF),
        (1011, Reconnect.BACKOFF),
        (1012, Reconnect.BACKOFF),
        (1013, Reconnect.BACKOFF),
        (4001, Reconnect.NEVER),
        (4002, Reconnect.NEVER),
        (4003, Reconnect.SLOW),
        (4004, Reconnect.BACKOFF),
        (4005, Reconnect.NEVER),
    ],
)
def test_reconnect_rules(code: int, expected: Reconnect) -> None:
    """Clients reconnect unless a person must act (bad token, revoked, old client, policy)."""
    assert close_info(code).reconnect is expected
    assert close_info(code).should_reconnect is (expected is not Reconnect.NEVER)


def test_application_codes_match_error_codes() -> None:
    """4001/4002/4005 use the error codes as close reasons, so one word names the cause."""
    assert close_info(4001).reason == "auth.invalid_token"
    assert close_info(4002).reason == "auth.revoked"
    assert close_info(4005).reason == "protocol.unsupported_version"
    assert "protocol.unsupported_version" in ERROR_MESSAGES


@pytest.mark.parametrize("code", [1002, 1003, 3000, 4000, 4999, 0])
def test_unknown_codes_reconnect(code: int) -> None:
    """An unknown close code is treated like a dropped connection: reconnect with backoff."""
    assert close_info(code).reconnect is Reconnect.BACKOFF
    assert close_info(code).code == code


def test_backoff_starts_at_half_a_second_and_doubles() -> None:
    """The base delay is 0.5 s, doubling per attempt; jitter puts it in [base/2, base]."""
    assert reconnect_delay(0, 0.999999) == pytest.approx(RECONNECT_INITIAL_S, rel=1e-5)
    assert reconnect_delay(0, 0.0) == RECONNECT_INITIAL_S / 2
    assert reconnect_delay(1, 0.0) == RECONNECT_INITIAL_S
    assert reconnect_delay(3, 0.5) == pytest.approx(4.0 * 0.75)


@pytest.mark.parametrize("attempt", [5, 6, 10, 100, 10**9])
def test_backoff_is_capped_at_fifteen_seconds(attempt: int) -> None:
    """However many attempts, a reconnect never waits longer than 15 s."""
    for random in (0.0, 0.5, 0.999999):
        assert RECONNECT_MAX_S / 2 <= reconnect_delay(attempt, random) <= RECONNECT_MAX_S


def test_a_negative_attempt_counts_as_the_first() -> None:
    """A nonsensical attempt number is treated as the first attempt."""
    assert reconnect_delay(-3, 0.0) == reconnect_delay(0, 0.0)


def test_delay_after_close() -> None:
    """None after the NEVER codes, the capped step after 4003, backoff otherwise."""
    assert delay_after_close(4001, 0, 0.5) is None
    assert delay_after_close(4005, 3, 0.5) is None
    assert delay_after_close(4003, 0, 0.0) == RECONNECT_MAX_S / 2
    assert delay_after_close(1013, 0, 0.0) == RECONNECT_INITIAL_S / 2
    assert delay_after_close(1001, 2, 0.0) == reconnect_delay(2, 0.0)


def test_the_disconnected_warning_outlasts_a_few_reconnects() -> None:
    """The loud warning comes after 30 s, longer than the longest single backoff."""
    assert DISCONNECTED_WARNING_S == 30.0
    assert DISCONNECTED_WARNING_S > RECONNECT_MAX_S


def test_the_random_part_defaults_to_a_fresh_draw() -> None:
    """Called without `random`, as protocol.js's default: a delay within the jitter band."""
    from protocol.closecodes import delay_after_close, reconnect_delay

    for _ in range(50):
        assert 0.25 <= reconnect_delay(0) <= 0.5
        delay = delay_after_close(1006, 3)
        assert delay is not None and 2.0 <= delay <= 4.0
    assert delay_after_close(4001, 0) is None
