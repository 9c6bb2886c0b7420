"""The running tray client (desktop_client/qt/app.py) against the real `pdv-alert serve`
process, on Qt's offscreen platform: it connects, shows a triggered alert full screen and
receipts it `displayed`, sends the person's answer, follows an update and the all-clear, and
warns visibly when the server is gone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from pytestqt.qtbot import QtBot

from desktop_client import config, server_api
from desktop_client.qt.app import DesktopClient
from tests.desktop_client.conftest import PRINCIPAL, School, logged_in
from tests.server.serving import HTTP_TIMEOUT

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
    assert not client.offline.isVisible()
    now[0] += 31.0  # the warning is due 30 s after the connection was lost
    qtbot.waitUntil(client.offline.isVisible, timeout=WAIT_MS)
    client.close()
