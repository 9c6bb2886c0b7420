"""One WebSocket connection as a plain `asyncio.Protocol` over the `websockets` library's
Sans-I/O `ServerProtocol`: the library parses the handshake, frames and the closing
handshake and answers pings and close frames; this module only moves bytes between it and
the transport, keeps timers, and hands complete client messages to the gateway.

Why not the library's asyncio server: it gives every connection a handler task for its whole
life, a keepalive task, a receive queue and a copy of the request headers — about 20 KB of
memory per idle connection (bench/README.md). Here an idle connection is this object, the
library's protocol object and the transport: no task after the welcome, one shared heartbeat
for all connections (`Heartbeat`), and of the request only the session cookie is kept until
the hello has been authenticated.

What the gateway does with a connection goes through `Handler` (server/realtime/gateway.py):
`accepting` may refuse the handshake (the origin check), `opened` is called once the
connection is open, `received` with each complete client message (str for text, bytes for
binary), `closed` once when the TCP connection is gone.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from http import HTTPStatus
from typing import NamedTuple, cast
from typing import Protocol as Interface

from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

log = logging.getLogger(__name__)

OPEN = State.OPEN
CLOSE_TIMEOUT = 10.0  # seconds the peer has to finish the closing handshake (the library's)
OPEN_TIMEOUT = 10.0  # seconds to send the HTTP upgrade request (the library's open_timeout)
SERVER_HEADER = "pdv-alert"
# An empty ping, pre-encoded like the hub's frames (server frames are unmasked and the
# connections negotiate no extension, so the bytes are the same for every connection).
PING_FRAME = Frame(Opcode.PING, b"").serialize(mask=False)


class Refusal(NamedTuple):
    """A handshake refused with an HTTP status and a plain-text body."""

    status: HTTPStatus
    text: str


class Handler(Interface):
    """What the gateway does with its connections."""

    serving: bool  # False once the gateway is shutting down: new handshakes get 503

    def accepting(self, request: Request) -> Refusal | str | None:
        """The handshake's request: a Refusal refuses it; otherwise the connection is
        accepted and the returned string (the session cookie, say) kept as `credential`."""
        ...

    def opened(self, connection: WebSocket) -> None: ...

    def received(self, connection: WebSocket, message: str | bytes) -> None: ...

    def closed(self, connection: WebSocket) -> None: ...


class WebSocket(asyncio.Protocol):
    """One server-side WebSocket connection. `transport` and `protocol` are what the hub
    writes pre-encoded frames with (server/realtime/hub.py's `Connection`); `state` is the
    gateway's per-connection record (server/realtime/gateway.py), None until the hello."""

    __slots__ = (
        "awaiting_pong",
        "closing",
        "credential",
        "direct_fd",
        "fd",
        "fragment_opcode",
        "fragments",
        "handler",
        "protocol",
        "send_buffer",
        "state",
        "timer",
        "transport",
    )

    def __init__(self, handler: Handler, *, max_size: int, send_buffer: int = 0) -> None:
        self.handler = handler
        self.protocol = ServerProtocol(max_size=max_size)
        self.send_buffer = send_buffer  # SO_SNDBUF; 0: the kernel's default
        self.transport: asyncio.Transport = cast(asyncio.Transport, None)
        self.credential: str | None = None
        self.state: object = None
        self.timer: asyncio.TimerHandle | None = None  # open, hello or close deadline
        self.fragments: list[bytes] | None = None  # a fragmented message being received
        self.fragment_opcode = Opcode.TEXT
        self.awaiting_pong = False
        self.closing = False  # the close deadline is set
        self.fd = -1  # the socket's descriptor (-1: none, or not a plain TCP socket)
        # The socket's descriptor while a complete frame may be written straight to it
        # (server/realtime/direct.py): open, nothing buffered ahead of it, not closing; else -1.
        self.direct_fd = -1

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            if self.send_buffer:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)
            if transport.get_extra_info("sslcontext") is None:
                self.fd = sock.fileno()
        # With a high-water mark of 0 the transport calls pause_writing as soon as it holds
        # any byte and resume_writing once it holds none.
        self.transport.set_write_buffer_limits(high=0)
        self.set_timer(OPEN_TIMEOUT, self.abort)

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        self.flush()  # the library's automatic answers: pong, the close reply
        for event in events:
            if isinstance(event, Frame):
                self._frame(event)
            elif isinstance(event, Request):
                self._handshake(event)
        if protocol.state is not OPEN:  # the peer's close frame, or a protocol error
            self.direct_fd = -1

    def eof_received(self) -> bool | None:
        self.direct_fd = -1
        self.protocol.receive_eof()
        self.flush()
        return None  # close the transport: WebSocket never writes after the peer's EOF

    def connection_lost(self, exc: Exception | None) -> None:
        # Before the transport closes the socket (asyncio closes it after this returns), so
        # the descriptor, which the kernel may then give to a new connection, is forgotten.
        self.direct_fd = self.fd = -1
        self.protocol.receive_eof()  # idempotent: the state is now CLOSED
        self.cancel_timer()
        self.fragments = None
        self.handler.closed(self)

    def pause_writing(self) -> None:
        self.direct_fd = -1

    def resume_writing(self) -> None:
        self._allow_direct()

    # -- writing ------------------------------------------------------------------------
    def _allow_direct(self) -> None:
        """Let the hub write straight to the socket while that keeps the bytes in order."""
        transport = self.transport
        if (
            self.protocol.state is OPEN
            and not transport.get_write_buffer_size()
            and not transport.is_closing()
        ):
            self.direct_fd = self.fd

    def flush(self) -> None:
        """Write what the library has queued; its end-of-stream marker half-closes."""
        transport = self.transport
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()
            else:
                transport.close()
        if not self.closing and self.protocol.close_expected():
            self.closing = True
            self.set_timer(CLOSE_TIMEOUT, self.abort)

    def write(self, frame: bytes) -> bool:
        """Write one complete pre-encoded frame; False when the connection is not open."""
        if self.protocol.state is not OPEN:
            return False
        self.transport.write(frame)
        return True

    def close(self, code: int, reason: str = "") -> None:
        """Start the closing handshake (the peer has CLOSE_TIMEOUT to answer); never waits."""
        if self.protocol.state is OPEN:
            self.direct_fd = -1
            self.cancel_timer()  # a hello deadline no longer applies
            self.protocol.send_close(code, reason)
            self.flush()

    def fail(self, code: int, reason: str) -> None:
        """Close at once after a close frame, without waiting for the peer's."""
        if self.protocol.state is OPEN:
            self.direct_fd = -1
            self.cancel_timer()
            self.protocol.fail(code, reason)
            self.flush()
            self.transport.close()

    def ping(self) -> None:
        """Send a ping; `awaiting_pong` stays True until any pong arrives."""
        if self.protocol.state is OPEN:
            self.transport.write(PING_FRAME)
            self.awaiting_pong = True

    def abort(self) -> None:
        self.direct_fd = -1
        self.transport.abort()

    # -- timers -------------------------------------------------------------------------
    def set_timer(self, delay: float, callback: Callable[[], None]) -> None:
        self.cancel_timer()
        self.timer = asyncio.get_running_loop().call_later(delay, callback)

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    # -- reading ------------------------------------------------------------------------
    def _handshake(self, request: Request) -> None:
        handler = self.handler
        protocol = self.protocol
        response: Response
        try:
            verdict = handler.accepting(request)
        except Exception:
            log.exception("checking a WebSocket handshake failed")
            verdict = Refusal(
                HTTPStatus.INTERNAL_SERVER_ERROR, "Failed to open a WebSocket connection.\n"
            )
        if isinstance(verdict, Refusal):
            response = protocol.reject(verdict.status, verdict.text)
        elif not handler.serving:
            response = protocol.reject(HTTPStatus.SERVICE_UNAVAILABLE, "Server is shutting down.\n")
        else:
            response = protocol.accept(request)
            if response.status_code == HTTPStatus.SWITCHING_PROTOCOLS:
                self.credential = verdict
        response.headers["Server"] = SERVER_HEADER
        self.cancel_timer()
        protocol.send_response(response)
        self.flush()
        # The library's parser keeps the request (a local of its generator) for the
        # connection's life; nothing reads its headers after the handshake: drop them.
        request.headers.clear()
        if self.protocol.state is OPEN:
            self._allow_direct()
            handler.opened(self)
        elif not self.closing:  # refused: the peer has CLOSE_TIMEOUT to hang up
            self.closing = True
            self.set_timer(CLOSE_TIMEOUT, self.abort)

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.PONG:
            self.awaiting_pong = False
            return
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if not frame.fin:
                self.fragments = [bytes(frame.data)]
                self.fragment_opcode = opcode
                return
            self._message(opcode, bytes(frame.data))
        elif opcode is Opcode.CONT and self.fragments is not None:
            self.fragments.append(bytes(frame.data))
            if frame.fin:
                data = b"".join(self.fragments)
                self.fragments = None
                self._message(self.fragment_opcode, data)
        # PING and CLOSE: the library has answered them (see flush in data_received)

    def _message(self, opcode: Opcode, data: bytes) -> None:
        if self.protocol.state is not OPEN:
            return  # closing: what the peer sent meanwhile is not read
        if opcode is Opcode.TEXT:
            try:
                text = data.decode()
            except UnicodeDecodeError:
                self.fail(1007, "invalid UTF-8")  # as the library's own server does
                return
            self.handler.received(self, text)
        else:
            self.handler.received(self, data)
