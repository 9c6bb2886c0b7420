"""The WebSocket gateway: the `websockets` server on its own port, in the app's event loop,
and the registry of live connections (for closing them on revocation and sign-out, and for
presence).

One connection's life: the client sends `hello` within `hello_timeout_seconds`; the token (or,
for browsers, the session cookie of the handshake) says who it is (server/realtime/hello.py);
it is subscribed to the hub in buffering mode, the database is read (replay of
`seq > last_seq`, or a snapshot), the `welcome` and then the buffered events are written, and
the connection is live (server/realtime/connection.py). Receipts and acks go to the
group-commit writer (server/realtime/answers.py). Every frame is a `protocol.messages`
message encoded by `protocol.codec`. See docs/protocol.md for the contract.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import defaultdict
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from protocol.closecodes import CloseCode
from protocol.messages import MAX_CLIENT_FRAME, Hello
from server.clock import utcnow
from server.origins import allowed_origins
from server.realtime import connection as session
from server.realtime.answers import Answers
from server.realtime.connection import send_error
from server.realtime.frames import server_frame
from server.realtime.hello import Greeter, receive_hello
from server.realtime.hub import Hub, Subscriber, write_now
from server.realtime.presence import DeviceLink, PresenceWriter
from server.realtime.receipts import ReceiptWriter
from server.realtime.snapshots import Snapshots
from server.realtime.tokens import DeviceTokens
from server.settings import Settings
from server.storage.callers import Caller
from server.storage.database import Database

REVOKED_MEMORY = 60.0  # seconds a revocation is remembered against racing hellos

RegistryKey = tuple[str, object]  # ("device", id), ("person", id), ("session", token hash)


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
        self._live: dict[RegistryKey, set[ServerConnection]] = defaultdict(set)
        self._server: Server | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._revoked: dict[int, float] = {}  # device id → time.monotonic() of its revocation
        self._origins = allowed_origins(settings)
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> Gateway:
        self._server = await serve(
            self._handle,
            self.settings.ws_host or self.settings.host,
            self.settings.ws_port,
            compression=None,  # no permessage-deflate on the alert channel (fan-out speed)
            max_size=MAX_CLIENT_FRAME,
            ping_interval=self.settings.heartbeat_seconds,
            ping_timeout=self.settings.heartbeat_seconds,
            process_request=self._check_origin,
            server_header="pdv-alert",
            backlog=self.settings.ws_backlog,  # passed on to loop.create_server
        )
        sockets = list(self._server.sockets)
        self.port = sockets[0].getsockname()[1] if sockets else 0
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close(close_connections=True)  # 1001 going away
            await self._server.wait_closed()

    # -- origin --------------------------------------------------------------------------
    def allowed_origin(self, origin: str) -> bool:
        """Browsers must come from our own pages (server/origins.py, the HTTP CSRF guard's
        rule); native clients send no Origin."""
        return origin.strip().lower() in self._origins

    def _check_origin(self, connection: ServerConnection, request: Request) -> Response | None:
        origin = request.headers.get("Origin")
        if origin is not None and not self.allowed_origin(origin):
            return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        return None

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
            self.close_soon(connection, code, reason)
        return len(connections)

    def close_soon(self, connection: ServerConnection, code: int, reason: str) -> None:
        """Start closing without waiting for the peer (keeps the task referenced)."""
        task = asyncio.create_task(connection.close(code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _register(self, connection: ServerConnection, keys: list[RegistryKey]) -> None:
        for key in keys:
            self._live[key].add(connection)

    def _unregister(self, connection: ServerConnection, keys: list[RegistryKey]) -> None:
        for key in keys:
            live = self._live.get(key)
            if live is not None:
                live.discard(connection)
                if not live:
                    del self._live[key]

    # -- one connection ------------------------------------------------------------------
    def _tune_socket(self, connection: ServerConnection) -> None:
        if self.settings.socket_send_buffer_bytes:
            sock = connection.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_SNDBUF, self.settings.socket_send_buffer_bytes
                )

    async def _handle(self, connection: ServerConnection) -> None:
        self._tune_socket(connection)
        hello = await receive_hello(connection, within=self.settings.hello_timeout_seconds)
        if hello is None:
            return
        caller = await self.greeter.authenticate(connection, hello)
        if caller is None:
            await send_error(connection, "auth.invalid_token")
            await connection.close(CloseCode.INVALID_TOKEN, "auth.invalid_token")
            return

        def close(code: int, reason: str) -> None:
            self.close_soon(connection, code, reason)

        subscriber = await self.greeter.subscriber(connection, caller, close)
        keys = _registry_keys(caller)
        self._register(connection, keys)
        if self._revoked_meanwhile(caller):
            self._unregister(connection, keys)
            await connection.close(CloseCode.REVOKED, "auth.revoked")
            return
        await self.hub.subscribe(subscriber)
        expiry = self._close_at_expiry(connection, caller)
        try:
            await self._live_session(connection, subscriber, caller, hello)
        except ConnectionClosed:
            pass
        finally:
            if expiry is not None:
                expiry.cancel()
            self.hub.unsubscribe(subscriber)
            self._unregister(connection, keys)
            if caller.device is not None and ("device", caller.device.id) not in self._live:
                self._link(caller, hello, connected=False)

    def _close_at_expiry(
        self, connection: ServerConnection, caller: Caller
    ) -> asyncio.TimerHandle | None:
        """A connection authenticated by a login session closes when the session expires
        (4001: log in again). One timer per person connection; device tokens don't expire."""
        expires_at = caller.session_expires_at
        if expires_at is None:
            return None
        delay = max(0.0, (expires_at - utcnow()).total_seconds())
        return asyncio.get_running_loop().call_later(
            delay, self.close_soon, connection, CloseCode.INVALID_TOKEN, "auth.session_expired"
        )

    async def _live_session(
        self, connection: ServerConnection, subscriber: Subscriber, caller: Caller, hello: Hello
    ) -> None:
        """Welcome, then what came meanwhile, then the connection's session until it ends."""
        welcome = await self.greeter.welcome(subscriber, hello, caller)
        write_now(connection, server_frame(welcome))
        # the welcome covers everything up to welcome.seq; what came meanwhile follows
        for event in self.hub.go_live(subscriber, sent_up_to=welcome.seq):
            write_now(connection, server_frame(event))
        if caller.device is not None:
            self._link(caller, hello, connected=True)
        await session.serve(
            connection, caller=caller, language=hello.language, answers=self.answers
        )

    def _link(self, caller: Caller, hello: Hello, *, connected: bool) -> None:
        """Queue the device's connection state for the presence writer (never waits)."""
        device = caller.device
        assert device is not None
        if self.presence is None:
            return
        self.presence.put(
            DeviceLink(
                device_id=device.id,
                organization_id=caller.organization_id,
                site_id=device.site_id,
                connected=connected,
                client_version=f"{hello.client.name} {hello.client.version}",
            )
        )


def _registry_keys(caller: Caller) -> list[RegistryKey]:
    if caller.device is not None:
        return [("device", caller.device.id)]
    keys: list[RegistryKey] = [("person", caller.actor.id)]
    if caller.session_hash:
        keys.append(("session", caller.session_hash))
    return keys
