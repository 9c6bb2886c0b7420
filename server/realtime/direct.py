"""One frame to many sockets, the loop over the sockets in C.

The fan-out's cost next to a server in C was the interpreter's work per connection around
each `send` (`transport.write` is Python): about 2 µs per connection, a fifth of the loop
(bench/README.md, "where the loop's time goes"). Here the frame goes to every socket that
may take it straight away by `map(os.write, …)`, and only what the kernel did not take is
handed to the connection's transport, which keeps it in order and sends it when the socket
drains.

A socket may take a frame straight away while its connection says so: `direct_fd` is the
descriptor while the connection is open, its transport holds no byte ahead of the frame and
is not closing, else -1 (server/realtime/wsprotocol.py keeps it; the descriptor is forgotten
before asyncio closes the socket, so a descriptor the kernel hands to a later connection is
never written to by mistake).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Sequence
from itertools import repeat
from typing import Protocol


class Writable(Protocol):
    """What is written to: server/realtime/wsprotocol.py's WebSocket."""

    @property
    def direct_fd(self) -> int: ...
    @property
    def transport(self) -> asyncio.WriteTransport: ...


def write_all(connections: Sequence[Writable], frame: bytes) -> list[Writable]:
    """Write `frame` once to each connection (all open: the caller has checked); answers the
    connections whose transport now holds bytes, for the caller's slow-consumer check."""
    direct = [c for c in connections if c.direct_fd >= 0]
    queued: list[Writable] = []
    if len(direct) < len(connections):
        for connection in connections:
            if connection.direct_fd < 0:
                connection.transport.write(frame)
                queued.append(connection)
    results = _each(map(os.write, [c.direct_fd for c in direct], repeat(frame)))
    size = len(frame)
    if results.count(size) < len(results):  # a short write, or an error: rare
        for connection, result in zip(direct, results, strict=True):
            if isinstance(result, OSError):  # nothing was written; the transport decides
                connection.transport.write(frame)  # (retry later, or the error's close)
                queued.append(connection)
            elif result != size:
                connection.transport.write(frame[result:])
                queued.append(connection)
    return queued


def _each(writes: Iterator[int]) -> list[int | OSError]:
    """Every write's result, an error in place of the bytes count where one failed (the
    iterator goes on after an error)."""
    done: list[int | OSError] = []
    while True:
        try:
            done.extend(writes)
            return done
        except OSError as error:
            done.append(error)
