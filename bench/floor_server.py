"""The Python floor: the least a Python asyncio server can do to fan one frame out to N
WebSockets. `fanout.py --floor python` uses it; the default floor is bench/floor_epoll.c
(the least any server can do: one send() per socket from C), which speaks the same protocol.

    python bench/floor_server.py [--host 127.0.0.1] [--port 0]

A bare `asyncio.Protocol` with a hand-rolled RFC 6455 handshake (no extensions: the client's
permessage-deflate offer is declined, as pdv-alert does). The first frame a client sends
(its `hello`, never parsed) is answered with a pre-encoded `welcome`; a close frame is
answered by closing. On `fire KEY` (a line on stdin from the driver: no HTTP, no database)
the frame loaded under KEY is written to every socket with `transport.write`, in one loop,
with the garbage collector paused, like the real hub. It runs on the same event loop as
`pdv-alert serve` (the stdlib asyncio loop), so the comparison is like for like.

stdin: `load KEY HEX` (a complete frame), `fire KEY`, `count`, `quit`.
stdout: `floor listening on PORT`, `loaded KEY`, `fired KEY N T_START T_END`, `count N`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import hashlib
import resource
import sys
import time
from typing import ClassVar

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HANDSHAKE = 16 * 1024
WELCOME = (
    b'{"type":"welcome","v":1,"recovered":false,"epoch":"floor","seq":0,"active":[],'
    b'"events":[],"heartbeat_s":20.0}'
)


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented text frame (same bytes `websockets` would produce)."""
    size = len(payload)
    if size < 126:
        header = bytes([0x81, size])
    elif size < 1 << 16:
        header = bytes([0x81, 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([0x81, 127]) + size.to_bytes(8, "big")
    return header + payload


WELCOME_FRAME = text_frame(WELCOME)
CLOSE_FRAME = bytes([0x88, 0x02]) + (1000).to_bytes(2, "big")


class Floor(asyncio.Protocol):
    """One connection: handshake, answer the first frame with a welcome, then only listen."""

    live: ClassVar[set[asyncio.WriteTransport]] = set()

    def __init__(self) -> None:
        self.transport: asyncio.WriteTransport | None = None
        self.buffer = b""
        self.state = "handshake"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        assert transport is not None
        if self.state == "handshake":
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HANDSHAKE:
                    transport.close()
                return
            key = b""
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"sec-websocket-key":
                    key = value.strip()
            if not key:
                transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                transport.close()
                return
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            self.state = "hello"
            rest = self.buffer[end + 4 :]
            self.buffer = b""
            if not rest:
                return
            data = rest
        if self.state == "hello":
            transport.write(WELCOME_FRAME)
            self.state = "live"
            Floor.live.add(transport)
            return
        if data and data[0] & 0x0F == 0x8:  # a close frame (any other frame is ignored)
            transport.write(CLOSE_FRAME)
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            Floor.live.discard(self.transport)


def fire(frame: bytes) -> tuple[int, float, float]:
    start = time.clock_gettime(time.CLOCK_MONOTONIC)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        written = 0
        for transport in Floor.live:
            transport.write(frame)
            written += 1
    finally:
        if gc_was_enabled:
            gc.enable()
    return written, start, time.clock_gettime(time.CLOCK_MONOTONIC)


async def main(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Floor, host, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(f"floor listening on {bound}", flush=True)
    frames: dict[str, bytes] = {}
    while line := await reader.readline():
        words = line.decode().split()
        if not words:
            continue
        if words[0] == "load":
            frames[words[1]] = bytes.fromhex(words[2])
            print(f"loaded {words[1]}", flush=True)
        elif words[0] == "fire":
            written, start, end = fire(frames[words[1]])
            print(f"fired {words[1]} {written} {start:.9f} {end:.9f}", flush=True)
        elif words[0] == "count":
            print(f"count {len(Floor.live)}", flush=True)
        elif words[0] == "quit":
            break
    server.close()
    for transport in list(Floor.live):
        transport.abort()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the fan-out floor server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    asyncio.run(main(args.host, args.port))
