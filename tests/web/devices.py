"""The other people in the dashboard's browser tests: real device clients — staff members
enroll a desktop device each (bound to them, since they enroll from their own login
session) and connect to the real gateway over WebSocket, speaking protocol/ as the tray
client does: receipts when an alert arrives, then the answer the test asks for — plus HTTP
login sessions for checking the server's state, and `log_in` through the dashboard's form."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from playwright.sync_api import Page, expect
from websockets.sync.client import ClientConnection, connect

from server import demo
from tests.server.serving import HTTP_TIMEOUT, Running

ADMIN = next(p for p in demo.PEOPLE if p.email.startswith("admin@"))


@contextmanager
def login(server: Running, email: str, password: str) -> Iterator[httpx.Client]:
    """An HTTP client holding a login session (cookie) on the server."""
    with httpx.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as http:
        answer = http.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert answer.status_code == 200, answer.text
        yield http


def person(email_local: str) -> demo.DemoPerson:
    return next(p for p in demo.PEOPLE if p.email.split("@")[0] == email_local)


def site_id(http: httpx.Client, name: str) -> int:
    sites = http.get("/api/v1/sites").json()
    return int(next(site["id"] for site in sites if site["name"] == name))


@dataclass
class Device:
    """One enrolled device with a live WebSocket to the gateway."""

    id: int
    token: str
    ws: ClientConnection

    def next_frame(self, kind: str) -> dict[str, Any]:
        """The next frame of `kind`, skipping others (pong)."""
        while True:
            frame = json.loads(self.ws.recv(timeout=HTTP_TIMEOUT))
            if frame["type"] == kind:
                return dict(frame)

    def receive_alert(self) -> dict[str, Any]:
        """Wait for the next alert frame and receipt it as delivered and displayed."""
        frame = self.next_frame("alert")
        alert_id = frame["alert"]["id"]
        for state in ("delivered", "displayed"):
            self.ws.send(json.dumps({"type": "receipt", "alert_id": alert_id, "state": state}))
        return frame

    def answer(self, alert_id: int, response: str, *, note: str = "", location: str = "") -> None:
        message: dict[str, Any] = {"type": "ack", "alert_id": alert_id, "response": response}
        if note:
            message["note"] = note
        if location:
            message["location"] = location
        self.ws.send(json.dumps(message))


def enroll(server: Running, *, site: str, email_locals: list[str]) -> list[tuple[int, str]]:
    """Each named staff member enrolls one desktop device at `site` from their own session
    with a code the admin made; returns (device id, token) pairs in that order."""
    with login(server, ADMIN.email, ADMIN.password) as admin:
        code = admin.post(
            "/api/v1/enrollment-codes",
            json={"site_id": site_id(admin, site), "max_uses": len(email_locals)},
        )
        assert code.status_code == 201, code.text
        plaintext = code.json()["code"]
    enrolled = []
    for local in email_locals:
        staff = person(local)
        with login(server, staff.email, staff.password) as http:
            answer = http.post(
                "/api/v1/devices/enroll",
                json={"code": plaintext, "kind": "desktop", "name": f"Dator {staff.name}"},
            )
            assert answer.status_code == 201, answer.text
            enrolled.append((int(answer.json()["device"]["id"]), str(answer.json()["token"])))
    return enrolled


@contextmanager
def connected(server: Running, enrolled: list[tuple[int, str]]) -> Iterator[list[Device]]:
    """The devices connected and welcomed by the gateway; closed when the block ends."""
    with ExitStack() as stack:
        devices = []
        for device_id, token in enrolled:
            ws = stack.enter_context(connect(server.ws_url, open_timeout=HTTP_TIMEOUT))
            hello = {
                "type": "hello",
                "v": 1,
                "token": token,
                "epoch": None,
                "last_seq": 0,
                "client": {"name": "web-test-device", "version": "1"},
            }
            ws.send(json.dumps(hello))
            device = Device(id=device_id, token=token, ws=ws)
            device.next_frame("welcome")
            devices.append(device)
        yield devices


def log_in(page: Page, who: demo.DemoPerson) -> None:
    """Log in through the dashboard's form and wait for the views."""
    page.goto("/dashboard")
    page.get_by_label("E-post").fill(who.email)
    page.get_by_label("Lösenord").fill(who.password)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("button", name="Logga ut")).to_be_visible()
