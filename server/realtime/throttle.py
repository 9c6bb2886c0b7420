"""Login throttling shared by every node of an installation: the windows of
server/core/ratelimit.py kept in the bus's Redis, so N nodes behind a proxy allow an attacker
the same attempts as one (`RedisThrottle`, chosen when `bus_url` is a Redis URL; the
in-memory `NodeThrottle` of server/services/auth.py otherwise).

Each window is a sorted set of attempt times under `pdv-alert:<namespace>:login:…`, with the
same rules as `AttemptLimiter` (at most `limit` failures within `window` seconds; the wait is
until the oldest of the last `limit` leaves the window), decided and counted by one Lua
script per attempt, so parallel guesses on several nodes can't all pass one check. Time is
the Redis server's, one clock for every node. Known addresses are keys that expire after
`login_known_address_hours`. Keys expire with their window: memory stays bounded.

When Redis can't be reached a login is never refused for it: the attempt is decided by this
node's memory (logged at WARNING), as without Redis — leaders must be able to log in.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from server.core.ratelimit import Admitted, Limit, LoginThrottle, Refused
from server.realtime.bus import REDIS_SCHEMES, redis_client
from server.services.auth import LoginLimits, NodeThrottle, Throttle
from server.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

WINDOWS = (Limit.ACCOUNT_ADDRESS, Limit.ACCOUNT, Limit.ADDRESS)

# KEYS: the three windows (WINDOWS order), the known-address key.
# ARGV: window seconds, the three limits, a unique mark, 1 to honour the known address.
# Returns {1, time, counted} when admitted, {0, window index, wait} when refused.
_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
if ARGV[6] == '1' and redis.call('EXISTS', KEYS[4]) == 1 then
  return {1, tostring(now), 0}
end
local worst, worst_i = 0, 0
for i = 1, 3 do
  local limit = tonumber(ARGV[1 + i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(limit + 1))
  if redis.call('ZCARD', KEYS[i]) >= limit then
    local oldest = tonumber(redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')[2])
    local wait = oldest + window - now
    if wait > worst then worst, worst_i = wait, i end
  end
end
if worst_i > 0 then
  return {0, worst_i, tostring(worst)}
end
for i = 1, 3 do
  redis.call('ZADD', KEYS[i], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[i], math.ceil(window * 1000))
end
return {1, tostring(now), 1}
"""

# KEYS: the three windows, the known-address key. ARGV: the mark ('' if not counted),
# the known-address lifetime in milliseconds (0: none).
_SUCCEEDED = """
if ARGV[1] ~= '' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('DEL', KEYS[1])
end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[4], '1', 'PX', ARGV[2])
end
return 1
"""


class RedisThrottle:
    """The `Throttle` (server/services/auth.py) kept in Redis; see the module."""

    def __init__(
        self,
        redis: Redis,
        *,
        namespace: str,
        per_account_address: int,
        per_account: int,
        per_address: int,
        window: float,
        known_address_seconds: float,
        fallback: NodeThrottle,
    ) -> None:
        self.redis = redis
        self.prefix = f"pdv-alert:{namespace}:login"
        self.limits = (per_account_address, per_account, per_address)
        self.window = float(window)
        self.known_address_ms = int(known_address_seconds * 1000)
        self.fallback = fallback
        self._count = redis.register_script(_COUNT)
        self._succeeded = redis.register_script(_SUCCEEDED)

    def _keys(self, account: str, address: str) -> list[str]:
        return [
            f"{self.prefix}:account_address:{account}\x00{address}",
            f"{self.prefix}:account:{account}",
            f"{self.prefix}:address:{address}",
            f"{self.prefix}:known:{account}\x00{address}",
        ]

    async def _decide(
        self, *, account: str, address: str, honour_known: bool
    ) -> Admitted | Refused | None:
        """The shared decision, or None when Redis did not answer."""
        mark = secrets.token_hex(8)
        try:
            answer = await self._count(
                keys=self._keys(account, address),
                args=[self.window, *self.limits, mark, "1" if honour_known else "0"],
            )
        except Exception as exc:  # an outage must never keep a leader out
            log.warning("login throttle: Redis unreachable (%s); counting on this node", exc)
            return None
        admitted, second, third = answer
        if int(admitted):
            counted = bool(int(third))
            return Admitted(
                account=account,
                address=address,
                counted=counted,
                at=float(second),
                mark=mark if counted else "",
            )
        return Refused(limit=WINDOWS[int(second) - 1], wait=float(third))

    async def admit(self, *, account: str, address: str, known_browser: bool) -> Admitted | Refused:
        if known_browser:
            return Admitted(account=account, address=address, counted=False, at=0.0)
        decision = await self._decide(account=account, address=address, honour_known=True)
        if decision is None:
            return await self.fallback.admit(
                account=account, address=address, known_browser=known_browser
            )
        return decision

    async def count(self, *, account: str, address: str) -> Admitted | Refused:
        decision = await self._decide(account=account, address=address, honour_known=False)
        if decision is None:
            return await self.fallback.count(account=account, address=address)
        return decision

    async def succeeded(self, admitted: Admitted) -> None:
        if admitted.counted and not admitted.mark:  # decided by the fallback
            await self.fallback.succeeded(admitted)
            return
        try:
            await self._succeeded(
                keys=self._keys(admitted.account, admitted.address),
                args=[admitted.mark, self.known_address_ms],
            )
        except Exception as exc:
            log.warning("login throttle: Redis unreachable (%s); success not recorded", exc)

    async def aclose(self) -> None:
        await self.redis.aclose()


def login_limits_from(settings: Settings) -> LoginLimits:
    """The node's login limits: counted in Redis when `bus_url` is a Redis URL (shared by
    the nodes), else in this process's memory."""
    node = NodeThrottle(
        LoginThrottle(
            per_account_address=settings.login_attempts_per_account_address,
            per_account=settings.login_attempts_per_account,
            per_address=settings.login_attempts_per_ip,
            window=float(settings.login_window_seconds),
            known_address_seconds=settings.login_known_address_hours * 3600,
        )
    )
    throttle: Throttle = node
    if settings.bus_url.startswith(REDIS_SCHEMES):
        throttle = RedisThrottle(
            redis_client(settings.bus_url),
            namespace=settings.bus_channel_namespace(),
            per_account_address=settings.login_attempts_per_account_address,
            per_account=settings.login_attempts_per_account,
            per_address=settings.login_attempts_per_ip,
            window=float(settings.login_window_seconds),
            known_address_seconds=settings.login_known_address_hours * 3600,
            fallback=node,
        )
    return LoginLimits(
        throttle=throttle,
        secret=settings.secret_key,
        known_browser_seconds=settings.login_known_browser_days * 86400,
    )
