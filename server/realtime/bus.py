"""The bus between nodes, chosen by URL: `memory://` (one node) or `redis://…` (pub/sub).

It only signals ("organization 3 has an event with seq 41", "device 9 is revoked"); the
receiving node reads the events themselves from the database. A node that misses signals
(a Redis restart) still catches up: the hub compares its seq with the database every tick.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

CHANNEL = "pdv-alert:signals"
Handler = Callable[[dict[str, Any]], Awaitable[None]]


class Bus(Protocol):
    node_id: str

    async def publish(self, signal: dict[str, Any]) -> None: ...
    async def __aenter__(self) -> Bus: ...
    async def __aexit__(self, *exc: object) -> None: ...


class MemoryBus:
    """One node: signals go straight to this node's handler."""

    def __init__(self, handler: Handler) -> None:
        self.node_id = uuid.uuid4().hex[:12]
        self._handler = handler

    async def publish(self, signal: dict[str, Any]) -> None:
        await self._handler({**signal, "node": self.node_id})

    async def __aenter__(self) -> MemoryBus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class RedisBus:
    """Redis pub/sub; reconnects with backoff and tells the handler when it (re)connects so
    the node can catch up on what it missed."""

    def __init__(self, url: str, handler: Handler) -> None:
        from redis import asyncio as redis

        self.node_id = uuid.uuid4().hex[:12]
        self._redis = redis.from_url(url)
        self._handler = handler
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def publish(self, signal: dict[str, Any]) -> None:
        payload = json.dumps({**signal, "node": self.node_id})
        try:
            await self._redis.publish(CHANNEL, payload)
        except Exception:  # the database is the record; peers catch up on their tick
            log.exception("bus publish failed")

    async def _listen(self) -> None:
        delay = 0.2
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.connected.set()
                    delay = 0.2
                    await self._handler({"type": "reconnected", "node": self.node_id})
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        try:
                            signal = json.loads(message["data"])
                        except ValueError:
                            continue
                        await self._handler(signal)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected.clear()
                log.warning("bus connection lost (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def __aenter__(self) -> RedisBus:
        self._task = asyncio.create_task(self._listen(), name="redis-bus")
        try:
            await asyncio.wait_for(self.connected.wait(), timeout=5)
        except TimeoutError:
            log.error("bus not connected yet; continuing, nodes catch up from the database")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self._redis.aclose()


def create_bus(url: str, handler: Handler) -> MemoryBus | RedisBus:
    if url.startswith("memory://"):
        return MemoryBus(handler)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBus(url, handler)
    raise ValueError(f"unsupported bus URL (use memory:// or redis://): {url}")
