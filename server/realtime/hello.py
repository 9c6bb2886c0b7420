"""The start of a connection: reading its `hello`, authenticating it, building the hub
subscription and the `welcome` (a replay of `seq > last_seq`, or a snapshot of the active
alerts). See docs/protocol.md §2–§4.

Device tokens are resolved in batches (server/realtime/tokens.py); person hellos, and the
welcome's rare database reads, pass an admission limit (`hello_concurrency`): in a reconnect
storm they wait here in memory instead of timing out on the connection pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http.cookies import SimpleCookie

from websockets.datastructures import Headers

from protocol.closecodes import CloseCode
from protocol.codec import ProtocolError, alert_event_from_dict, decode_client
from protocol.messages import AlertEvent, DeviceInfo, Hello, Welcome
from protocol.vocabulary import DeviceKind
from server import metrics
from server.clock import utcnow
from server.core.permissions import Action, ActorKind, sites_where
from server.credentials import DEVICE_PREFIX, SESSION_COOKIE
from server.realtime.connection import send_error
from server.realtime.hub import Hub, Subscriber
from server.realtime.snapshots import Snapshots
from server.realtime.tokens import DeviceTokens
from server.realtime.wsprotocol import WebSocket
from server.settings import Settings
from server.storage import callers, events, sites
from server.storage.callers import Caller
from server.storage.database import Database


def parse_hello(connection: WebSocket, raw: str | bytes) -> Hello | None:
    """The connection's first frame as a `hello`, or None after closing the connection: an
    invalid frame (its error, 4003 or 4005 for a version this server does not speak), or
    another message first (4003). (No hello in time — 4004 — is the gateway's timer.)"""
    try:
        message = decode_client(raw)
    except ProtocolError as exc:
        send_error(connection, exc.code, exc.detail)
        code = (
            CloseCode.UNSUPPORTED_VERSION
            if exc.code == "protocol.unsupported_version"
            else CloseCode.PROTOCOL_ABUSE
        )
        connection.close(code, exc.code)
        return None
    if not isinstance(message, Hello):
        send_error(connection, "protocol.hello_required")
        connection.close(CloseCode.PROTOCOL_ABUSE, "protocol.hello_required")
        return None
    return message


def session_cookie(headers: Headers) -> str | None:
    """The session token of the handshake's cookie (browsers send `token: ""`); the only
    thing of the handshake's request the connection keeps, until its hello."""
    jar = SimpleCookie()
    for value in headers.get_all("Cookie"):
        try:
            jar.load(value)
        except Exception:  # a malformed cookie header is just no cookie
            continue
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel else None


def device_info(caller: Caller) -> DeviceInfo | None:
    """The welcome's `device`: the connected device as the server knows it."""
    device = caller.device
    if device is None:
        return None
    return DeviceInfo(
        id=device.id,
        kind=DeviceKind(device.kind),
        name=device.name,
        site_id=device.site_id,
        zone_id=device.zone_id,
    )


class Greeter:
    """Authenticates hellos and builds subscriptions and welcomes."""

    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        hub: Hub,
        snapshots: Snapshots,
        tokens: DeviceTokens,
    ) -> None:
        self.settings = settings
        self.database = database
        self.hub = hub
        self.snapshots = snapshots
        self.tokens = tokens
        self.admission = asyncio.Semaphore(settings.hello_concurrency)
        self._replay_locks: dict[int, asyncio.Lock] = {}
        self.replay_reads = 0  # database reads for replays (observability, tests)

    async def authenticate(self, connection: WebSocket, hello: Hello) -> Caller | None:
        """Who speaks: a device (by token) or a person (session token or the handshake's
        cookie); None for anything else, API keys included."""
        token = hello.token or connection.credential
        connection.credential = None  # not kept for the connection's life
        if not token:
            return None
        if token.startswith(DEVICE_PREFIX):
            return await self.tokens.resolve(token)  # batched with the other hellos
        async with self.admission, self.database.session() as session:
            caller = await callers.from_bearer_token(session, token=token, now=utcnow())
        if caller is None or caller.actor.kind is ActorKind.API_KEY:
            return None
        return caller

    async def _receive_sites(self, caller: Caller) -> frozenset[int]:
        if caller.device is not None:
            return frozenset({caller.device.site_id})
        async with self.admission, self.database.session() as session:
            organization_sites = await sites.list_sites(
                session, organization_id=caller.organization_id
            )
        all_sites = [site.id for site in organization_sites]
        return sites_where(caller.actor, Action.RECEIVE, all_site_ids=all_sites)

    async def subscriber(
        self,
        connection: WebSocket,
        caller: Caller,
        close: Callable[[int, str], None],
    ) -> Subscriber:
        """The hub subscription of the caller: the sites it receives and, for persons, the
        sites whose roll call and presence it leads."""
        site_ids = await self._receive_sites(caller)
        rollcall_sites = (
            sites_where(caller.actor, Action.VIEW_ROLLCALL, all_site_ids=site_ids)
            if caller.person is not None
            else frozenset()
        )
        device = caller.device
        return Subscriber(
            organization_id=caller.organization_id,
            site_ids=site_ids,
            connection=connection,
            close=close,
            device_id=device.id if device else None,
            person_id=caller.person.id if caller.person else (device.person_id if device else None),
            kind=device.kind if device else metrics.PERSON_CONNECTION,
            dashboard=bool(rollcall_sites),
            rollcall_site_ids=rollcall_sites,
        )

    async def welcome(self, subscriber: Subscriber, hello: Hello, caller: Caller) -> Welcome:
        """Replay `seq > last_seq` when the epoch matches and the gap is small (from the hub's
        memory when it reaches back that far, else the database), otherwise a snapshot of the
        active alerts (recovered false). The subscriber is already buffering live events."""
        async with self.admission:
            snapshot = await self.snapshots.get(subscriber.organization_id)
            gap = snapshot.seq - hello.last_seq
            replayable = (
                hello.epoch == snapshot.epoch and 0 <= gap <= self.settings.max_replay_events
            )
            replay = (
                await self._replay(subscriber, hello.last_seq, snapshot.seq) if replayable else []
            )
        return Welcome(
            recovered=replayable,
            epoch=snapshot.epoch,
            seq=snapshot.seq,
            active=[] if replayable else [a for a in snapshot.active if subscriber.wants(a)],
            events=[e for e in replay if e.seq <= snapshot.seq and subscriber.wants(e.alert)],
            heartbeat_s=self.settings.heartbeat_seconds,
            device=device_info(caller),
        )

    async def _replay(self, subscriber: Subscriber, last_seq: int, up_to: int) -> list[AlertEvent]:
        """The events after `last_seq` up to the snapshot's `up_to`: from the hub's memory
        when it holds them all, else from the database — one read per organization at a time,
        whose events the hub then remembers, so a storm of hellos resuming from the same seq
        (after a restart the memory is empty) reads once. The memory ends at what this node
        has fanned out, which can be behind the database (another node's event whose signal
        has not come yet): then the database is read, or the welcome would claim `up_to`
        without those events, and the hub would skip them later as already sent."""
        org = subscriber.organization_id
        replay = self.hub.recent_events(org, after_seq=last_seq, up_to=up_to)
        if replay is not None:
            return replay
        async with self._replay_locks.setdefault(org, asyncio.Lock()):
            replay = self.hub.recent_events(org, after_seq=last_seq, up_to=up_to)  # meanwhile?
            if replay is not None:
                return replay
            async with self.database.session() as session:
                rows = await events.since(
                    session, organization_id=org, after_seq=last_seq, limit=up_to - last_seq
                )
            self.replay_reads += 1
            replay = [alert_event_from_dict(events.event_document(row)) for row in rows]
            self.hub.remember(org, replay)  # before the next waiter looks
        return replay
