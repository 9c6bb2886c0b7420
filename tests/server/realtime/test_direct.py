"""server/realtime/direct.py over real sockets and asyncio's own transports: every byte of
the frame reaches every peer, in order, whether the kernel took it at once, in part, not at
all, or the peer is gone."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from server.realtime.direct import write_all


@dataclass
class Peer:
    """Our end of a socket pair as the hub sees a connection, and the other end to read."""

    transport: asyncio.WriteTransport
    other: socket.socket
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    direct_fd: int = -1


class Quiet(asyncio.Protocol):
    def __init__(self, lost: asyncio.Event) -> None:
        self.lost = lost

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()


class Pairs:
    """Socket pairs whose first end is served by asyncio's socket transport."""

    def __init__(self) -> None:
        self.made: list[Peer] = []

    async def make(self, send_buffer: int = 0) -> Peer:
        ours, other = socket.socketpair()
        if send_buffer:
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        other.setblocking(False)
        lost = asyncio.Event()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_accepted_socket(lambda: Quiet(lost), ours)
        peer = Peer(transport, other, lost, direct_fd=ours.fileno())
        self.made.append(peer)
        return peer


@pytest.fixture
async def pairs() -> AsyncIterator[Pairs]:
    made = Pairs()
    yield made
    for peer in made.made:
        peer.transport.abort()
        peer.other.close()


async def read_exactly(peer: Peer, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    got = bytearray()
    while len(got) < size:
        got += await asyncio.wait_for(loop.sock_recv(peer.other, size - len(got)), 10)
    return bytes(got)


async def test_every_socket_gets_the_frame_at_once(pairs: Pairs) -> None:
    group = [await pairs.make() for _ in range(5)]
    frame = b"\x81\x05hello"
    assert write_all(group, frame) == []
    for peer in group:
        assert peer.other.recv(100) == frame
        assert peer.transport.get_write_buffer_size() == 0


async def test_a_connection_without_direct_fd_gets_it_through_its_transport(pairs: Pairs) -> None:
    direct, indirect = await pairs.make(), await pairs.make()
    indirect.direct_fd = -1  # e.g. its transport holds bytes: the frame must queue behind
    indirect.transport.write(b"first ")
    frame = b"second"
    assert write_all([direct, indirect], frame) == [indirect]
    assert await read_exactly(indirect, 12) == b"first second"
    assert await read_exactly(direct, 6) == frame


async def test_what_the_kernel_does_not_take_is_queued_in_order(pairs: Pairs) -> None:
    small = await pairs.make(send_buffer=4096)  # the other end does not read yet
    frame = bytes(range(256)) * 4096  # 1 MiB: more than the socket buffers hold
    assert write_all([small], frame) == [small]
    assert small.transport.get_write_buffer_size() > 0  # the rest waits in the transport
    # A socket that is full takes nothing at all: that write fails and is queued whole.
    assert write_all([small], b"next") == [small]
    assert await read_exactly(small, len(frame) + 4) == frame + b"next"


async def test_a_gone_peer_is_handed_to_the_transport_which_closes(pairs: Pairs) -> None:
    gone, alive = await pairs.make(), await pairs.make()
    gone.other.close()
    await asyncio.sleep(0)
    frame = b"\x81\x02ok"
    assert write_all([gone, alive, gone], frame) == [gone, gone]
    assert await read_exactly(alive, len(frame)) == frame
    await asyncio.wait_for(gone.lost.wait(), 10)
