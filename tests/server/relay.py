"""A TCP relay on 127.0.0.1 for tests that need a network between two real processes: the
load balancer in front of several nodes (tests/server/nodes/) and the link between a node
and Redis that a test cuts and restores (tests/server/realtime/test_bus.py).

Each new connection goes to the next target in turn; a target that refuses it (a dead
node) is skipped, so a client that lost its node reconnects to the same address and lands
on another. When either side of a relayed connection goes, so does the other (as after a
crash). The relay records which target each client connection went to (by the client's
port) and how many it accepted."""

from __future__ import annotations

import asyncio
import itertools
from urllib.parse import urlsplit

DEFAULT_PORTS = {"redis": 6379, "ws": 80, "http": 80}


class Relay:
    """`async with Relay(["ws://127.0.0.1:p1", …]) as relay:` — `relay.url` has the first
    target's scheme and path on the relay's port; `cut()` and `restore()` the network."""

    def __init__(self, targets: list[str]) -> None:
        if not targets:
            raise ValueError("a relay needs a target")
        self.targets = list(targets)
        first = urlsplit(self.targets[0])
        self._scheme, self._path = first.scheme, first.path
        self.routes: dict[int, str] = {}  # client's local port → target URL
        self.accepted = 0  # connections relayed so far
        self.port = 0
        self._turn = itertools.count()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}{self._path}"

    async def restore(self) -> None:
        """Listen (again, on the same port after a cut)."""
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Stop accepting and drop every open connection (both directions)."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _open(self) -> tuple[str, asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to the next target that accepts one."""
        start = next(self._turn)
        for offset in range(len(self.targets)):
            target = self.targets[(start + offset) % len(self.targets)]
            parts = urlsplit(target)
            try:
                reader, writer = await asyncio.open_connection(
                    parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORTS[parts.scheme]
                )
            except OSError:
                continue  # a dead target: try the next one
            return target, reader, writer
        raise ConnectionRefusedError("no target accepts connections")

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            target, up_reader, up_writer = await self._open()
        except OSError:
            writer.transport.abort()
            return
        self.routes[writer.get_extra_info("peername")[1]] = target
        self._writers.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()  # one side gone: so is the other (as after a crash)

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._writers.difference_update((writer, up_writer))

    async def __aenter__(self) -> Relay:
        await self.restore()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None and self._server.is_serving():
            await self.cut()
