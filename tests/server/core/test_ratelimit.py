"""The sliding-window attempt limiter (pure: time is passed in)."""

from __future__ import annotations

import pytest

from server.core.ratelimit import (
    Admitted,
    AttemptLimiter,
    KnownAddresses,
    Limit,
    LoginThrottle,
    Refused,
)


def test_allows_until_the_limit_is_reached() -> None:
    """`limit` failures are tolerated; the next check is refused."""
    limiter = AttemptLimiter(3, 60)
    for second in range(3):
        assert limiter.check("a", now=float(second)) is None
        limiter.fail("a", now=float(second))
    assert limiter.check("a", now=3.0) is not None


def test_wait_is_until_the_oldest_failure_leaves_the_window() -> None:
    """The answer is the seconds until the oldest counted failure is `window` old."""
    limiter = AttemptLimiter(2, 60)
    limiter.fail("a", now=10.0)
    limiter.fail("a", now=20.0)
    assert limiter.check("a", now=30.0) == pytest.approx(40.0)
    assert limiter.check("a", now=69.5) == pytest.approx(0.5)
    assert limiter.check("a", now=70.0) is None


def test_window_slides() -> None:
    """After the oldest failure expires one more attempt is allowed, not a full new budget."""
    limiter = AttemptLimiter(2, 60)
    limiter.fail("a", now=0.0)
    limiter.fail("a", now=30.0)
    assert limiter.check("a", now=61.0) is None
    limiter.fail("a", now=61.0)
    assert limiter.check("a", now=62.0) == pytest.approx(28.0)


def test_keys_are_independent() -> None:
    """Failures of one key never limit another."""
    limiter = AttemptLimiter(1, 60)
    limiter.fail("a", now=0.0)
    assert limiter.check("a", now=1.0) is not None
    assert limiter.check("b", now=1.0) is None


def test_reset_forgets_a_key() -> None:
    """A successful attempt's reset clears the key's failures."""
    limiter = AttemptLimiter(1, 60)
    limiter.fail("a", now=0.0)
    limiter.reset("a")
    assert limiter.check("a", now=1.0) is None
    limiter.reset("never-seen")  # harmless


def test_expired_keys_are_pruned() -> None:
    """Keys whose failures all left the window are dropped from memory."""
    limiter = AttemptLimiter(5, 10)
    for index in range(100):
        limiter.fail(f"k{index}", now=0.0)
    assert len(limiter) == 100
    limiter.fail("late", now=11.0)
    assert len(limiter) == 1


def test_key_count_is_capped_by_evicting_the_least_recent() -> None:
    """Past `max_keys` the key that failed longest ago is forgotten first."""
    limiter = AttemptLimiter(1, 1000, max_keys=3)
    for index, key in enumerate(["a", "b", "c"]):
        limiter.fail(key, now=float(index))
    limiter.fail("a", now=3.0)  # "a" is now the most recent
    limiter.fail("d", now=4.0)
    assert len(limiter) == 3
    assert limiter.check("b", now=5.0) is None  # evicted
    assert limiter.check("a", now=5.0) is not None
    assert limiter.check("c", now=5.0) is not None


def test_memory_per_key_is_bounded_by_the_limit() -> None:
    """A key keeps at most `limit` timestamps however often it fails."""
    limiter = AttemptLimiter(3, 1000)
    for second in range(1000):
        limiter.fail("a", now=float(second))
    assert limiter.check("a", now=1000.0) == pytest.approx(997.0)


@pytest.mark.parametrize(
    ("limit", "window", "max_keys"), [(0, 10, 5), (1, 0, 5), (1, -1, 5), (1, 10, 0)]
)
def test_nonsense_parameters_are_refused(limit: int, window: float, max_keys: int) -> None:
    """A limiter that could never allow or never forget is a programming error."""
    with pytest.raises(ValueError):
        AttemptLimiter(limit, window, max_keys=max_keys)


def test_refund_takes_back_one_attempt() -> None:
    """A refunded reservation no longer counts; other attempts of the key stay."""
    limiter = AttemptLimiter(2, 60)
    limiter.fail("a", now=1.0)
    limiter.fail("a", now=2.0)
    limiter.refund("a", at=2.0)
    assert limiter.check("a", now=3.0) is None
    limiter.refund("a", at=1.0)
    assert len(limiter) == 0
    limiter.refund("never-seen", at=1.0)  # harmless


