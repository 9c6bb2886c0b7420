"""Process-wide control of the garbage collector, in one place, behind the `gc_tuning` setting.

Each live connection holds about a hundred objects the collector tracks, so with 10,000
connections a full pass walks over a million objects and stops the event loop for 0.5–3 s
(measured in bench/). Alerts must not wait for that. With `gc_tuning` on (the default):

- start-up objects are frozen (`freeze_start_up`), so passes have less to walk;
- young generations are collected less often (`THRESHOLDS`: a connect storm causes a handful
  of passes instead of thousands), the oldest generation only rarely on its own;
- a full pass is run deliberately when the node is quiet — no fan-out for `quiet` seconds —
  at most every `interval` seconds (`QuietCollector`), which bounds the cyclic garbage left
  by closed connections;
- a fan-out may pause the collector while it writes (`paused`).

With it off, none of this touches the process's collector. The collector is one per process,
so the switch is too: `tuning(enabled=…)` sets it for the life of an app (server/app.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

log = logging.getLogger(__name__)

THRESHOLDS = (50_000, 20, 100)
_enabled = True  # the process's setting; `tuning()` sets it from settings.gc_tuning


def enabled() -> bool:
    """Whether collector tuning is on in this process."""
    return _enabled


@contextmanager
def tuning(*, enabled: bool) -> Iterator[None]:
    """Collector tuning on or off while inside; the previous choice is restored after."""
    global _enabled
    previous, _enabled = _enabled, enabled
    try:
        yield
    finally:
        _enabled = previous


def freeze_start_up() -> None:
    """Keep the objects alive now (start-up: they live as long as the process) out of every
    future collector pass, so a pass during a fan-out has little to walk."""
    if _enabled:
        gc.freeze()


@contextmanager
def paused() -> Iterator[None]:
    """No collector pass inside (a fan-out's write loop); nothing changes when tuning is off
    or the collector was already disabled."""
    if not _enabled or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class FanOutClock(Protocol):
    """What the quiet collector needs of the hub: when it last fanned out (monotonic)."""

    @property
    def last_fan_out(self) -> float: ...


class QuietCollector:
    """Raised thresholds while running, and full passes only when the node is quiet; does
    nothing when tuning is off."""

    def __init__(self, *, hub: FanOutClock, interval: float = 600.0, quiet: float = 120.0) -> None:
        self.hub = hub
        self.interval = interval
        self.quiet = quiet
        self._previous: tuple[int, int, int] | None = None
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
        if not _enabled:
            return self
        self._previous = gc.get_threshold()
        gc.set_threshold(*THRESHOLDS)
        self._task = asyncio.create_task(self._run(), name="quiet-collector")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._previous is not None:
            gc.set_threshold(*self._previous)
            self._previous = None
