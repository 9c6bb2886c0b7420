"""The running tray client (desktop_client/qt/app.py) against the real `pdv-alert serve`
process, on Qt's offscreen platform: it connects, shows a triggered alert full screen and
receipts it `displayed`, sends the person's answer, follows an update and the all-clear, and
warns visibly when the server is gone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktop_client import config, server_api
from desktop_client.qt.alarm import AlarmWindow
from desktop_client.qt.app import DesktopClient
from server import demo
from tests.desktop_client.conftest import (
    ADMIN,
    CHIEF,
    PRINCIPAL,
    School,
    logged_in,
    site_id,
)
from tests.server.serving import HTTP_TIMEOUT, database_url, environment, seed, serve

WAIT_MS = 30_000


def enrolled(school: School, config_dir: Path) -> tuple[config.Settings, str]:
    answer = server_api.request(
        school.url,
        "POST",
        "/devices/enroll",
        body={"code": school.code(), "kind": "desktop", "name": "Sal 12"},
    )
    settings = config.Settings(
        server_url=school.url,
        device_id=int(answer["device"]["id"]),
        device_name="Sal 12",
        site_id=school.site_id,
    )
    config.write_settings(config_dir, settings)
    return settings, str(answer["token"])


def rollcall(url: str, alert_id: int) -> dict[str, Any]:
    with logged_in(url, PRINCIPAL) as principal:
        data: dict[str, Any] = principal.get(f"/api/v1/alerts/{alert_id}/rollcall").json()
    return data


def test_an_alert_is_shown_receipted_answered_updated_and_ended(
    qtbot: QtBot, school: School, tmp_path: Path
) -> None:
    """Trigger → alarm windows with the order; `displayed` in the roll call; the answer
    button's ack in the roll call; an update replaces the order; resolve ends it."""
    settings, token = enrolled(school, tmp_path)
    client = DesktopClient(settings, token, "sv", config_dir=tmp_path)
    client.start()
    qtbot.waitUntil(lambda: client.state.is_connected, timeout=WAIT_MS)
    with httpx.Client(base_url=school.url, timeout=HTTP_TIMEOUT) as principal:
        login = principal.post(
            "/api/v1/auth/login", json={"email": PRINCIPAL.email, "password": PRINCIPAL.password}
        )
        assert login.status_code == 200, login.text
        created = principal.post(
            "/api/v1/alerts", json={"kind": "pdv_lockdown", "site_ids": [school.site_id]}
        )
        assert created.status_code == 201, created.text
        alert_id = created.json()["alert"]["id"]
        qtbot.waitUntil(lambda: alert_id in client.screens, timeout=WAIT_MS)
        screens = client.screens[alert_id]
        window = screens.windows[0]
        qtbot.waitUntil(window.isVisible, timeout=WAIT_MS)
        assert client.tray.view.state.value == "alert"
        qtbot.waitUntil(
            lambda: rollcall(school.url, alert_id)["totals"]["displayed"] == 1, timeout=WAIT_MS
        )
        window.buttons["need_help"].click()
        qtbot.waitUntil(
            lambda: rollcall(school.url, alert_id)["totals"]["need_help"] == 1, timeout=WAIT_MS
        )
        patched = principal.patch(
            f"/api/v1/alerts/{alert_id}", json={"order": {"sv": "Gå till matsalen"}}
        )
        assert patched.status_code == 200, patched.text
        qtbot.waitUntil(
            lambda: client.state.alerts[alert_id].alert.order.sv == "Gå till matsalen",
            timeout=WAIT_MS,
        )
        resolved = principal.post(f"/api/v1/alerts/{alert_id}/resolve")
        assert resolved.status_code == 200, resolved.text
        qtbot.waitUntil(lambda: alert_id not in client.state.alerts, timeout=WAIT_MS)
    status = config.read_status(tmp_path)
    assert status is not None and status.connected
    client.close()


def test_a_lost_server_brings_the_offline_window(
    qtbot: QtBot, school: School, tmp_path: Path
) -> None:
    """The server process killed: the client stops being connected and, once the offline
    warning is due, shows the window that says so (not only the icon)."""
    settings, token = enrolled(school, tmp_path)
    now = [0.0]
    client = DesktopClient(settings, token, "sv", config_dir=tmp_path, clock=lambda: now[0])
    client.start()
    qtbot.waitUntil(lambda: client.state.is_connected, timeout=WAIT_MS)
    school.running.process.kill()
    qtbot.waitUntil(lambda: not client.state.is_connected, timeout=WAIT_MS)
    assert client.offline is None or not client.offline.isVisible()
    now[0] += 31.0  # the warning is due 30 s after the connection was lost
    qtbot.waitUntil(
        lambda: client.offline is not None and client.offline.isVisible(), timeout=WAIT_MS
    )
    client.close()