def _throttle(**overrides: float) -> LoginThrottle:
    limits: dict[str, float] = {
        "per_account_address": 2,
        "per_account": 3,
        "per_address": 4,
        "window": 60,
        "known_address_seconds": 100,
    }
    limits.update(overrides)
    return LoginThrottle(
        per_account_address=int(limits["per_account_address"]),
        per_account=int(limits["per_account"]),
        per_address=int(limits["per_address"]),
        window=limits["window"],
        known_address_seconds=limits["known_address_seconds"],
    )


def _admit(
    throttle: LoginThrottle, account: str, address: str, now: float, *, known: bool = False
) -> Admitted | Refused:
    return throttle.admit(account=account, address=address, known_browser=known, now=now)


def _succeed(throttle: LoginThrottle, account: str, address: str, now: float) -> None:
    admitted = _admit(throttle, account, address, now)
    assert isinstance(admitted, Admitted)
    throttle.succeeded(admitted, now=now)


def test_attempts_are_counted_when_admitted() -> None:
    """Each admission reserves an attempt: the third from one address is refused by the
    (account, address) window before anything is verified."""
    throttle = _throttle()
    assert isinstance(_admit(throttle, "a", "1.1.1.1", 0.0), Admitted)
    assert isinstance(_admit(throttle, "a", "1.1.1.1", 1.0), Admitted)
    refused = _admit(throttle, "a", "1.1.1.1", 2.0)
    assert refused == Refused(limit=Limit.ACCOUNT_ADDRESS, wait=pytest.approx(58.0))


def test_account_window_spans_new_addresses() -> None:
    """Attempts from new addresses add up per account; a known browser is still admitted
    and not counted."""
    throttle = _throttle()
    for index in range(3):
        assert isinstance(_admit(throttle, "a", f"10.0.0.{index}", float(index)), Admitted)
    refused = _admit(throttle, "a", "10.0.0.9", 5.0)
    assert isinstance(refused, Refused) and refused.limit is Limit.ACCOUNT
    known = _admit(throttle, "a", "10.0.0.9", 5.0, known=True)
    assert known == Admitted(account="a", address="10.0.0.9", counted=False, at=5.0)


def test_address_window_spans_new_accounts() -> None:
    """One address failing on many accounts is refused for accounts new to it, but not for
    an account that logged in from it."""
    throttle = _throttle()
    _succeed(throttle, "owner", "nat", 0.0)
    for index in range(4):
        assert isinstance(_admit(throttle, f"x{index}", "nat", 1.0), Admitted)
    refused = _admit(throttle, "new", "nat", 2.0)
    assert isinstance(refused, Refused) and refused.limit is Limit.ADDRESS
    assert isinstance(_admit(throttle, "owner", "nat", 2.0), Admitted)


def test_success_refunds_and_makes_the_address_known_for_a_while() -> None:
    """A success refunds its reservation, clears the pair's failures and makes the address
    known for the account until `known_address_seconds` pass."""
    throttle = _throttle()
    assert isinstance(_admit(throttle, "a", "h", 0.0), Admitted)
    admitted = _admit(throttle, "a", "h", 1.0)
    assert isinstance(admitted, Admitted) and admitted.counted
    throttle.succeeded(admitted, now=1.0)
    for moment in (2.0, 3.0, 4.0, 5.0):
        decision = _admit(throttle, "a", "h", moment)
        assert isinstance(decision, Admitted) and not decision.counted
    assert isinstance(_admit(throttle, "b", "h", 6.0), Admitted)  # only for account "a"
    assert _admit(throttle, "a", "h", 101.5) == Admitted(
        account="a", address="h", counted=True, at=101.5
    )


def test_count_ignores_what_is_known() -> None:
    """`count` (the current-password check) counts even a known address."""
    throttle = _throttle()
    _succeed(throttle, "a", "h", 0.0)
    for moment in (1.0, 2.0):
        assert isinstance(throttle.count(account="a", address="h", now=moment), Admitted)
    assert isinstance(throttle.count(account="a", address="h", now=3.0), Refused)


def test_known_addresses_are_bounded() -> None:
    """Past max_keys the oldest known pairs are forgotten."""
    known = KnownAddresses(100, max_keys=2)
    for index in range(3):
        known.add("a", str(index), now=float(index))
    assert len(known) == 2 and not known.known("a", "0", now=3.0)
