"""A sliding-window limiter of failed attempts (logins), pure: the caller passes `now`.

A key (an e-mail address, a client IP) may fail `limit` times within any `window` seconds;
after that `check` answers how many seconds remain until the oldest failure leaves the
window. Memory is bounded: each key keeps at most `limit` timestamps, keys whose newest
failure has left the window are dropped, and past `max_keys` keys the least recently failed
ones are evicted (an attacker flooding keys can then only make the limiter forget, never
exhaust memory).

The limiter lives in one process: with several nodes behind a proxy each node counts on
its own, so the effective limit is `limit` times the number of nodes.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable

DEFAULT_MAX_KEYS = 100_000


class AttemptLimiter:
    """At most `limit` failures per key within any `window` seconds (monotonic time)."""

    def __init__(self, limit: int, window: float, *, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if window <= 0:
            raise ValueError("window must be positive")
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.limit = limit
        self.window = float(window)
        self.max_keys = max_keys
        # Least recently failed first: a failure moves its key to the end.
        self._failures: OrderedDict[Hashable, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        """How many keys are remembered."""
        return len(self._failures)

    def check(self, key: Hashable, *, now: float) -> float | None:
        """None when `key` may try now, else the seconds until it may (always > 0)."""
        self._prune(now)
        failures = self._failures.get(key)
        if failures is None or len(failures) < self.limit:
            return None
        wait = failures[0] + self.window - now
        return wait if wait > 0 else None

    def fail(self, key: Hashable, *, now: float) -> None:
        """Count one failed attempt of `key` at `now`."""
        self._prune(now)
        failures = self._failures.get(key)
        if failures is None:
            failures = deque(maxlen=self.limit)
            self._failures[key] = failures
        else:
            self._failures.move_to_end(key)
        failures.append(now)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def reset(self, key: Hashable) -> None:
        """Forget every failure of `key` (after a successful attempt)."""
        self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        """Drop keys whose newest failure has left the window (oldest keys come first)."""
        horizon = now - self.window
        while self._failures:
            key, failures = next(iter(self._failures.items()))
            if failures[-1] > horizon:
                return
            del self._failures[key]