Started = Callable[[School, Path], DesktopClient]


@pytest.fixture
def started() -> Iterator[Started]:
    """Enroll and start clients; each is closed at the end, also when the test failed."""
    clients: list[DesktopClient] = []

    def start(school: School, config_dir: Path) -> DesktopClient:
        settings, token = enrolled(school, config_dir)
        client = DesktopClient(settings, token, "sv", config_dir=config_dir)
        clients.append(client)
        client.start()
        return client

    yield start
    for client in clients:
        client.close()


def trigger_as(url: str, person: demo.DemoPerson, **body: Any) -> dict[str, Any]:
    with logged_in(url, person) as client:
        created = client.post("/api/v1/alerts", json=body)
    assert created.status_code == 201, created.text
    data: dict[str, Any] = created.json()
    return data


def test_a_drill_shows_ovning(
    qtbot: QtBot, started: Started, school: School, tmp_path: Path
) -> None:
    """A drill from the security chief opens the alarm with the ÖVNING band and note."""
    client = started(school, tmp_path)
    qtbot.waitUntil(lambda: client.state.is_connected, timeout=WAIT_MS)
    alert_id = trigger_as(
        school.url, CHIEF, kind="evacuate", mode="drill", site_ids=[school.site_id]
    )["alert"]["id"]
    qtbot.waitUntil(lambda: alert_id in client.screens, timeout=WAIT_MS)
    window = client.screens[alert_id].windows[0]
    qtbot.waitUntil(window.isVisible, timeout=WAIT_MS)
    assert window.drill_band.isVisible() and window.drill_band.accessibleName() == "ÖVNING"
    assert window.title_label.text() == "UTRYMNING"
    assert "övning" in window.drill_note_label.text()
    client.close()


def test_a_test_alert_shows_nothing_and_only_receipts(
    qtbot: QtBot, started: Started, school: School, tmp_path: Path
) -> None:
    """A `test` alert: receipted `delivered`, never on screen, never `displayed`."""
    client = started(school, tmp_path)
    qtbot.waitUntil(lambda: client.state.is_connected, timeout=WAIT_MS)
    alert_id = trigger_as(
        school.url, CHIEF, kind="pdv_lockdown", mode="test", site_ids=[school.site_id]
    )["alert"]["id"]
    qtbot.waitUntil(
        lambda: rollcall(school.url, alert_id)["totals"]["delivered"] == 1, timeout=WAIT_MS
    )
    assert alert_id not in client.screens
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, AlarmWindow)]
    assert rollcall(school.url, alert_id)["totals"]["displayed"] == 0
    assert client.tray.view.state.value == "connected"
    client.close()


def test_a_revoked_device_says_so_and_stops_retrying(
    qtbot: QtBot, started: Started, school: School, tmp_path: Path
) -> None:
    """The admin revokes the device: close 4002, the window says "Enheten är borttagen –
    registrera igen" without a retry button, and the client never connects again."""
    client = started(school, tmp_path)
    qtbot.waitUntil(lambda: client.state.is_connected, timeout=WAIT_MS)
    opened: list[bool] = []
    client.link.connected.connect(lambda: opened.append(True))
    with logged_in(school.url, ADMIN) as admin:
        revoked = admin.post(f"/api/v1/devices/{client.settings.device_id}/revoke")
    assert revoked.status_code == 200, revoked.text
    qtbot.waitUntil(
        lambda: client.offline is not None and client.offline.isVisible(), timeout=WAIT_MS
    )
    assert client.offline is not None and client.state.stop_reason == "revoked"
    assert client.offline.title_label.text() == "Enheten är borttagen – registrera igen"
    assert client.offline.retry_button.isHidden()
    for _ in range(5):  # five ticks of the client's clock: no reconnect is scheduled
        client._on_tick()
        qtbot.wait(50)
    assert opened == [] and not client.state.is_connected
    status = config.read_status(tmp_path)
    assert status is not None and status.detail == "revoked"
    client.close()


