"""A `Sender` that sends nothing: it records each message and answers from a script.

For tests of what drives senders (the server's dispatcher); the senders themselves are tested
against the local protocol peers under tests/peers/.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from push.message import Delivered, PushMessage, PushResult, Target

Answer = Callable[[PushMessage, Target], PushResult]


class RecordingSender:
    """Records `(message, target)` in order and answers with `answer` (default: delivered).
    `sent` wakes waiters on every send."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.answer: Answer = answer or (lambda _message, _target: Delivered())
        self.sent: list[tuple[PushMessage, Target]] = []
        self.closed = False
        self._changed = asyncio.Event()

    async def send(self, message: PushMessage, target: Target) -> PushResult:
        self.sent.append((message, target))
        self._changed.set()
        return self.answer(message, target)

    async def wait_for(self, count: int) -> None:
        """Until at least `count` messages were sent (wrap in `asyncio.timeout`)."""
        while len(self.sent) < count:
            self._changed.clear()
            await self._changed.wait()

    async def aclose(self) -> None:
        self.closed = True
