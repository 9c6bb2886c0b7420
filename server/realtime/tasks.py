"""Background tasks that a lifecycle object owns: stopping one.

A loop that is cancelled but not awaited may still be inside a write when its owner goes on
to close the database pool or the Redis client; awaiting it until it has really stopped
makes `__aexit__` mean "nothing of mine runs any more"."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def stop(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` (if any) and wait until it has finished; its cancellation is expected,
    so it is not raised here."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
