"""The client's WebSocket as Qt signals: `desktop_client.connection` on its threads, its
events queued to the Qt thread. `DesktopClient` holds one `Link` and reopens it after each
close, as the state machine says."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal

from desktop_client.connection import Closed, Connection, Event, Frame, Opened


class Link(QObject):
    """`open(url)`, then `connected`, a `text_received` per frame and one `closed(code,
    reason)` (exactly the server's close frame, or 1006 and "" without one). `abort()` closes
    at once and is followed by that `closed`; `open()` on a live link replaces the old
    connection, whose events are no longer delivered."""

    connected = Signal()
    text_received = Signal(str)
    closed = Signal(int, str)
    # A connection's events, emitted on its threads: (generation, connection.Event).
    reported = Signal(int, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._generation = 0
        self._connection: Connection | None = None
        self.reported.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @property
    def is_open(self) -> bool:
        """A connection is opening or open (its `closed` has not been delivered)."""
        return self._connection is not None

    def open(self, url: str) -> None:
        if self._connection is not None:
            self._connection.abort()
        self._generation += 1
        generation, reported = self._generation, self.reported
        self._connection = Connection(url, lambda event: reported.emit(generation, event))

    def send(self, text: str) -> None:
        if self._connection is not None:
            self._connection.send(text)

    def abort(self) -> None:
        if self._connection is not None:
            self._connection.abort()

    def _deliver(self, generation: int, event: Event) -> None:
        if generation != self._generation:  # a replaced connection
            return
        if isinstance(event, Opened):
            self.connected.emit()
        elif isinstance(event, Frame):
            self.text_received.emit(event.text)
        elif isinstance(event, Closed):
            self._connection = None
            self.closed.emit(event.code, event.reason)
