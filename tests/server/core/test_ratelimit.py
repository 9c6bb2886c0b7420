"""The sliding-window attempt limiter (pure: time is passed in)."""

from __future__ import annotations

import pytest

from server.core.ratelimit import AttemptLimiter


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
