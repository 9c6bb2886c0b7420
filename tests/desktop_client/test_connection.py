"""desktop_client/connection.py against a real WebSocket server (the `websockets` library's
threaded server on 127.0.0.1): the events in order, the server's close code and reason passed
on exactly, `abort()` and a refused connect ending in one 1006, nothing after `Closed`."""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from websockets.sync.server import ServerConnection, serve

from desktop_client.connection import Closed, Connection, Event, Frame, Opened

WAIT_S = 30.0


@contextmanager
def server(handler: Callable[[ServerConnection], None]) -> Iterator[str]:
    with serve(handler, "127.0.0.1", 0) as running:
        thread = threading.Thread(target=running.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{running.socket.getsockname()[1]}/ws"
        finally:
            running.shutdown()
            thread.join(WAIT_S)


def collect() -> tuple[queue.SimpleQueue[Event], Callable[[Event], None]]:
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    return events, events.put


def until_closed(events: queue.SimpleQueue[Event]) -> list[Event]:
    seen: list[Event] = []
    while not seen or not isinstance(seen[-1], Closed):
        seen.append(events.get(timeout=WAIT_S))
    return seen


def test_frames_then_the_servers_close_code_and_reason_exactly() -> None:
    """The server answers the client's frame and closes with 4002: Opened, the frame, and
    Closed(4002, "auth.revoked") as sent; nothing after it."""

    def handler(ws: ServerConnection) -> None:
        ws.send("echo:" + str(ws.recv()))
        ws.close(4002, "auth.revoked")

    events, report = collect()
    with server(handler) as url:
        connection = Connection(url, report)
        assert events.get(timeout=WAIT_S) == Opened()
        connection.send("hello")
        assert until_closed(events) == [Frame("echo:hello"), Closed(4002, "auth.revoked")]
        connection.abort()  # after the close: nothing more is reported
        connection.send("late")
    assert events.empty()


def test_a_normal_close_without_a_reason_stays_1000() -> None:
    """A close frame 1000 with no reason is not taken for a dropped connection."""
    events, report = collect()
    with server(lambda ws: ws.close(1000, "")) as url:
        Connection(url, report)
        assert until_closed(events) == [Opened(), Closed(1000, "")]


def test_abort_ends_an_open_connection_with_one_1006() -> None:
    """abort() while the server keeps talking: Closed(1006, "") once, no frame after it."""
    stop = threading.Event()

    def handler(ws: ServerConnection) -> None:
        while not stop.is_set():
            try:
                ws.send("tick")
            except Exception:
                return
            stop.wait(0.01)

    events, report = collect()
    with server(handler) as url:
        connection = Connection(url, report)
        assert events.get(timeout=WAIT_S) == Opened()
        assert events.get(timeout=WAIT_S) == Frame("tick")
        connection.abort()
        seen = until_closed(events)
        stop.set()
    assert seen[-1] == Closed(1006, "")
    assert all(event == Frame("tick") for event in seen[:-1])
    assert events.empty()


def test_a_refused_connect_is_one_1006() -> None:
    """Nothing listens on the port: one Closed(1006, ""), no Opened."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    events, report = collect()
    Connection(f"ws://127.0.0.1:{port}/ws", report)
    assert until_closed(events) == [Closed(1006, "")]
