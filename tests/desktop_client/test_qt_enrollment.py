"""The first-start enrollment window (desktop_client/qt/enrollment.py) against the real
`pdv-alert serve`: a good code enrolls and stores the device, a bad code, a server that does
not answer and wrongly filled fields each say so, and `run()` without a stored token asks in
this window and then starts the client."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QPalette
from pytestqt.qtbot import QtBot

from desktop_client import config, texts, views
from desktop_client.qt.app import run
from desktop_client.qt.enrollment import EnrollWindow
from desktop_client.qt.tray import TrayFallbackWindow
from tests.desktop_client.conftest import School

WAIT_MS = 30_000


def fill(window: EnrollWindow, server: str, code: str, name: str = "Sal 12") -> None:
    window.server_edit.setText(server)
    window.code_edit.setText(code)
    window.name_edit.setText(name)


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_good_code_enrolls_and_stores_the_device(
    qtbot: QtBot, school: School, tmp_path: Path
) -> None:
    """Server, code and name typed, Enter pressed: `enrolled` with the settings; the token and
    settings are stored; the window closes."""
    window = EnrollWindow(config_dir=tmp_path)
    qtbot.addWidget(window)
    window.show()
    fill(window, school.url + "/", school.code(), " Sal  12 ")
    with qtbot.waitSignal(window.enrolled, timeout=WAIT_MS) as blocker:
        window.name_edit.returnPressed.emit()
    settings = blocker.args[0]
    assert isinstance(settings, config.Settings)
    assert (settings.server_url, settings.device_name, settings.site_id) == (
        school.url,
        "Sal 12",
        school.site_id,
    )
    assert config.read_settings(tmp_path) == settings
    assert config.read_token(tmp_path)
    assert not window.isVisible()


def test_a_refused_code_says_so_and_stores_nothing(
    qtbot: QtBot, school: School, tmp_path: Path
) -> None:
    """A wrong code: the window stays, says the code is not valid (in Swedish), the fields
    are usable again and nothing is stored."""
    window = EnrollWindow(config_dir=tmp_path)
    qtbot.addWidget(window)
    window.show()
    fill(window, school.url, "FEL-KOD-123")
    window.enroll_button.click()
    assert window.busy and not window.enroll_button.isEnabled()
    qtbot.waitUntil(window.error_label.isVisible, timeout=WAIT_MS)
    assert window.error_label.text() == texts.text(texts.ENROLL_INVALID_CODE, "sv")
    assert window.isVisible() and not window.busy and window.code_edit.isEnabled()
    assert config.read_settings(tmp_path) is None and config.read_token(tmp_path) is None


def test_an_unreachable_server_says_so(qtbot: QtBot, tmp_path: Path) -> None:
    """Nothing listening at the address: "Servern svarar inte …", in English when chosen."""
    window = EnrollWindow(config_dir=tmp_path)
    qtbot.addWidget(window)
    window.show()
    window.language_box.activated.emit(window.language_box.findData("en"))
    assert window.windowTitle() == "Enroll this computer"
    fill(window, f"http://127.0.0.1:{closed_port()}", "ABCD")
    window.submit()
    qtbot.waitUntil(window.error_label.isVisible, timeout=WAIT_MS)
    assert window.error_label.text() == texts.text(texts.ENROLL_UNREACHABLE, "en")
    assert config.read_settings(tmp_path) is None


def test_wrong_fields_are_named_before_anything_is_sent(qtbot: QtBot, tmp_path: Path) -> None:
    """Empty code and name, a server address with a space: each field says what is wrong,
    focus goes to the first, no request is made (the button stays usable)."""
    window = EnrollWindow(config_dir=tmp_path)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    fill(window, "larm skola", "", "")
    window.submit()
    assert not window.busy
    assert window.problems() == {
        "server": texts.text(texts.ENROLL_BAD_SERVER, "sv"),
        "code": texts.text(texts.ENROLL_BAD_CODE, "sv"),
        "name": texts.text(texts.ENROLL_BAD_NAME, "sv"),
    }
    fill(window, "larm.skola.se", "", "Sal 12")
    window.submit()
    assert list(window.problems()) == ["code"]


def test_fields_have_accessible_names_and_a_readable_hint(qtbot: QtBot, tmp_path: Path) -> None:
    """Every field is named for screen readers; the placeholder hint reaches 7:1 on white."""
    window = EnrollWindow(config_dir=tmp_path)
    qtbot.addWidget(window)
    assert [e.accessibleName() for e in window.edits.values()] == [
        "Serveradress",
        "Registreringskod",
        "Datorns namn",
    ]
    hint = window.server_edit.palette().color(QPalette.ColorRole.PlaceholderText)
    assert hint == QColor(views.PLACEHOLDER)
    assert window.server_edit.placeholderText() == "t.ex. https://larm.kommun.se"


def test_run_without_a_token_asks_then_starts_the_client(
    qapp: Any, school: School, tmp_path: Path
) -> None:
    """`run()` with nothing stored opens the enrollment window; once enrolled there, the
    client starts and connects (status.json says so); "Avsluta" in the tray-less window
    ends `run()` with 0 and the status says not connected."""
    code = school.code()
    seen: list[str] = []

    def drive() -> None:
        windows = [w for w in qapp.topLevelWidgets() if isinstance(w, EnrollWindow)]
        if not windows or not windows[0].isVisible():
            QTimer.singleShot(50, drive)
            return
        seen.append("window")
        fill(windows[0], school.url, code)
        windows[0].submit()
        poll()

    def poll() -> None:
        status = config.read_status(tmp_path)
        if status is not None and status.connected:
            seen.append("connected")
            [tray] = [
                w
                for w in qapp.topLevelWidgets()
                if isinstance(w, TrayFallbackWindow) and w.isVisible()
            ]
            tray.quit_button.click()  # "Avsluta" ends the app although the window refuses close
        else:
            QTimer.singleShot(100, poll)

    QTimer.singleShot(0, drive)
    guard = QTimer()  # never hang the suite
    guard.setSingleShot(True)
    guard.timeout.connect(lambda: qapp.exit(99))
    guard.start(WAIT_MS * 2)
    try:
        assert run(None, None, "sv", config_dir=tmp_path) == 0
    finally:
        guard.stop()
    assert seen == ["window", "connected"]
    status = config.read_status(tmp_path)
    assert status is not None and not status.connected  # closed with the application
