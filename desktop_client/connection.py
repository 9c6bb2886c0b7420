"""One WebSocket connection of the desktop client, on threads: the `websockets` library's
sync client, so the process needs no QtNetwork/QtWebSockets (about 10 MB of resident memory
less than `QWebSocket`; bench/README.md "Desktop client").

A `Connection` reports what happens to its `report` callback, from its own threads, in order:
`Opened()` once the handshake is done, a `Frame(text)` per text frame, and exactly one
`Closed(code, reason)` at the end — the close frame's code and reason exactly as the server
sent them, or 1006 and "" when none came (refused, unreachable, TLS or handshake failure,
a dropped connection, or `abort()`). Nothing is reported after `Closed`. The Qt side passes a
queued signal's `emit` (desktop_client/qt/link.py), so the events reach the Qt thread.

`send()` never blocks its caller: frames go to an outbox that a sender thread writes, so a
stalled network cannot freeze the Qt thread (the state machine's watchdog then drops the
connection)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from desktop_client.version import VERSION
from protocol.closecodes import CloseCode

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 10.0  # TCP + TLS + HTTP upgrade; then it counts as a failed connect
MAX_FRAME_BYTES = 16 * 1024 * 1024  # a welcome lists every active alert: room to spare


@dataclass(frozen=True, slots=True)
class Opened:
    pass


@dataclass(frozen=True, slots=True)
class Frame:
    text: str


@dataclass(frozen=True, slots=True)
class Closed:
    code: int
    reason: str


Event = Opened | Frame | Closed


class Connection:
    """Connects to `url` at once (on a daemon thread) and reads until closed or aborted."""

    def __init__(self, url: str, report: Callable[[Event], object]) -> None:
        self._url = url
        self._report = report
        self._lock = threading.Lock()  # orders reports; guards the fields below
        self._ws: ClientConnection | None = None
        self._aborted = False
        self._finished = False  # Closed was reported
        self._outbox: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        threading.Thread(target=self._read, name="pdv-ws-read", daemon=True).start()

    def send(self, text: str) -> None:
        """Queue a text frame; dropped if the connection closes first (the state machine
        sends again what matters after the next welcome)."""
        self._outbox.put(text)

    def abort(self) -> None:
        """Close now, without a closing handshake: `Closed` follows (1006, unless the
        server's close frame had already arrived), and no frame after it."""
        with self._lock:
            self._aborted = True
            ws = self._ws
        self._outbox.put(None)
        if ws is not None:
            ws.close_socket()  # the reading thread's recv() raises and reports the close
        else:  # still connecting: the connecting thread will close what it gets, silently
            self._emit(Closed(CloseCode.ABNORMAL, ""))

    def _emit(self, event: Event) -> None:
        with self._lock:
            if self._finished or (self._aborted and isinstance(event, Frame)):
                return
            self._finished = isinstance(event, Closed)
            try:
                self._report(event)
            except RuntimeError:  # the receiver is gone (the client closed): nothing to tell
                self._aborted = True

    def _read(self) -> None:
        try:
            ws = connect(
                self._url,
                compression=None,  # small JSON frames: not worth zlib's memory per connection
                open_timeout=OPEN_TIMEOUT_S,
                ping_interval=None,  # the protocol's own ping/pong and watchdog (state.py)
                max_size=MAX_FRAME_BYTES,
                user_agent_header=f"pdv-alert-desktop/{VERSION}",
            )
        except Exception as error:  # refused, unreachable, TLS, rejected upgrade, timeout
            log.info("desktop: WebSocket connect to %s failed: %r", self._url, error)
            self._emit(Closed(CloseCode.ABNORMAL, ""))
            return
        with self._lock:
            aborted = self._aborted
            if not aborted:
                self._ws = ws
        if aborted:
            ws.close_socket()
            return
        with ws:  # websockets ≥ 17.1 wants its connection used as a context manager
            writer = threading.Thread(target=self._write, args=(ws,), name="pdv-ws-write")
            writer.daemon = True
            writer.start()
            self._emit(Opened())
            try:
                while True:
                    message = ws.recv()
                    if isinstance(message, str):  # the protocol has no binary frames
                        self._emit(Frame(message))
            except ConnectionClosed as closed:
                received = closed.rcvd
                if received is None:
                    self._emit(Closed(CloseCode.ABNORMAL, ""))
                else:
                    self._emit(Closed(int(received.code), received.reason))
            finally:
                self._outbox.put(None)
                ws.close_socket()

    def _write(self, ws: ClientConnection) -> None:
        while (text := self._outbox.get()) is not None:
            try:
                ws.send(text)
            except ConnectionClosed:  # the reading thread reports how it closed
                return
