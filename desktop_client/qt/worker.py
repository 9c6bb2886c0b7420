"""Blocking work (the client's HTTP calls) off the Qt thread: the result comes back through a
signal's `emit`, which Qt queues to the receiver's thread, so the event loop never waits on the
network."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def in_thread(work: Callable[[], object], done: Callable[[object], None]) -> None:
    """Run blocking `work` on a daemon thread; `done` gets its result or the exception it
    raised (pass only a signal's `emit`: it is queued to the Qt thread)."""

    def run() -> None:
        try:
            result = work()
        except Exception as error:
            result = error
        try:
            done(result)
        except RuntimeError:  # the receiver was closed and deleted meanwhile
            log.debug("desktop: a result arrived after its receiver closed")

    threading.Thread(target=run, daemon=True).start()
