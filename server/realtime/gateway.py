"""The WebSocket gateway: the `websockets` server on its own port, in the app's event loop.

One connection's life: the client sends `hello` within `hello_timeout_seconds`; the token (or,
for browsers, the session cookie of the handshake) says who it is; it is subscribed to the
hub in buffering mode, the database is read (replay of `seq > last_seq`, or a snapshot), the
`welcome` and then the buffered events are written, and the connection is live. Receipts
and acks go to the group-commit writer. See docs/protocol.md for the contract.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from http import HTTPStatus
from http.cookies import SimpleCookie
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from protocol.closecodes import CloseCode
from protocol.codec import ProtocolError, decode_client
from protocol.messages import MAX_CLIENT_FRAME, PROTOCOL_VERSION, Ack, Hello, Ping, ReceiptMsg
from protocol.vocabulary import ReceiptState
from server.clock import utcnow
from server.core.permissions import Action, ActorKind, sites_where
from server.credentials import DEVICE_PREFIX, SESSION_COOKIE
from server.errors import ERRORS
from server.realtime.frames import dumps
from server.realtime.hub import Hub, Subscriber, write_now
from server.realtime.presence import DeviceLink, PresenceWriter
from server.realtime.receipts import ReceiptWriter
from server.realtime.snapshots import Snapshots
from server.realtime.tokens import DeviceTokens
from server.settings import Settings
from server.storage import callers, events, sites
from server.storage.callers import Caller
from server.storage.database import Database
from server.storage.receipts import ReceiptUpdate

log = logging.getLogger(__name__)

MAX_INVALID_FRAMES = 10
REVOKED_MEMORY = 60.0  # seconds a revocation is remembered against racing hellos


@dataclass(frozen=True)
class Welcome:
    recovered: bool
    epoch: str
    seq: int
    active: list[dict[str, Any]]
    events: list[dict[str, Any]]


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
        self.tokens = tokens
        self.snapshots = snapshots
        self.presence = presence
        self._admission = asyncio.Semaphore(settings.hello_concurrency)
        self.database = database
        self.hub = hub
        self.receipts = receipts
        # live connections by ("device", id), ("person", id) and ("session", token hash)
        self._live: dict[tuple[str, object], set[ServerConnection]] = defaultdict(set)
        self._server: Server | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._revoked: dict[int, float] = {}  # device id → time.monotonic() of its revocation
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
        """Browsers must come from our own pages; native clients send no Origin."""
        allowed = set(self.settings.allowed_origins)
        if self.settings.public_url:
            allowed.add(self.settings.public_url.rstrip("/"))
        if origin in allowed:
            return True
        if self.settings.environment == "development":
            host = origin.split("://", 1)[-1].split(":", 1)[0]
            return host in {"127.0.0.1", "localhost", "[::1]"}
        return False

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

    def _close(self, key: tuple[str, object]) -> int:
        connections = list(self._live.get(key, ()))
        for connection in connections:
            self.close_soon(connection, CloseCode.REVOKED, "auth.revoked")
        return len(connections)

    def close_soon(self, connection: ServerConnection, code: int, reason: str) -> None:
        """Start closing without waiting for the peer (keeps the task referenced)."""
        task = asyncio.create_task(connection.close(code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _register(self, connection: ServerConnection, keys: list[tuple[str, object]]) -> None:
        for key in keys:
            self._live[key].add(connection)

    def _unregister(self, connection: ServerConnection, keys: list[tuple[str, object]]) -> None:
        for key in keys:
            live = self._live.get(key)
            if live is not None:
                live.discard(connection)
                if not live:
                    del self._live[key]

    # -- one connection ------------------------------------------------------------------
    async def _handle(self, connection: ServerConnection) -> None:
        if self.settings.socket_send_buffer_bytes:
            sock = connection.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_SNDBUF, self.settings.socket_send_buffer_bytes
                )
        hello = await self._receive_hello(connection)
        if hello is None:
            return
        # Device tokens are resolved in batches; person hellos (and the welcome's rare
        # database reads) pass an admission limit: in a reconnect storm they wait here in
        # memory instead of timing out on the connection pool.
        caller = await self._authenticate(connection, hello)
        if caller is None:
            await self._error(connection, "auth.invalid_token")
            await connection.close(CloseCode.INVALID_TOKEN, "auth.invalid_token")
            return
        subscriber = await self._subscriber(connection, caller)
        keys = _registry_keys(caller)
        self._register(connection, keys)
        if self._revoked_meanwhile(caller):
            self._unregister(connection, keys)
            await connection.close(CloseCode.REVOKED, "auth.revoked")
            return
        await self.hub.subscribe(subscriber)
        try:
            async with self._admission:
                welcome = await self._welcome(subscriber, hello)
            write_now(connection, dumps(self._welcome_message(welcome, caller)))
            # the welcome covers everything up to welcome.seq; what came meanwhile follows
            for event in self.hub.go_live(subscriber, sent_up_to=welcome.seq):
                write_now(connection, dumps({"type": "alert", **event}))
            if caller.device is not None:
                self._link(caller, hello, connected=True)
            await self._serve(connection, caller, hello.language)
        except ConnectionClosed:
            pass
        finally:
            self.hub.unsubscribe(subscriber)
            self._unregister(connection, keys)
            if caller.device is not None and ("device", caller.device.id) not in self._live:
                self._link(caller, hello, connected=False)

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

    async def _receive_hello(self, connection: ServerConnection) -> Hello | None:
        try:
            raw = await asyncio.wait_for(
                connection.recv(), timeout=self.settings.hello_timeout_seconds
            )
        except TimeoutError:
            await connection.close(CloseCode.HELLO_TIMEOUT, "hello timeout")
            return None
        except ConnectionClosed:
            return None
        try:
            message = decode_client(raw)
        except ProtocolError as exc:
            await self._error(connection, exc.code, exc.detail)
            code = (
                CloseCode.UNSUPPORTED_VERSION
                if exc.code == "protocol.unsupported_version"
                else CloseCode.PROTOCOL_ABUSE
            )
            await connection.close(code, exc.code)
            return None
        if not isinstance(message, Hello):
            await self._error(connection, "protocol.hello_required")
            await connection.close(CloseCode.PROTOCOL_ABUSE, "protocol.hello_required")
            return None
        return message

    async def _authenticate(self, connection: ServerConnection, hello: Hello) -> Caller | None:
        token = hello.token or _cookie(connection.request.headers if connection.request else None)
        if not token:
            return None
        if token.startswith(DEVICE_PREFIX):
            return await self.tokens.resolve(token)  # batched with the other hellos
        async with self._admission, self.database.session() as session:
            caller = await callers.from_bearer_token(session, token=token, now=utcnow())
        if caller is None or caller.actor.kind is ActorKind.API_KEY:
            return None
        return caller

    async def _subscriber(self, connection: ServerConnection, caller: Caller) -> Subscriber:
        if caller.device is not None:
            site_ids = frozenset({caller.device.site_id})
        else:
            async with self._admission, self.database.session() as session:
                all_sites = [
                    site.id
                    for site in await sites.list_sites(
                        session, organization_id=caller.organization_id
                    )
                ]
            site_ids = sites_where(caller.actor, Action.RECEIVE, all_site_ids=all_sites)
        rollcall_sites = (
            sites_where(caller.actor, Action.VIEW_ROLLCALL, all_site_ids=site_ids)
            if caller.person is not None
            else frozenset()
        )

        def close(code: int, reason: str) -> None:
            self.close_soon(connection, code, reason)

        return Subscriber(
            organization_id=caller.organization_id,
            site_ids=site_ids,
            connection=connection,
            close=close,
            device_id=caller.device.id if caller.device else None,
            person_id=caller.person.id
            if caller.person
            else (caller.device.person_id if caller.device else None),
            dashboard=bool(rollcall_sites),
            rollcall_site_ids=rollcall_sites,
        )

    async def _welcome(self, subscriber: Subscriber, hello: Hello) -> Welcome:
        """Replay `seq > last_seq` when the epoch matches and the gap is small (from the hub's
        memory when it reaches back that far, else the database), otherwise a snapshot of the
        active alerts (recovered false). The subscriber is already buffering live events."""
        org = subscriber.organization_id
        snapshot = await self.snapshots.get(org)
        gap = snapshot.seq - hello.last_seq
        if hello.epoch == snapshot.epoch and 0 <= gap <= self.settings.max_replay_events:
            replay = self.hub.recent_events(org, after_seq=hello.last_seq)
            if replay is None:
                async with self.database.session() as session:
                    rows = await events.since(
                        session, organization_id=org, after_seq=hello.last_seq, limit=gap
                    )
                replay = [events.event_document(row) for row in rows]
            visible = [e for e in replay if e["seq"] <= snapshot.seq and subscriber.wants(e)]
            return Welcome(True, snapshot.epoch, snapshot.seq, [], visible)
        active = [alert for alert in snapshot.active if subscriber.wants({"alert": alert})]
        return Welcome(False, snapshot.epoch, snapshot.seq, active, [])

    def _welcome_message(self, welcome: Welcome, caller: Caller) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "welcome",
            "v": PROTOCOL_VERSION,
            "recovered": welcome.recovered,
            "epoch": welcome.epoch,
            "seq": welcome.seq,
            "active": welcome.active,
            "events": welcome.events,
            "heartbeat_s": self.settings.heartbeat_seconds,
        }
        if caller.device is not None:
            message["device"] = {
                "id": caller.device.id,
                "kind": caller.device.kind,
                "name": caller.device.name,
                "site_id": caller.device.site_id,
                "zone_id": caller.device.zone_id,
            }
        return message

    async def _serve(self, connection: ServerConnection, caller: Caller, language: str) -> None:
        invalid = 0
        async for raw in connection:
            try:
                message = decode_client(raw)
            except ProtocolError as exc:
                invalid += 1
                await self._error(connection, exc.code, exc.detail, language)
                if invalid >= MAX_INVALID_FRAMES:
                    await connection.close(CloseCode.PROTOCOL_ABUSE, "too many invalid frames")
                    return
                continue
            if isinstance(message, Ping):
                pong: dict[str, Any] = {"type": "pong"}
                if message.ts is not None:
                    pong["ts"] = message.ts
                write_now(connection, dumps(pong))
            elif isinstance(message, ReceiptMsg | Ack):
                self._record(caller, message)
            else:
                invalid += 1
                await self._error(connection, "protocol.unexpected", message.TYPE, language)

    def _record(self, caller: Caller, message: ReceiptMsg | Ack) -> None:
        device = caller.device
        if device is None:
            return  # dashboards don't receipt; persons ack through their devices or the API
        update = ReceiptUpdate(
            organization_id=caller.organization_id,
            alert_id=message.alert_id,
            device_id=device.id,
            site_id=device.site_id,
            person_id=device.person_id,
            at=utcnow(),
        )
        if isinstance(message, Ack):
            update = replace(
                update,
                response=str(message.response),
                note=message.note,
                location=message.location,
            )
        else:
            update = replace(
                update, delivered=True, displayed=message.state == ReceiptState.DISPLAYED
            )
        self.receipts.put(update)

    async def _error(
        self, connection: ServerConnection, code: str, detail: str = "", language: str = "sv"
    ) -> None:
        """An `error` frame in the client's language; the detail says what exactly was wrong."""
        spec = ERRORS.get(code)
        text = (spec.en if language == "en" else spec.sv) if spec else code
        message = f"{text} ({detail[:200]})" if detail else text
        try:
            await connection.send(
                dumps({"type": "error", "code": code, "message": message}).decode()
            )
        except ConnectionClosed:
            pass


def _registry_keys(caller: Caller) -> list[tuple[str, object]]:
    if caller.device is not None:
        return [("device", caller.device.id)]
    keys: list[tuple[str, object]] = [("person", caller.actor.id)]
    if caller.session_hash:
        keys.append(("session", caller.session_hash))
    return keys


def _cookie(headers: Headers | None) -> str | None:
    if headers is None:
        return None
    jar = SimpleCookie()
    for value in headers.get_all("Cookie"):
        try:
            jar.load(value)
        except Exception:  # a malformed cookie header is just no cookie
            continue
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel else None
