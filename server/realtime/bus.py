"""The bus between nodes, chosen by URL: `memory://` (one node) or `redis://…` (pub/sub).

It only signals (`server.realtime.signals`: "organization 3 has an event with seq 41",
"device 9 is revoked"); the receiving node reads the events themselves from the database. A
node that misses signals (a Redis restart) still catches up: on reconnecting the bus hands it
`Reconnected`, and the hub compares its seq with the database every tick. A URL of another
scheme, or one Redis cannot parse, is refused at start-up (`BusUrlError`).

Redis pub/sub channels are global to a Redis server (the database number in the URL does not
separate them), so the channel is named after the installation's namespace
(`Settings.bus_channel_namespace()`): two installations on one Redis never hear each other.
After a lost connection every node retries with jittered backoff (`reconnect_delay`), so the
nodes of an installation do not all reconnect in the same instant.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext, suppress
from typing import TYPE_CHECKING, Any, Protocol

from server import metrics
from server.realtime.batches import retry_delay
from server.realtime.signals import (
    EventSignal,
    Reconnected,
    RollCallSignal,
    Signal,
    SignalError,
    decode,
    encode,
)
from server.realtime.tasks import stop
from server.services.sink import EventSink, NullSink

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

READY_TIMEOUT = 1.0  # seconds /api/v1/ready waits for Redis to answer a PING
SENT_REMEMBERED = 1000  # own signals awaiting their echo, for the lag metric
ECHO_GIVE_UP = 60.0  # seconds after which an own signal's echo is no longer awaited
RECONNECT_INITIAL_S = 0.2
RECONNECT_MAX_S = 5.0
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# (signal, the node that sent it); a node ignores its own signals, it handled them already.
Handler = Callable[[Signal, str], Awaitable[None]]


class BusUrlError(ValueError):
    """The bus URL is not memory:// or a Redis URL that parses."""


def _node_id() -> str:
    return uuid.uuid4().hex[:12]


def channel(namespace: str) -> str:
    """The Redis channel of the installation whose namespace is `namespace`."""
    return f"pdv-alert:{namespace}:signals"


def reconnect_delay(attempt: int, jitter: float) -> float:
    """Seconds before reconnect number `attempt` (0-based) to Redis: 0.2 s doubling up to
    5 s, then equal jitter (uniformly within [base/2, base]; `jitter` is uniform in [0, 1)),
    so nodes that lost Redis together come back spread out."""
    base = retry_delay(attempt, initial=RECONNECT_INITIAL_S, cap=RECONNECT_MAX_S)
    return base * (0.5 + jitter / 2)


class Bus(Protocol):
    node_id: str
    kind: str  # "memory" or "redis", as /api/v1/ready names it

    async def publish(self, signal: Signal) -> None: ...
    async def ready(self) -> bool: ...
    async def __aenter__(self) -> Bus: ...
    async def __aexit__(self, *exc: object) -> None: ...


