"""The node's hub: which connections want which organization's events, and the fan-out.

Fan-out is synchronous: the event is encoded once (by `protocol.codec`, server/realtime/
frames.py) into a complete WebSocket frame and written to each matching connection without
awaiting anyone (server/realtime/direct.py: straight to the sockets that can take it, the
rest through their transports). A connection whose transport
buffer grows past `buffer_limit` is not keeping up; it is dropped from the hub and closed with
1013 so it reconnects and resumes from its last seq. Events reach the hub in seq order per
organization: a gap (a bus message lost, another node's event not yet seen) holds later events
back until `catch_up` has read the missing ones from the database.

Events are `protocol.messages.AlertEvent`s inside the hub; the event documents the database
and the API hand over (`server.storage.events.event_document`) are read into them once, in
`offer`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Protocol

from websockets.protocol import State

from protocol.closecodes import CloseCode
from protocol.codec import alert_event_from_dict
from protocol.messages import AlertDoc, AlertEvent, ServerMessage
from server import metrics
from server.realtime import collector
from server.realtime.direct import Writable, write_all
from server.realtime.frames import server_frame

log = logging.getLogger(__name__)

SLOW_CLOSE_CODE = CloseCode.TRY_AGAIN_LATER  # 1013: reconnect and resume
OPEN = State.OPEN


class Connection(Writable, Protocol):
    """What the hub needs of a connection: what server/realtime/direct.py writes to, and the
    sans-I/O protocol; server/realtime/wsprotocol.py's WebSocket has it."""

    @property
    def protocol(self) -> Any: ...  # the sans-I/O protocol; `.state` tells if it is OPEN


@dataclass(eq=False, slots=True)
class Subscriber:
    """One live connection's subscription. `protocol` is the connection's, kept here so the
    fan-out's check of its state touches one object fewer per client."""

    organization_id: int
    site_ids: frozenset[int]
    connection: Connection
    close: Callable[[int, str], None]  # schedules a close with code and reason
    device_id: int | None = None
    person_id: int | None = None
    kind: str = metrics.PERSON_CONNECTION  # a device's kind, or a person's browser
    dashboard: bool = False
    rollcall_site_ids: frozenset[int] = frozenset()  # where it may see roll call
    last_seq: int = 0
    # While resuming, events are kept here instead of written (see Hub.subscribe).
    pending: list[AlertEvent] | None = field(default_factory=list)
    protocol: Any = field(init=False)

    def __post_init__(self) -> None:
        self.protocol = self.connection.protocol

    def wants(self, alert: AlertDoc) -> bool:
        """Whether the alert touches a site this connection receives."""
        return not self.site_ids.isdisjoint(alert.sites)


RECENT_EVENTS = 1000  # kept per organization so most resumes replay from memory


@dataclass
class _OrgStream:
    seq: int  # the newest seq fanned out for this organization
    subscribers: set[Subscriber] = field(default_factory=set)
    by_site: dict[int, set[Subscriber]] = field(default_factory=dict)
    held: dict[int, AlertEvent] = field(default_factory=dict)
    recent: deque[AlertEvent] = field(default_factory=lambda: deque(maxlen=RECENT_EVENTS))


EventDocument = dict[str, Any]  # server.storage.events.event_document: an event's stored shape
# (org, after_seq) -> events
EventReader = Callable[[int, int], Awaitable[list[AlertEvent] | list[EventDocument]]]
SeqReader = Callable[[int], Awaitable[int]]  # org -> last_seq in the database


