"""The WebSocket gateway: a listener on its own port, in the app's event loop, whose
connections are server/realtime/wsprotocol.py's `WebSocket`s (the `websockets` library's
Sans-I/O protocol under a plain asyncio protocol), the registry of live connections (for
closing them on revocation and sign-out, and for presence), and one heartbeat for all.

One connection's life: the handshake (the origin check: 403 for a foreign browser page); the
client sends `hello` within `hello_timeout_seconds` (a timer, 4004 after it); the token (or,
for browsers, the session cookie of the handshake) says who it is (server/realtime/hello.py)
— this part, with its database reads, is the only task a connection ever has, and it ends
with the welcome. The subscriber joins the hub in buffering mode, the database is read
(replay of `seq > last_seq`, or a snapshot), the `welcome` and then the buffered events are
written, and the connection is live: each client frame is then handled as it arrives
(server/realtime/connection.py's `Session`). Receipts and acks go to the group-commit writer
(server/realtime/answers.py). Every frame is a `protocol.messages` message encoded by
`protocol.codec`. See docs/protocol.md for the contract.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from http import HTTPStatus

from websockets.http11 import Request

from protocol.closecodes import CloseCode
from protocol.messages import MAX_CLIENT_FRAME, Hello
from server.clock import utcnow
from server.origins import allowed_origins
from server.realtime.answers import Answerer, Answers
from server.realtime.connection import Session, send_error
from server.realtime.frames import server_frame
from server.realtime.hello import Greeter, parse_hello, session_cookie
from server.realtime.hub import Hub, Subscriber
from server.realtime.presence import DeviceLink, PresenceWriter
from server.realtime.receipts import ReceiptWriter
from server.realtime.snapshots import Snapshots
from server.realtime.tokens import DeviceTokens
from server.realtime.wsprotocol import CLOSE_TIMEOUT, Refusal, WebSocket
from server.settings import Settings
from server.storage.callers import Caller
from server.storage.database import Database

log = logging.getLogger(__name__)

REVOKED_MEMORY = 60.0  # seconds a revocation is remembered against racing hellos
MAX_EARLY_FRAMES = 16  # frames a client may send before its welcome (they wait for it)
HEARTBEAT_SLICE = 1000  # connections pinged per callback
KEEPALIVE_TIMEOUT = 1011  # no pong within a heartbeat (what the library's keepalive sends)

RegistryKey = tuple[str, object]  # ("device", id), ("person", id), ("session", token hash)


@dataclass(eq=False, slots=True)
class Greeting:
    """A connection between its hello and its welcome: the task that authenticates it and
    builds the welcome, and the frames the client sent meanwhile."""

    hello: Hello
    early: list[str | bytes] | None = None
    live: Live | None = None  # subscribed and registered, not yet welcomed


@dataclass(eq=False, slots=True)
class Live:
    """A welcomed connection: its subscription, registry keys, session, and for a device
    its presence record (plain values: no `Caller`, no ORM instances, no `Hello` kept)."""

    subscriber: Subscriber
    keys: list[RegistryKey]
    link: DeviceLink | None  # a device's "connected" record; None for a person
    session: Session | None = None  # set with the welcome
    expiry: asyncio.TimerHandle | None = None


class Gateway:
    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        hub: Hub,
        receipts: ReceiptWriter,
        snapshots: Snapshots,
        tokens: DeviceTokens,
        presence: PresenceWriter | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.hub = hub
        self.presence = presence
        self.greeter = Greeter(
            settings=settings, database=database, hub=hub, snapshots=snapshots, tokens=tokens
        )
        self.answers = Answers(receipts=receipts)
        self._live: dict[RegistryKey, set[WebSocket]] = defaultdict(set)
        self._connections: set[WebSocket] = set()  # every open one, for heartbeat and shutdown
        self._server: asyncio.Server | None = None
        self._heartbeat: asyncio.TimerHandle | None = None
        self._revoked: dict[int, float] = {}  # device id → time.monotonic() of its revocation
        self._origins = allowed_origins(settings)
        self._all_closed: asyncio.Event | None = None
        self._greetings: set[asyncio.Task[None]] = set()
        self.serving = False
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> Gateway:
        loop = asyncio.get_running_loop()
        max_size = MAX_CLIENT_FRAME
        send_buffer = self.settings.socket_send_buffer_bytes
        self._server = await loop.create_server(
            lambda: WebSocket(self, max_size=max_size, send_buffer=send_buffer),
            self.settings.ws_host or self.settings.host,
            self.settings.ws_port,
            backlog=self.settings.ws_backlog,
        )
        self.serving = True
        sockets = list(self._server.sockets)
        self.port = sockets[0].getsockname()[1] if sockets else 0
        self._heartbeat = loop.call_later(self.settings.heartbeat_seconds, self._beat)
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop listening, close every connection with 1001 (going away) and wait until
        they are gone (at most the closing handshake's timeout, then they are cut)."""
        self.serving = False
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self._server is not None:
            self._server.close()
        connections = list(self._connections)
        if connections:
            self._all_closed = asyncio.Event()
            for connection in connections:
                connection.close(CloseCode.GOING_AWAY)
            try:
                await asyncio.wait_for(self._all_closed.wait(), CLOSE_TIMEOUT + 1)
            except TimeoutError:
                for connection in list(self._connections):
                    connection.abort()
        if self._greetings:  # they see their connection closed and end
            await asyncio.gather(*self._greetings, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # -- the heartbeat ---------------------------------------------------------------------
    def _beat(self) -> None:
        """Every `heartbeat_seconds`: close the connections that have not answered the
        previous ping (1011, as the library's keepalive), ping the others. One timer for all
        connections instead of a task each; done in slices of HEARTBEAT_SLICE connections,
        each its own callback, so an alert's fan-out never waits behind all of them."""
        loop = asyncio.get_running_loop()
        self._heartbeat = loop.call_later(self.settings.heartbeat_seconds, self._beat)
        connections = list(self._connections)
        for start in range(0, len(connections), HEARTBEAT_SLICE):
            loop.call_soon(_beat_slice, connections[start : start + HEARTBEAT_SLICE])

    # -- origin --------------------------------------------------------------------------
    def allowed_origin(self, origin: str) -> bool:
        """Browsers must come from our own pages (server/origins.py, the HTTP CSRF guard's
        rule); native clients send no Origin."""
        return origin.strip().lower() in self._origins

    def accepting(self, request: Request) -> Refusal | str | None:
        """The handshake: 403 for a foreign Origin; else the session cookie, if any (the
        only thing of the request a connection keeps, until its hello)."""
        origin = request.headers.get("Origin")
        if origin is not None and not self.allowed_origin(origin):
            return Refusal(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        return session_cookie(request.headers)

    def connected_device_ids(self) -> list[int]:
        """Devices with a live connection on this node (for presence)."""
        return [int(key) for kind, key in self._live if kind == "device"]  # type: ignore[call-overload]

    # -- closing on revocation and sign-out ------------------------------------------------
    def close_device(self, device_id: int) -> int:
        """Close every live connection of a revoked device on this node. The revocation is
        also remembered for a minute: a hello whose token was checked just before the
        revocation committed, but that registers just after, is closed too."""
        now = time.monotonic()
        self._revoked = {d: t for d, t in self._revoked.items() if now - t < REVOKED_MEMORY}
        self._revoked[device_id] = now
        return self._close(("device", device_id))

    def _revoked_meanwhile(self, caller: Caller) -> bool:
        device = caller.device
        if device is None or device.id not in self._revoked:
            return False
        return time.monotonic() - self._revoked[device.id] < REVOKED_MEMORY

    def close_person(self, person_id: int) -> int:
        """Close every live connection of a deactivated person on this node."""
        return self._close(("person", person_id))

    def close_session(self, session_hash: str) -> int:
        """Close the live connections that logged in with one (now ended) session."""
        return self._close(("session", session_hash))

    def reconnect_person(self, person_id: int) -> int:
        """Make a person's live connections reconnect (their roles changed): the client's
        next hello is authorized with the new rights."""
        return self._close(("person", person_id), CloseCode.SERVICE_RESTART, "rights changed")

    def reconnect_device(self, device_id: int) -> int:
        """Make a device's live connections reconnect (its zone or person changed): its
        answers then name the new person and its welcome the new zone."""
        return self._close(("device", device_id), CloseCode.SERVICE_RESTART, "device changed")

    def _close(
        self, key: RegistryKey, code: int = CloseCode.REVOKED, reason: str = "auth.revoked"
    ) -> int:
        connections = list(self._live.get(key, ()))
        for connection in connections:
            connection.close(code, reason)
        return len(connections)

    def _register(self, connection: WebSocket, keys: list[RegistryKey]) -> None:
        for key in keys:
            self._live[key].add(connection)

    def _unregister(self, connection: WebSocket, keys: list[RegistryKey]) -> None:
        for key in keys:
            live = self._live.get(key)
            if live is not None:
                live.discard(connection)
                if not live:
                    del self._live[key]

    # -- one connection (wsprotocol.Handler) ------------------------------------------------
    def opened(self, connection: WebSocket) -> None:
        """The handshake is done: the hello is due within `hello_timeout_seconds`."""
        self._connections.add(connection)
        connection.set_timer(
            self.settings.hello_timeout_seconds,
            lambda: connection.close(CloseCode.HELLO_TIMEOUT, "hello timeout"),
        )

    def received(self, connection: WebSocket, message: str | bytes) -> None:
        state = connection.state
        if isinstance(state, Live):
            assert state.session is not None
            state.session.received(connection, message)
        elif isinstance(state, Greeting):  # before the welcome: kept until it is written
            if state.early is None:
                state.early = []
            if len(state.early) >= MAX_EARLY_FRAMES:
                connection.close(CloseCode.PROTOCOL_ABUSE, "too many frames before welcome")
                return
            state.early.append(message)
        else:  # the first frame: the hello
            connection.cancel_timer()
            hello = parse_hello(connection, message)
            if hello is None:
                return
            greeting = Greeting(hello=hello)
            connection.state = greeting
            task = asyncio.create_task(self._greet(connection, greeting))
            self._greetings.add(task)
            task.add_done_callback(self._greetings.discard)

    def closed(self, connection: WebSocket) -> None:
        """The TCP connection is gone: leave the hub and the registry, tell presence."""
        self._connections.discard(connection)
        state = connection.state
        connection.state = None
        if isinstance(state, Greeting):  # its task sees this and stops
            if state.live is not None:
                self._leave(connection, state.live)
        elif isinstance(state, Live):
            self._leave(connection, state)
        if self._all_closed is not None and not self._connections:
            self._all_closed.set()

    def _leave(self, connection: WebSocket, live: Live) -> None:
        if live.expiry is not None:
            live.expiry.cancel()
        self.hub.unsubscribe(live.subscriber)
        self._unregister(connection, live.keys)
        link = live.link
        if link is not None and ("device", link.device_id) not in self._live:
            self._put_link(replace(link, connected=False))

    async def _greet(self, connection: WebSocket, greeting: Greeting) -> None:
        """Authenticate the hello, subscribe, welcome; the connection's only task, ended by
        the welcome (it stops at its next step when the connection drops meanwhile)."""
        try:
            await self._welcome(connection, greeting)
        except Exception:
            log.exception("a hello failed")
            connection.close(CloseCode.INTERNAL_ERROR, "server error")

    async def _welcome(self, connection: WebSocket, greeting: Greeting) -> None:
        hello = greeting.hello
        caller = await self.greeter.authenticate(connection, hello)
        if caller is None:
            send_error(connection, "auth.invalid_token", language=hello.language)
            connection.close(CloseCode.INVALID_TOKEN, "auth.invalid_token")
            return
        subscriber = await self.greeter.subscriber(connection, caller, connection.close)
        if connection.state is not greeting:
            return  # closed meanwhile
        keys = _registry_keys(caller)
        if self._revoked_meanwhile(caller):
            connection.close(CloseCode.REVOKED, "auth.revoked")
            return
        live = Live(subscriber=subscriber, keys=keys, link=_link(caller, hello))
        # From here on `closed` undoes the subscription and the registration.
        greeting.live = live
        self._register(connection, keys)
        await self.hub.subscribe(subscriber)
        if connection.state is not greeting:  # closed while subscribing
            self.hub.unsubscribe(subscriber)
            return
        live.expiry = self._close_at_expiry(connection, caller)
        welcome = await self.greeter.welcome(subscriber, hello, caller)
        if connection.state is not greeting:
            return
        connection.write(server_frame(welcome))
        # the welcome covers everything up to welcome.seq; what came meanwhile follows
        for event in self.hub.go_live(subscriber, sent_up_to=welcome.seq):
            connection.write(server_frame(event))
        if live.link is not None:
            self._put_link(live.link)
        session = Session(
            answerer=Answerer.of(caller), language=hello.language, answers=self.answers
        )
        live.session = session
        connection.state = live
        for message in greeting.early or ():
            if connection.state is not live:
                break
            session.received(connection, message)

    def _close_at_expiry(self, connection: WebSocket, caller: Caller) -> asyncio.TimerHandle | None:
        """A connection authenticated by a login session closes when the session expires
        (4001: log in again). One timer per person connection; device tokens don't expire."""
        expires_at = caller.session_expires_at
        if expires_at is None:
            return None
        delay = max(0.0, (expires_at - utcnow()).total_seconds())
        return asyncio.get_running_loop().call_later(
            delay, connection.close, CloseCode.INVALID_TOKEN, "auth.session_expired"
        )

    def _put_link(self, link: DeviceLink) -> None:
        """Queue the device's connection state for the presence writer (never waits)."""
        if self.presence is not None:
            self.presence.put(link)


def _link(caller: Caller, hello: Hello) -> DeviceLink | None:
    """A device's "connected" record for the presence writer; None for a person."""
    device = caller.device
    if device is None:
        return None
    return DeviceLink(
        device_id=device.id,
        organization_id=caller.organization_id,
        site_id=device.site_id,
        connected=True,
        client_version=f"{hello.client.name} {hello.client.version}",
    )


def _beat_slice(connections: list[WebSocket]) -> None:
    for connection in connections:
        if connection.awaiting_pong:
            connection.fail(KEEPALIVE_TIMEOUT, "keepalive ping timeout")
        else:
            connection.ping()


def _registry_keys(caller: Caller) -> list[RegistryKey]:
    if caller.device is not None:
        return [("device", caller.device.id)]
    keys: list[RegistryKey] = [("person", caller.actor.id)]
    if caller.session_hash:
        keys.append(("session", caller.session_hash))
    return keys