def test_a_restarted_server_is_resumed_and_an_alert_sent_meanwhile_is_shown(
    qtbot: QtBot, started: Started, tmp_path: Path
) -> None:
    """The server killed while an alert is on screen; while the client is cut off (server
    back, its WebSocket on a new port) that alert is resolved and another triggered: the
    client refetches /config, resumes without loss (the first ends, "Faran över"; the
    second is shown and receipted)."""
    db, env = database_url(tmp_path), environment()
    seed(db, env)
    with serve(db, env, tmp_path / "one.stderr") as running:
        port = int(running.url.rsplit(":", 1)[1])
        school = School(running=running, site_id=site_id(running.url))
        client = started(school, tmp_path / "client")
        qtbot.waitUntil(lambda: client.state.is_connected, timeout=WAIT_MS)
        first = trigger_as(school.url, PRINCIPAL, kind="pdv_lockdown", site_ids=[school.site_id])
        first_id = first["alert"]["id"]
        qtbot.waitUntil(lambda: first_id in client.screens, timeout=WAIT_MS)
        first_screens = client.screens[first_id]
        old_ws = client.ws_url
        running.process.kill()
        qtbot.waitUntil(lambda: not client.state.is_connected, timeout=WAIT_MS)
    with serve(db, env, tmp_path / "two.stderr", port=port) as again:
        with logged_in(again.url, PRINCIPAL) as principal:
            resolved = principal.post(f"/api/v1/alerts/{first_id}/resolve")
            assert resolved.status_code == 200, resolved.text
        second = trigger_as(again.url, PRINCIPAL, kind="evacuate", site_ids=[school.site_id])
        second_id = second["alert"]["id"]
        qtbot.waitUntil(lambda: client.state.is_connected, timeout=90_000)
        qtbot.waitUntil(lambda: second_id in client.screens, timeout=WAIT_MS)
        assert client.ws_url.rstrip("/") == again.ws_url != old_ws.rstrip("/")
        assert first_id not in client.state.alerts
        assert first_screens.view.title == "Faran över"
        assert client.state.last_seq == second["event"]["seq"]
        qtbot.waitUntil(
            lambda: rollcall(again.url, second_id)["totals"]["displayed"] == 1, timeout=WAIT_MS
        )
    client.close()


def test_larma_follows_the_site_and_its_countdown_cancels_or_triggers(
    qtbot: QtBot, started: Started, school: School, tmp_path: Path
) -> None:
    """ "Larma" is offered while the site lets staff trigger; its countdown (/config's
    seconds) cancelled sends nothing, completed triggers one alert at the device's site;
    the site's rule turned off removes "Larma" at the next welcome."""
    client = started(school, tmp_path)
    qtbot.waitUntil(lambda: client.tray.can_trigger, timeout=WAIT_MS)
    assert client.countdown_seconds == 3
    fallback = client.tray.fallback
    assert fallback is not None and fallback.trigger_button.isVisibleTo(fallback)

    fallback.trigger_button.click()
    countdown = client.countdown
    assert countdown is not None and countdown.isVisible()
    assert countdown.seconds_label.text() == "3 s"
    countdown.cancel_button.click()
    assert countdown.done_with == "cancelled"
    with logged_in(school.url, PRINCIPAL) as principal:
        assert principal.get("/api/v1/alerts").json()["alerts"] == []

    client.tray.trigger_action.trigger()
    countdown = client.countdown
    assert countdown is not None
    qtbot.waitUntil(lambda: countdown.done_with == "confirmed", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(client.screens) == 1, timeout=WAIT_MS)
    [alert_id] = client.screens
    with logged_in(school.url, PRINCIPAL) as principal:
        alerts = principal.get("/api/v1/alerts").json()["alerts"]
    assert [(a["id"], a["kind"], a["sites"]) for a in alerts] == [
        (alert_id, "pdv_lockdown", [school.site_id])
    ]

    with logged_in(school.url, ADMIN) as admin:
        patched = admin.patch(f"/api/v1/sites/{school.site_id}", json={"staff_may_trigger": False})
    assert patched.status_code == 200, patched.text
    client.link.abort()  # a reconnect: the welcome brings the site's rule again
    qtbot.waitUntil(lambda: not client.tray.can_trigger, timeout=WAIT_MS)
    assert not client.tray.trigger_action.isVisible()
    client.close()


def test_without_a_tray_the_window_offers_the_functions_and_the_language(
    qtbot: QtBot, started: Started, school: School, tmp_path: Path
) -> None:
    """No system tray (offscreen): the fallback window shows the status; choosing English
    there turns the tray, the settings and the next hello to English; "Om" says the
    version and server."""
    client = started(school, tmp_path)
    qtbot.waitUntil(lambda: client.state.is_connected, timeout=WAIT_MS)
    fallback = client.tray.fallback
    assert fallback is not None and fallback.isVisible()
    assert fallback.status_label.text().startswith("Ansluten")
    box = fallback.language_box
    box.activated.emit(box.findData("en"))
    assert fallback.status_label.text().startswith("Connected")
    assert fallback.test_button.text() == "Test alarm sound"
    settings = config.read_settings(tmp_path)
    assert settings is not None and settings.language == "en"
    assert client.state.language == "en"
    fallback.about_button.click()
    assert client.notice is not None and client.notice.isVisible()
    assert client.notice.text().startswith("pdv-alert-desktop ")
    assert school.url in client.notice.text()
    client.close()
