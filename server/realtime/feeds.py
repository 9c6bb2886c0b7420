"""A throttled feed: mark a key dirty, and it is pushed — the first change at once, then at
most once per `min_interval`, and the last change always (trailing edge). The roll-call feed
(per alert) and the presence feed (per site) are both this.

    feed = ThrottledFeed(push, min_interval=0.25, name="rollcall")
    async with feed:
        feed.mark_dirty(key)        # never waits; push(key) runs in the feed's task for key
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class ThrottledFeed(Generic[K]):
    def __init__(
        self, push: Callable[[K], Awaitable[None]], *, min_interval: float, name: str
    ) -> None:
        if min_interval < 0:
            raise ValueError("min_interval must not be negative")
        self.push = push
        self.min_interval = min_interval
        self.name = name
        self._dirty: set[K] = set()
        self._tasks: dict[K, asyncio.Task[None]] = {}
        self._closed = False

    def mark_dirty(self, key: K) -> None:
        """`key` changed: push it now, or after the interval when it was pushed just now."""
        if self._closed:
            return
        self._dirty.add(key)
        if key not in self._tasks:
            self._tasks[key] = asyncio.create_task(self._run(key), name=f"{self.name}-{key}")

    async def _run(self, key: K) -> None:
        """Push while the key is dirty: at once, then at most once per `min_interval`."""
        try:
            while key in self._dirty:
                self._dirty.discard(key)  # before reading: a later change marks it again
                try:
                    await self.push(key)
                except Exception:
                    log.exception("%s push of %s failed", self.name, key)
                await asyncio.sleep(self.min_interval)
        finally:
            self._tasks.pop(key, None)

    async def __aenter__(self) -> ThrottledFeed[K]:
        self._closed = False
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closed = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()  # a task cancelled before its first step never ran its finally
        self._dirty.clear()
