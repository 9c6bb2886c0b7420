"""The test's stand-in for the load balancer in front of the nodes: a TCP proxy that hands
each new connection to the next node in turn, skipping a node that refuses the connection
(a dead one), so a client that lost its node reconnects to the same address and lands on
another. It records which node each client connection went to (by the client's port)."""

from __future__ import annotations

import asyncio
import itertools
from urllib.parse import urlsplit


class NodeProxy:
    """`async with NodeProxy(["ws://127.0.0.1:p1", …]) as proxy:` — `proxy.url`."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = list(backends)
        self.routes: dict[int, str] = {}  # client's local port → backend URL
        self._turn = itertools.count()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _open(self) -> tuple[str, asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to the next backend that accepts one."""
        start = next(self._turn)
        for offset in range(len(self.backends)):
            backend = self.backends[(start + offset) % len(self.backends)]
            parts = urlsplit(backend)
            try:
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            except OSError:
                continue  # a dead node: try the next one
            return backend, reader, writer
        raise ConnectionRefusedError("no node accepts connections")

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            backend, up_reader, up_writer = await self._open()
        except OSError:
            writer.transport.abort()
            return
        self.routes[writer.get_extra_info("peername")[1]] = backend
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

    async def __aenter__(self) -> NodeProxy:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await self._server.wait_closed()
