"""The hub's ordering and resume guarantees, with an in-memory transport at the boundary."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from websockets.protocol import State

from protocol.codec import alert_event_from_dict, decode_server, encode
from protocol.messages import AlertEvent
from server.realtime.hub import WRITE_SLICE, Hub, Subscriber
from tests.protocol.examples import ALERT


class MemoryTransport:
    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.buffered = 0

    def write(self, data: bytes) -> None:
        self.frames.append(data)

    def get_write_buffer_size(self) -> int:
        return self.buffered


@dataclass
class MemoryConnection:
    transport: MemoryTransport = field(default_factory=MemoryTransport)
    state: State = State.OPEN
    direct_fd: int = -1  # no socket: frames go to the transport

    @property
    def protocol(self) -> MemoryConnection:
        return self

    def payloads(self) -> list[bytes]:
        # a server text frame with a 16-bit or 7-bit length: payload after the header
        return [frame[4 if frame[1] == 126 else 2 :] for frame in self.transport.frames]

    def seqs(self) -> list[int]:
        return [json.loads(payload)["seq"] for payload in self.payloads()]


def event(seq: int, sites: tuple[int, ...] = (1,)) -> dict[str, Any]:
    """An event document as the database stores it (server.storage.events.event_document)."""
    return {
        "seq": seq,
        "event": "updated",
        "at": "2025-03-01T08:00:00+00:00",
        "actor": "person:1",
        "changes": {},
        "alert": {**ALERT, "sites": list(sites)},
    }


class Database:
    """The events the database holds, as the hub's readers see them."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def read_events(self, _org: int, after: int) -> list[dict[str, Any]]:
        return [e for e in self.events if e["seq"] > after]

    async def read_seq(self, _org: int) -> int:
        return self.events[-1]["seq"] if self.events else 0


def subscriber(connection: MemoryConnection, closed: list[int] | None = None) -> Subscriber:
    sink = closed if closed is not None else []
    return Subscriber(
        organization_id=1,
        site_ids=frozenset({1}),
        connection=connection,
        close=lambda code, _reason: sink.append(code),
    )


async def test_events_during_replay_are_buffered_and_deduplicated() -> None:
    """Events offered while a client resumes are sent after the replay, each seq once."""
    db = Database()
    db.events = [event(1), event(2)]
    hub = Hub(read_events=db.read_events, read_seq=db.read_seq)
    connection = MemoryConnection()
    sub = subscriber(connection)
    await hub.subscribe(sub)
    db.events.append(event(3))
    hub.offer(1, event(3))  # arrives while the replay is being read
    replay = await db.read_events(1, 0)  # the replay read sees 1..3
    fresh = hub.go_live(sub, sent_up_to=replay[-1]["seq"])
    assert fresh == []  # 3 was in the replay: not twice
    hub.offer(1, event(4))
    assert connection.seqs() == [4]


async def test_buffered_events_newer_than_the_replay_follow_it() -> None:
    """An event committed after the replay read is delivered right after the welcome."""
    db = Database()
    hub = Hub(read_events=db.read_events, read_seq=db.read_seq)
    sub = subscriber(MemoryConnection())
    await hub.subscribe(sub)
    hub.offer(1, event(1))
    fresh = hub.go_live(sub, sent_up_to=0)
    assert [e.seq for e in fresh] == [1]
    assert sub.last_seq == 1


async def test_a_gap_holds_later_events_until_caught_up() -> None:
    """seq 3 before seq 2: 3 waits, catch-up reads 2 from the database, order is kept."""
    db = Database()
    hub = Hub(read_events=db.read_events, read_seq=db.read_seq)
    connection = MemoryConnection()
    sub = subscriber(connection)
    await hub.subscribe(sub)
    hub.go_live(sub, sent_up_to=0)
    db.events = [event(1), event(2), event(3)]
    hub.offer(1, event(1))
    hub.offer(1, event(3))  # 2 was committed by another node; its signal is late
    assert connection.seqs() == [1]
    await hub._catch_up(1)
    assert connection.seqs() == [1, 2, 3]


async def test_other_sites_are_not_written() -> None:
    """A subscriber only gets events of alerts that target one of its sites."""
    db = Database()
    hub = Hub(read_events=db.read_events, read_seq=db.read_seq)
    connection = MemoryConnection()
    sub = subscriber(connection)
    await hub.subscribe(sub)
    hub.go_live(sub, sent_up_to=0)
    hub.offer(1, event(1, sites=(2,)))
    hub.offer(1, event(2, sites=(1, 2)))
    assert connection.seqs() == [2]


async def test_overflowing_subscriber_is_dropped_and_closed() -> None:
    """Past the buffer limit the subscriber leaves the hub and is closed with 1013."""
    db = Database()
    hub = Hub(read_events=db.read_events, read_seq=db.read_seq, buffer_limit=10)
    slow, fast = MemoryConnection(), MemoryConnection()
    closed: list[int] = []
    slow_sub = subscriber(slow, closed)
    fast_sub = subscriber(fast)
    for sub in (slow_sub, fast_sub):
        await hub.subscribe(sub)
        hub.go_live(sub, sent_up_to=0)
    slow.transport.buffered = 11
    hub.offer(1, event(1))
    hub.offer(1, event(2))
    assert closed == [1013]
    assert slow.seqs() == [1] and fast.seqs() == [1, 2]
    assert hub.connection_count() == 1