class MemoryBus:
    """One node: signals go straight to this node's handler."""

    kind = "memory"

    def __init__(self, handler: Handler) -> None:
        self.node_id = _node_id()
        self._handler = handler

    async def publish(self, signal: Signal) -> None:
        await self._handler(signal, self.node_id)

    async def ready(self) -> bool:
        """In-process: always ready."""
        return True

    async def __aenter__(self) -> MemoryBus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class RedisBus:
    """Redis pub/sub; reconnects with backoff and tells the handler when it (re)connects so
    the node can catch up on what it missed."""

    kind = "redis"

    def __init__(self, url: str, handler: Handler, *, namespace: str) -> None:
        self.node_id = _node_id()
        self.channel = channel(namespace)
        self._redis = redis_client(url)
        # The subscription must see every lost connection (to catch up after it), so its
        # client does not reconnect silently the way a publishing command is retried.
        self._subscriber = redis_client(url, retry=False)
        self._handler = handler
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        # Our own signals come back from Redis too: the time until they do is the bus lag.
        self._sent: dict[bytes, float] = {}
        self.reconnects = 0  # connections lost (observability, tests)

    async def publish(self, signal: Signal) -> None:
        data = encode(signal, node=self.node_id).encode()
        now = time.perf_counter()
        if len(self._sent) >= SENT_REMEMBERED:  # echoes that never came (a lost subscription)
            self._sent = {d: t for d, t in self._sent.items() if now - t < ECHO_GIVE_UP}
        if len(self._sent) < SENT_REMEMBERED:
            self._sent[data] = now
        try:
            await self._redis.publish(self.channel, data)
        except Exception:  # the database is the record; peers catch up on their tick
            self._sent.pop(data, None)
            log.exception("bus publish failed")

    async def ready(self) -> bool:
        """Redis answers a PING within READY_TIMEOUT."""
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                return bool(await self._redis.ping())
        except Exception:  # unreachable, refused, timed out: not ready
            return False

    async def _deliver(self, data: bytes) -> None:
        sent = self._sent.pop(data, None)
        if sent is not None:
            metrics.BUS_LAG.observe(time.perf_counter() - sent)
        try:
            node, signal = decode(data)
        except SignalError as exc:
            log.warning("ignored a bus message that is no signal: %s", exc)
            return
        await self._handler(signal, node)

    async def _listen(self) -> None:
        attempt = 0
        while True:
            try:
                async with self._subscriber.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self.connected.set()
                    attempt = 0
                    await self._handler(Reconnected(), self.node_id)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            await self._deliver(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.connected.is_set():
                    self.reconnects += 1
                self.connected.clear()
                self._sent.clear()  # lost with the connection: no echo will come
                metrics.BUS_RECONNECTS.inc()
                delay = reconnect_delay(attempt, random.random())
                log.warning("bus connection lost (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                attempt += 1

    async def __aenter__(self) -> RedisBus:
        self._task = asyncio.create_task(self._listen(), name="redis-bus")
        try:
            await asyncio.wait_for(self.connected.wait(), timeout=5)
        except TimeoutError:
            log.error("bus not connected yet; continuing, nodes catch up from the database")
        return self

    async def __aexit__(self, *exc: object) -> None:
        with suppress(Exception):  # the listener's own failure ends with it
            await stop(self._task)
        await self._subscriber.aclose()
        await self._redis.aclose()


class RedisPublisher:
    """Publishes signals to Redis and listens to nothing: for processes without a realtime
    layer (the CLI). Unlike the bus, a failed publish raises."""

    def __init__(self, url: str, *, namespace: str) -> None:
        self.node_id = _node_id()
        self.channel = channel(namespace)
        self._redis = redis_client(url)

    async def publish(self, signal: Signal) -> None:
        await self._redis.publish(self.channel, encode(signal, node=self.node_id))

    async def __aenter__(self) -> RedisPublisher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._redis.aclose()


class BusSink:
    """The post-commit sink of a process without a realtime layer (the CLI), as an
    `async with` resource: each committed event becomes an `event` signal, so the nodes fan
    it out at once instead of on their catch-up tick, and committed receipts a `rollcall`
    signal. Nothing else is signalled."""

    def __init__(self, url: str, *, namespace: str) -> None:
        self._publisher = RedisPublisher(url, namespace=namespace)

    async def event_committed(self, organization_id: int, event: dict[str, Any]) -> None:
        await self._publisher.publish(EventSignal(org=organization_id, seq=int(event["seq"])))

    async def device_revoked(self, device_id: int) -> None:
        return None

    async def person_signed_out(self, person_id: int) -> None:
        return None

    async def session_closed(self, session_hash: str) -> None:
        return None

    async def person_rights_changed(self, person_id: int) -> None:
        return None

    async def device_rebound(self, device_id: int) -> None:
        return None

    async def receipts_committed(self, organization_id: int, alert_ids: tuple[int, ...]) -> None:
        await self._publisher.publish(RollCallSignal(org=organization_id, alerts=alert_ids))

    async def __aenter__(self) -> BusSink:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._publisher.__aexit__(*exc)


def publishing_sink(url: str, *, namespace: str) -> AbstractAsyncContextManager[EventSink]:
    """The sink for a tool: `BusSink` on a Redis bus, `NullSink` on memory:// (no other
    process can hear it). Raises BusUrlError at once for any other URL."""
    if url.startswith("memory://"):
        return nullcontext(NullSink())
    return BusSink(url, namespace=namespace)


def redis_client(url: str, *, retry: bool = True) -> Redis:
    """A Redis client for `url` (nothing connects yet); BusUrlError when it does not parse.

    With `retry` a command on a pooled connection that Redis closed (it restarted) is sent
    again on a new one, twice at most with a short jittered backoff; without that the first
    signal after a Redis restart was lost (tests/server/nodes/). Without `retry` every lost
    connection raises (a subscription must know). Connecting gives up after 2 s."""
    from redis import asyncio as redis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialWithJitterBackoff, NoBackoff

    if not url.startswith(REDIS_SCHEMES):
        raise BusUrlError(f"unsupported bus URL (use memory:// or redis://host:port): {url!r}")
    try:
        if not retry:
            return redis.from_url(url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2)
        return redis.from_url(
            url,
            retry=Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), 2),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
            socket_connect_timeout=2,
        )
    except ValueError as exc:
        raise BusUrlError(f"invalid bus URL {url!r}: {exc}") from None


def create_bus(url: str, handler: Handler, *, namespace: str) -> MemoryBus | RedisBus:
    """The bus for `url`: memory:// or redis://… on the channel of `namespace`;
    BusUrlError for anything else."""
    if url.startswith("memory://"):
        return MemoryBus(handler)
    return RedisBus(url, handler, namespace=namespace)
