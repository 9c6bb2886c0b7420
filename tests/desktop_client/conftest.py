"""Fixtures for the desktop client's tests against the real `pdv-alert serve` process. Qt
tests run on the `offscreen` platform (no display, no system tray, no audio device), set
before pytest-qt creates the application."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from protocol.vocabulary import Role
from server import demo
from tests.server.serving import HTTP_TIMEOUT, Running, serving

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SITE = "Ullvigymnasiet"
PRINCIPAL = next(p for p in demo.PEOPLE if p.roles == ((Role.PRINCIPAL, SITE),))
ADMIN = next(p for p in demo.PEOPLE if p.roles == ((Role.ADMIN, None),))
CHIEF = next(p for p in demo.PEOPLE if p.roles == ((Role.SECURITY_CHIEF, None),))


@contextmanager
def logged_in(url: str, person: demo.DemoPerson) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=HTTP_TIMEOUT) as client:
        answer = client.post(
            "/api/v1/auth/login", json={"email": person.email, "password": person.password}
        )
        assert answer.status_code == 200, answer.text
        yield client


def site_id(url: str) -> int:
    with logged_in(url, PRINCIPAL) as principal:
        return int(principal.get("/api/v1/me").json()["roles"][0]["site_id"])


def enrollment_code(url: str, site: int) -> str:
    """A fresh one-use code for a desktop at `site`, made by the demo admin over HTTP."""
    with logged_in(url, ADMIN) as admin:
        made = admin.post(
            "/api/v1/enrollment-codes",
            json={"site_id": site, "device_kind": "desktop", "max_uses": 1},
        )
    assert made.status_code == 201, made.text
    return str(made.json()["code"])


@dataclass
class School:
    running: Running
    site_id: int

    @property
    def url(self) -> str:
        return self.running.url

    def code(self) -> str:
        return enrollment_code(self.url, self.site_id)


@pytest.fixture
def school(tmp_path: Path) -> Iterator[School]:
    """`pdv-alert demo` + `pdv-alert serve` on a fresh SQLite file, and the site to enroll at."""
    with serving(tmp_path / "server") as running:
        yield School(running=running, site_id=site_id(running.url))


@pytest.fixture(autouse=True, scope="session")
def qt_objects_go_before_the_application(qapp: Any) -> Iterator[None]:
    """Qt objects left to the interpreter's exit are destroyed after the QApplication, which
    can crash the process after a green run ("shared QObject was deleted directly"): delete
    every window and unreferenced object while the application still exists."""
    yield
    from PySide6.QtCore import QCoreApplication, QEvent

    for widget in qapp.topLevelWidgets():
        widget.deleteLater()
    gc.collect()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    qapp.processEvents()
    gc.collect()
