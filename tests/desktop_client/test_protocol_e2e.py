"""The state machine against the real `pdv-alert serve` process: a pure-Python driver (the
websockets sync client) feeds the server's frames into desktop_client.state and carries out
its effects, as the Qt shell does."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from desktop_client import server_api, state
from protocol.codec import decode_server, encode
from protocol.messages import AlertEvent, ClientInfo, Pong, Welcome
from protocol.vocabulary import Response
from tests.desktop_client.conftest import PRINCIPAL, enrollment_code, logged_in, site_id
from tests.server.serving import database_url, environment, seed, serve

WAIT = 60.0


class Driver:
    def __init__(self, url: str, ws_url: str, token: str) -> None:
        self.url, self.ws_url, self.token = url, ws_url, token
        self.state = state.ClientState(
            token=token, client=ClientInfo(name="e2e", version="1"), random=lambda: 0.0
        )
        self.ws: ClientConnection | None = None
        self.shown: list[int] = []
        self.updated: list[str] = []
        self.ended: list[tuple[int, str]] = []

    def connect(self) -> None:
        self.ws = connect(self.ws_url, open_timeout=WAIT).__enter__()  # closed by the server
        self.run(self.state.connected(time.monotonic()))

    def run(self, effects: list[state.Effect]) -> None:
        for effect in effects:
            if isinstance(effect, state.Send) and self.ws is not None:
                self.ws.send(encode(effect.message))
            elif isinstance(effect, state.ShowAlarm):
                self.shown.append(effect.alert.id)
                self.run(self.state.shown(effect.alert.id))
            elif isinstance(effect, state.UpdateAlarm):
                self.updated.append(effect.alert.order.sv)
            elif isinstance(effect, state.EndAlarm):
                self.ended.append((effect.alert.id, effect.how))
            elif isinstance(effect, state.FetchAlert):
                doc = server_api.fetch_alert(self.url, self.token, effect.alert_id)
                self.run(self.state.fetched(doc))

    def pump(self, done: Callable[[], bool]) -> None:
        """Read frames into the state until `done()` (or the connection closes)."""
        deadline = time.monotonic() + WAIT
        while not done():
            assert time.monotonic() < deadline, "timed out"
            assert self.ws is not None
            try:
                frame = self.ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else 1006
                self.ws = None
                self.run(self.state.closed(code, "", time.monotonic()))
                return
            message = decode_server(frame)
            now = time.monotonic()
            if isinstance(message, Welcome):
                self.run(self.state.welcome(message, now))
            elif isinstance(message, AlertEvent):
                self.run(self.state.alert(message, now))
            elif isinstance(message, Pong):
                self.run(self.state.pong(message, now))


def rollcall(url: str, alert_id: int) -> dict[str, Any]:
    with logged_in(url, PRINCIPAL) as principal:
        answer = principal.get(f"/api/v1/alerts/{alert_id}/rollcall")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.1)


def test_alarm_lifecycle_and_resume_across_a_server_restart(tmp_path: Path) -> None:
    """trigger → ShowAlarm and `displayed` in the roll call; answer → need_help in the roll
    call; update → UpdateAlarm; resolve → EndAlarm; server killed and restarted → the client
    resumes without loss and an alert triggered meanwhile is shown."""
    db, env = database_url(tmp_path), environment()
    seed(db, env)
    with serve(db, env, tmp_path / "one.stderr") as running:
        site = site_id(running.url)
        enrolled = server_api.request(
            running.url,
            "POST",
            "/devices/enroll",
            body={"code": enrollment_code(running.url, site), "kind": "desktop", "name": "Sal 1"},
        )
        device = Driver(running.url, running.ws_url, enrolled["token"])
        device.connect()
        device.pump(lambda: device.state.is_connected)
        with logged_in(running.url, PRINCIPAL) as principal:
            first = principal.post(
                "/api/v1/alerts", json={"kind": "pdv_lockdown", "site_ids": [site]}
            ).json()
            first_id = first["alert"]["id"]
            device.pump(lambda: first_id in device.shown)
            eventually(lambda: rollcall(running.url, first_id)["totals"]["displayed"] >= 1)
            device.run(device.state.answer(first_id, Response.NEED_HELP, "hjälp", "B204"))
            eventually(
                lambda: (
                    [n["location"] for n in rollcall(running.url, first_id)["need_help"]]
                    == ["B204"]
                )
            )
            principal.patch(f"/api/v1/alerts/{first_id}", json={"order": {"sv": "Gå ut"}})
            device.pump(lambda: device.updated == ["Gå ut"])
            principal.post(f"/api/v1/alerts/{first_id}/resolve")
            device.pump(lambda: device.ended == [(first_id, "resolved")])
        running.process.kill()
        device.pump(lambda: False)  # returns when the connection drops
    assert not device.state.is_connected
    with serve(db, env, tmp_path / "two.stderr") as again:
        with logged_in(again.url, PRINCIPAL) as principal:
            second = principal.post(
                "/api/v1/alerts", json={"kind": "evacuate", "site_ids": [site]}
            ).json()
        second_id = second["alert"]["id"]
        device.url, device.ws_url = again.url, again.ws_url  # the new process's ports
        device.connect()
        device.pump(lambda: second_id in device.shown)
        assert device.state.last_seq == second["event"]["seq"] and device.shown == [
            first_id,
            second_id,
        ]
        eventually(lambda: rollcall(again.url, second_id)["totals"]["displayed"] >= 1)