async def test_many_subscribers_over_several_sites_get_each_event_once() -> None:
    """More subscribers than one write slice, on one or both of an alert's sites: each gets
    each event once, one still resuming has it kept, and a slow one in a later slice is
    closed while the rest are written."""
    db = Database()
    hub = Hub(read_events=db.read_events, read_seq=db.read_seq, buffer_limit=10)
    closed: list[int] = []
    connections = [MemoryConnection() for _ in range(3 * WRITE_SLICE)]
    subs = [
        Subscriber(
            organization_id=1,
            site_ids=frozenset({1, 2} if number % 3 == 0 else {1 + number % 2}),
            connection=connection,
            close=lambda code, _reason: closed.append(code),
        )
        for number, connection in enumerate(connections)
    ]
    for sub in subs:
        await hub.subscribe(sub)
    for sub in subs[1:]:
        hub.go_live(sub, sent_up_to=0)
    connections[-1].transport.buffered = 11  # too far behind, whichever slice it is in
    hub.offer(1, event(1, sites=(1, 2)))
    hub.offer(1, event(2, sites=(2,)))
    assert subs[0].pending is not None and [e.seq for e in subs[0].pending] == [1, 2]
    assert connections[0].seqs() == []
    assert closed == [1013]
    for number, connection in enumerate(connections[1:-1], start=1):
        wanted = [1, 2] if 2 in subs[number].site_ids else [1]
        assert connection.seqs() == wanted, number


async def test_the_alert_frame_is_protocols_encoding_of_the_event() -> None:
    """The fan-out writes exactly what protocol.codec encodes, and clients decode it back to
    the stored event; one encoding serves every subscriber (the same bytes)."""
    db = Database()
    hub = Hub(read_events=db.read_events, read_seq=db.read_seq)
    first, second = MemoryConnection(), MemoryConnection()
    for connection in (first, second):
        sub = subscriber(connection)
        await hub.subscribe(sub)
        hub.go_live(sub, sent_up_to=0)
    document = event(1)
    hub.offer(1, document)
    [payload] = first.payloads()
    assert first.transport.frames == second.transport.frames
    expected = alert_event_from_dict(document)
    assert payload == encode(expected).encode()
    decoded = decode_server(payload)
    assert isinstance(decoded, AlertEvent) and decoded == expected


async def test_remembered_events_serve_later_resumes_from_memory() -> None:
    """After a restart the hub's memory is empty; events read from the database for a resume
    are remembered backwards from the stream's seq, gap-free, so the next resume from as far
    back needs no read — and a resume from further back still does."""
    db = Database()
    db.events = [event(seq) for seq in range(1, 6)]
    hub = Hub(read_events=db.read_events, read_seq=db.read_seq)
    await hub.subscribe(subscriber(MemoryConnection()))  # the stream starts at seq 5
    assert hub.recent_events(1, after_seq=2) is None  # nothing in memory yet
    read = [alert_event_from_dict(e) for e in await db.read_events(1, 2)]  # 3..5
    assert hub.remember(1, read) == 3
    assert [e.seq for e in hub.recent_events(1, after_seq=2) or []] == [3, 4, 5]
    assert [e.seq for e in hub.recent_events(1, after_seq=4) or []] == [5]
    assert hub.recent_events(1, after_seq=1) is None  # 2 is not in memory: read it
    older = [alert_event_from_dict(e) for e in await db.read_events(1, 0)]  # 1..5
    assert hub.remember(1, older) == 2  # only 1 and 2 are new
    assert [e.seq for e in hub.recent_events(1, after_seq=0) or []] == [1, 2, 3, 4, 5]


async def test_remember_takes_nothing_across_a_gap() -> None:
    """Events that do not continue the memory gap-free are not kept (a replay read that
    stops short of the stream's seq, or that skips one)."""
    db = Database()
    db.events = [event(seq) for seq in range(1, 6)]
    hub = Hub(read_events=db.read_events, read_seq=db.read_seq)
    await hub.subscribe(subscriber(MemoryConnection()))
    short = [alert_event_from_dict(event(seq)) for seq in (2, 3)]  # 4 and 5 missing
    assert hub.remember(1, short) == 0
    assert hub.recent_events(1, after_seq=1) is None
    holey = [alert_event_from_dict(event(seq)) for seq in (2, 4, 5)]  # 3 missing
    assert hub.remember(1, holey) == 2  # 4 and 5; 2 is not contiguous with them
    assert hub.recent_events(1, after_seq=1) is None
    assert [e.seq for e in hub.recent_events(1, after_seq=3) or []] == [4, 5]
