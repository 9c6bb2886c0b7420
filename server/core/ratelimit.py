"""Login throttling, pure: the caller passes `now` (monotonic seconds).

`AttemptLimiter` is a sliding window of attempts per key: a key may fail `limit` times
within any `window` seconds; after that `check` answers how many seconds remain until the
oldest failure leaves the window. Memory is bounded: each key keeps at most `limit`
timestamps, keys whose newest failure has left the window are dropped, and past `max_keys`
keys the least recently failed ones are evicted (an attacker flooding keys can then only
make the limiter forget, never exhaust memory).

`LoginThrottle` decides each login attempt before the password is verified:

- A login from a browser with a valid known-browser mark for the account
  (server/core/known_browsers.py), or from an address that logged in to the account within
  `known_address_seconds`, is never refused: failures elsewhere can't lock a leader out.
- Any other attempt is counted *before* verifying (argon2 is slow, and parallel guesses
  must not all pass one check before any is counted) against three windows: per
  (account, address), per account (over all addresses new to it) and per address (over
  all accounts it is new to: password spraying). Past any of them it is refused.
- A success refunds its own reservation, clears the (account, address) window and makes
  the address known for the account; a failure's reservation stays counted.

The state here lives in one process; with several nodes on a Redis bus the same windows are
kept in Redis instead (server/realtime/throttle.py), so the nodes count together.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable
from dataclasses import dataclass
from enum import StrEnum

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

    def refund(self, key: Hashable, *, at: float) -> None:
        """Take back the attempt of `key` counted at `at` (a reservation that succeeded)."""
        failures = self._failures.get(key)
        if failures is not None and at in failures:
            failures.remove(at)
            if not failures:
                del self._failures[key]

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


class Limit(StrEnum):
    """Which window refused a login attempt (logged)."""

    ACCOUNT_ADDRESS = "account_address"
    ACCOUNT = "account"
    ADDRESS = "address"


@dataclass(frozen=True)
class Refused:
    """Too many attempts: `limit` is full for `wait` more seconds (> 0)."""

    limit: Limit
    wait: float


@dataclass(frozen=True)
class Admitted:
    """May verify the password; `counted` when a reservation was taken at `at` (`mark`
    names it in a shared store, server/realtime/throttle.py; empty in memory)."""

    account: str
    address: str
    counted: bool
    at: float
    mark: str = ""


class KnownAddresses:
    """Which (account, address) pairs logged in successfully within `ttl` seconds."""

    def __init__(self, ttl: float, *, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self.ttl = float(ttl)
        self.max_keys = max_keys
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()  # oldest first

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, account: str, address: str, *, now: float) -> None:
        self._prune(now)
        self._seen[(account, address)] = now
        self._seen.move_to_end((account, address))
        while len(self._seen) > self.max_keys:
            self._seen.popitem(last=False)

    def known(self, account: str, address: str, *, now: float) -> bool:
        self._prune(now)
        return (account, address) in self._seen

    def _prune(self, now: float) -> None:
        while self._seen:
            pair, seen = next(iter(self._seen.items()))
            if seen > now - self.ttl:
                return
            del self._seen[pair]


class LoginThrottle:
    """Decides login attempts per (account, address), account and address; see the module."""

    def __init__(
        self,
        *,
        per_account_address: int,
        per_account: int,
        per_address: int,
        window: float,
        known_address_seconds: float,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        self.windows = {
            Limit.ACCOUNT_ADDRESS: AttemptLimiter(per_account_address, window, max_keys=max_keys),
            Limit.ACCOUNT: AttemptLimiter(per_account, window, max_keys=max_keys),
            Limit.ADDRESS: AttemptLimiter(per_address, window, max_keys=max_keys),
        }
        self.known_addresses = KnownAddresses(known_address_seconds, max_keys=max_keys)

    @staticmethod
    def _keys(account: str, address: str) -> dict[Limit, Hashable]:
        return {
            Limit.ACCOUNT_ADDRESS: (account, address),
            Limit.ACCOUNT: account,
            Limit.ADDRESS: address,
        }

    def admit(
        self, *, account: str, address: str, known_browser: bool, now: float
    ) -> Admitted | Refused:
        """Admit one attempt (counted unless the browser or address is known), or refuse it."""
        if known_browser or self.known_addresses.known(account, address, now=now):
            return Admitted(account=account, address=address, counted=False, at=now)
        return self.count(account=account, address=address, now=now)

    def count(self, *, account: str, address: str, now: float) -> Admitted | Refused:
        """Count one attempt in every window, or refuse it with the longest wait."""
        keys = self._keys(account, address)
        waits = [
            (wait, limit)
            for limit, limiter in self.windows.items()
            if (wait := limiter.check(keys[limit], now=now)) is not None
        ]
        if waits:
            wait, limit = max(waits)
            return Refused(limit=limit, wait=wait)
        for limit, limiter in self.windows.items():
            limiter.fail(keys[limit], now=now)
        return Admitted(account=account, address=address, counted=True, at=now)

    def succeeded(self, admitted: Admitted, *, now: float) -> None:
        """The password was right: refund the reservation and know the address."""
        keys = self._keys(admitted.account, admitted.address)
        if admitted.counted:
            for limit in (Limit.ACCOUNT, Limit.ADDRESS):
                self.windows[limit].refund(keys[limit], at=admitted.at)
            self.windows[Limit.ACCOUNT_ADDRESS].reset(keys[Limit.ACCOUNT_ADDRESS])
        self.known_addresses.add(admitted.account, admitted.address, now=now)