class Hub:
    def __init__(
        self, *, read_events: EventReader, read_seq: SeqReader, buffer_limit: int = 256 * 1024
    ) -> None:
        self._read_events = read_events
        self._read_seq = read_seq
        self.buffer_limit = buffer_limit
        self._orgs: dict[int, _OrgStream] = {}
        self._catching_up: dict[int, asyncio.Task[None]] = {}
        self._init_locks: dict[int, asyncio.Lock] = {}
        self.last_fan_out = float("-inf")  # time.monotonic() of the newest fan-out

    # -- subscriptions ------------------------------------------------------------------
    async def subscribe(self, subscriber: Subscriber) -> None:
        """Register in buffering mode: events from now on are kept in `pending` until
        `go_live`. The caller reads the database after this returns, so nothing committed
        meanwhile can slip between the read and the live stream."""
        org = subscriber.organization_id
        stream = self._orgs.get(org)
        if stream is None:
            lock = self._init_locks.setdefault(org, asyncio.Lock())
            async with lock:
                stream = self._orgs.get(org)
                if stream is None:
                    stream = _OrgStream(seq=await self._read_seq(org))
                    self._orgs[org] = stream
        subscriber.pending = []
        stream.subscribers.add(subscriber)
        for site_id in subscriber.site_ids:
            stream.by_site.setdefault(site_id, set()).add(subscriber)

    def go_live(self, subscriber: Subscriber, *, sent_up_to: int) -> list[AlertEvent]:
        """End buffering: returns the buffered events newer than `sent_up_to` (already
        de-duplicated, in seq order) for the caller to send, and marks the subscriber live."""
        pending = subscriber.pending or []
        subscriber.pending = None
        fresh = [event for event in pending if event.seq > sent_up_to]
        subscriber.last_seq = fresh[-1].seq if fresh else sent_up_to
        return fresh

    def unsubscribe(self, subscriber: Subscriber) -> None:
        stream = self._orgs.get(subscriber.organization_id)
        if stream is None:
            return
        self._forget(stream, subscriber)
        if not stream.subscribers:
            del self._orgs[subscriber.organization_id]
            task = self._catching_up.pop(subscriber.organization_id, None)
            if task is not None:
                task.cancel()

    @staticmethod
    def _forget(stream: _OrgStream, subscriber: Subscriber) -> None:
        stream.subscribers.discard(subscriber)
        for site_id in subscriber.site_ids:
            members = stream.by_site.get(site_id)
            if members is not None:
                members.discard(subscriber)
                if not members:
                    del stream.by_site[site_id]

    def stream_seq(self, organization_id: int) -> int | None:
        """The newest seq fanned out here for the organization (None: nobody listens)."""
        stream = self._orgs.get(organization_id)
        return stream.seq if stream else None

    def recent_events(
        self, organization_id: int, *, after_seq: int, up_to: int | None = None
    ) -> list[AlertEvent] | None:
        """The events after `after_seq` from memory, or None when memory does not reach back
        that far, or forward to `up_to` (a seq the database has and this node has not fanned
        out yet: another node's event whose signal has not come) — then the caller reads
        the database."""
        stream = self._orgs.get(organization_id)
        if stream is None:
            return None
        if up_to is not None and up_to > max(stream.seq, after_seq):
            return None
        if after_seq >= stream.seq:
            return []
        if not stream.recent or stream.recent[0].seq > after_seq + 1:
            return None
        return [event for event in stream.recent if event.seq > after_seq]

    def remember(self, organization_id: int, events: list[AlertEvent]) -> int:
        """Extend the recent events backwards with `events` (read from the database for a
        resume the memory did not reach), so the next resumes from as far back are served from
        memory: after a restart the memory is empty and a storm of hellos resuming from the
        same seq would otherwise read the same rows once each. Only the events that continue
        the memory gap-free (each one seq below the oldest kept, or ending at the stream's
        seq when nothing is kept) are taken, newest first, while there is room; returns how
        many."""
        stream = self._orgs.get(organization_id)
        if stream is None:
            return 0
        recent = stream.recent
        next_seq = recent[0].seq if recent else stream.seq + 1
        room = RECENT_EVENTS - len(recent)
        taken = 0
        for event in reversed(events):
            if event.seq >= next_seq:
                continue  # already kept (or not yet fanned out here)
            if room <= 0 or event.seq != next_seq - 1:
                break  # full, or a gap: what is kept must be contiguous
            recent.appendleft(event)
            next_seq = event.seq
            room -= 1
            taken += 1
        return taken

    def subscribers(self, organization_id: int) -> Iterable[Subscriber]:
        stream = self._orgs.get(organization_id)
        return tuple(stream.subscribers) if stream else ()

    def organizations(self) -> list[int]:
        return list(self._orgs)

    def connection_count(self) -> int:
        return sum(len(stream.subscribers) for stream in self._orgs.values())

    def connections_by_kind(self) -> dict[str, int]:
        """Live subscriptions by `Subscriber.kind` (read when /metrics is scraped)."""
        counts: dict[str, int] = {}
        for stream in self._orgs.values():
            for subscriber in stream.subscribers:
                counts[subscriber.kind] = counts.get(subscriber.kind, 0) + 1
        return counts

    # -- events -------------------------------------------------------------------------
    def offer(self, organization_id: int, event: AlertEvent | EventDocument) -> None:
        """An event was committed (this node, or another node via the bus + database)."""
        stream = self._orgs.get(organization_id)
        seq = event.seq if isinstance(event, AlertEvent) else event["seq"]
        if stream is None or seq <= stream.seq:
            return  # nobody here listens, or already fanned out
        if not isinstance(event, AlertEvent):
            event = alert_event_from_dict(event)  # once per event, for every connection
        if seq > stream.seq + 1:
            stream.held[seq] = event
            self.request_catch_up(organization_id)
            return
        self._fan_out(stream, event)
        while stream.seq + 1 in stream.held:
            self._fan_out(stream, stream.held.pop(stream.seq + 1))

    def request_catch_up(self, organization_id: int) -> None:
        if organization_id in self._orgs and organization_id not in self._catching_up:
            task = asyncio.create_task(self._catch_up(organization_id))
            self._catching_up[organization_id] = task
            task.add_done_callback(lambda _t: self._catching_up.pop(organization_id, None))

    async def catch_up_all(self) -> None:
        """Compare every organization's stream with the database and fill any gap."""
        for org in self.organizations():
            stream = self._orgs.get(org)
            if stream is not None and (stream.held or await self._read_seq(org) > stream.seq):
                self.request_catch_up(org)

    async def _catch_up(self, organization_id: int) -> None:
        try:
            stream = self._orgs.get(organization_id)
            while stream is not None:
                events = await self._read_events(organization_id, stream.seq)
                if not events:
                    break
                for event in events:
                    self.offer(organization_id, event)
                stream = self._orgs.get(organization_id)
        except Exception:
            log.exception(
                "catch-up of organization %s failed; the next tick retries", organization_id
            )

    def _fan_out(self, stream: _OrgStream, event: AlertEvent) -> None:
        started = time.perf_counter()
        seq = event.seq
        stream.seq = seq
        stream.recent.append(event)
        self.last_fan_out = time.monotonic()
        frame = server_frame(event)
        limit = self.buffer_limit
        sites = event.alert.sites
        by_site = stream.by_site
        slow: list[Subscriber] = []
        with collector.paused():  # no collector pass in the middle of the fan-out
            if len(sites) == 1:
                candidates: Iterable[Subscriber] = by_site.get(sites[0], ())
            else:  # a subscriber of several of the sites is met once
                candidates = set().union(*[by_site.get(site, ()) for site in sites])
            # In slices: the first sockets get the frame after one slice's preparation.
            remaining = iter(candidates)
            while subscribers := list(islice(remaining, WRITE_SLICE)):
                slow += _write_slice(subscribers, event, frame, limit)
        # Measured once per event, after every write: nothing per connection in the loop.
        metrics.FAN_OUT_SECONDS.observe(time.perf_counter() - started)
        metrics.EVENTS.labels(event=event.event).inc()
        for subscriber in slow:
            self._forget(stream, subscriber)
            subscriber.close(SLOW_CLOSE_CODE, "too slow: reconnect and resume")

    @staticmethod
    def send_to(subscribers: Iterable[Subscriber], message: ServerMessage) -> int:
        """Write one message (roll call, presence), encoded once, to the live connections
        among `subscribers`; returns how many it was written to."""
        frame = server_frame(message)
        written = 0
        for subscriber in subscribers:
            if subscriber.pending is None and write_now(subscriber.connection, frame):
                written += 1
        return written


WRITE_SLICE = 512  # subscribers prepared, then written, at a time


def _write_slice(
    subscribers: list[Subscriber], event: AlertEvent, frame: bytes, limit: int
) -> list[Subscriber]:
    """Write the event's frame to those of `subscribers` that have not had it (buffer it for
    those still resuming); answers the ones now more than `limit` bytes behind."""
    seq = event.seq
    # last_seq: a subscriber whose welcome already had this event skips it.
    targets = [s for s in subscribers if s.last_seq < seq]
    for subscriber in targets:
        subscriber.last_seq = seq
        if subscriber.pending is not None:
            subscriber.pending.append(event)
    queued = write_all(
        [s.connection for s in targets if s.pending is None and s.protocol.state is OPEN], frame
    )
    behind = {id(c) for c in queued if c.transport.get_write_buffer_size() > limit}
    return [s for s in targets if id(s.connection) in behind] if behind else []


def write_now(connection: Connection, frame: bytes) -> bool:
    """Write one complete frame (server/realtime/frames.py) at once, without awaiting; False
    when the connection is closing."""
    if connection.protocol.state is not OPEN:
        return False
    connection.transport.write(frame)
    return True
