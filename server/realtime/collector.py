"""The garbage collector's schedule. Each live connection holds about a hundred objects the
collector tracks, so with 10,000 connections a full pass walks over a million objects and
stops the event loop for 0.5–3 s (measured in bench/). Alerts must not wait for that.

So: young generations are collected less often (higher thresholds: a connect storm causes a
handful of passes instead of thousands), the oldest generation only rarely on its own, and a
full pass is run deliberately when the node is quiet — no fan-out for `quiet` seconds — at
most every `interval` seconds, which bounds the cyclic garbage left by closed connections.
The hub also pauses the collector during each fan-out, and start-up objects are frozen
(server/app.py)."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

from server.realtime.hub import Hub

log = logging.getLogger(__name__)

THRESHOLDS = (50_000, 20, 100)


class QuietCollector:
    def __init__(self, *, hub: Hub, interval: float = 600.0, quiet: float = 120.0) -> None:
        self.hub = hub
        self.interval = interval
        self.quiet = quiet
        self._previous = gc.get_threshold()
        self._task: asyncio.Task[None] | None = None
        self.passes = 0

    def collect_if_quiet(self) -> bool:
        """Run a full pass now if nothing was fanned out for `quiet` seconds."""
        if time.monotonic() - self.hub.last_fan_out < self.quiet:
            return False
        started = time.perf_counter()
        found = gc.collect()
        self.passes += 1
        log.info(
            "quiet-time collection: %d objects in %.0f ms",
            found,
            (time.perf_counter() - started) * 1000,
        )
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.collect_if_quiet()

    async def __aenter__(self) -> QuietCollector:
        gc.set_threshold(*THRESHOLDS)
        self._task = asyncio.create_task(self._run(), name="quiet-collector")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        gc.set_threshold(*self._previous)
