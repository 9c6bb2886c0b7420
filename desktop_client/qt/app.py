"""The running tray client: the Qt shell around the pure state machine.

`DesktopClient` owns one WebSocket `Link` (the `websockets` library on threads, its events
queued to the Qt thread: desktop_client/qt/link.py), a one-second timer and the widgets.
Everything the client decides comes from `desktop_client.state.ClientState` as effects; this
module only carries them out (open or drop the connection, send a frame, show, update or end an
alarm, warn when offline) and feeds back what happened (frames, closes, the alarm on screen,
answers). HTTP calls (the config, an ended alert, a trigger) run on worker threads and come
back as queued Qt signals, so the event loop never waits on the network.
"""

from __future__ import annotations

import logging
import platform
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QLockFile, QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop_client import config, keyring_child, server_api, state, texts
from desktop_client.qt.enrollment import EnrollWindow
from desktop_client.qt.link import Link
from desktop_client.qt.sound import AlarmSound
from desktop_client.qt.widgets import AlarmScreens, OfflineWindow, Tray, TriggerCountdown
from desktop_client.qt.worker import in_thread
from desktop_client.version import VERSION
from desktop_client.views import offline_view, tray_view
from protocol.closecodes import CloseCode
from protocol.codec import decode_server, encode, to_dict
from protocol.errors import ProtocolError
from protocol.messages import AlertDoc, AlertEvent, ClientInfo, Welcome
from protocol.vocabulary import Language, Response

log = logging.getLogger(__name__)

TICK_MS = 1000


class DesktopClient(QObject):
    """One enrolled device's client. `start()` connects; the app runs until quit."""

    # Results of work on other threads, delivered on the Qt thread.
    config_fetched = Signal(object)  # server_api.ClientConfig | Exception
    alert_fetched = Signal(int, object)  # alert id, AlertDoc | Exception
    triggered = Signal(object)  # the server's answer | Exception
    may_trigger_fetched = Signal(object)  # bool | Exception

    def __init__(
        self,
        settings: config.Settings,
        token: str,
        language: str,
        *,
        config_dir: Path,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.token = token
        self.language = language
        self.config_dir = config_dir
        self.clock = clock
        self.state = state.ClientState(
            token=token,
            client=ClientInfo(name="pdv-alert-desktop", version=VERSION, platform=sys.platform),
            language=Language(language),
            saved=config.read_resume(config_dir),
        )
        self.ws_url = ""
        self.countdown_seconds = 3.0
        self.last_contact: float | None = None
        self.screens: dict[int, AlarmScreens] = {}
        self.sound = AlarmSound()
        self.link = Link(self)
        self.link.connected.connect(self._on_connected)
        self.link.closed.connect(self._on_closed)
        self.link.text_received.connect(self._on_frame)
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._on_tick)
        self.tray = Tray(self._tray_view(), can_trigger=False)
        self.tray.test_sound_requested.connect(self.sound.test)
        self.tray.trigger_requested.connect(self._ask_trigger)
        # exit(), not quit(): Qt 6's quit() first asks every window to close, and the alarm
        # and the tray-less window refuse, so quit() would do nothing.
        self.tray.quit_requested.connect(lambda: QApplication.exit(0))
        self.tray.about_requested.connect(self._about)
        self.tray.language_requested.connect(self.set_language)
        self.countdown: TriggerCountdown | None = None
        self.notice: QMessageBox | None = None
        # Made when first needed: an idle, connected client never shows it (~2 MB).
        self.offline: OfflineWindow | None = None
        self.config_fetched.connect(self._on_config)
        self.alert_fetched.connect(self._on_alert_fetched)
        self.triggered.connect(self._on_triggered)
        self.may_trigger_fetched.connect(self._on_may_trigger)
        self._connect_when_configured = False
        self.closed = False

    def close(self) -> None:
        """Stop: no timer, no socket, no sound, no windows (before the application goes), and
        `--status` says not connected from now on. Closing twice does nothing more."""
        if self.closed:
            return
        self.closed = True
        self.timer.stop()
        # No signal.disconnect() here: PySide6 6.12's disconnect() drops a reference to
        # True, and enough of them crash the interpreter. The link's late signals end at
        # the `closed` guard in _carry_out and _open instead.
        self.link.abort()
        self._write_status(connected=False)
        self.sound.stop()
        for screens in list(self.screens.values()):
            screens.close()
        self.screens.clear()
        if self.offline is not None:
            self.offline.hide()
            self.offline.deleteLater()
        self.tray.close()
        for window in (self.countdown, self.notice):
            if window is not None:
                window.hide()
                window.deleteLater()
        self.countdown = self.notice = None

    # ── start and the network ─────────────────────────────────────────────────────────────

    def start(self) -> None:
        self.tray.show()
        self.timer.start()
        self._fetch_config()
        self._carry_out(self.state.start(self.clock()))

    def _fetch_config(self) -> None:
        server = self.settings.server_url
        in_thread(lambda: server_api.fetch_config(server), self.config_fetched.emit)

    def _on_config(self, result: object) -> None:
        if isinstance(result, Exception):
            log.warning("desktop: /config failed: %s", result)
            if self._connect_when_configured:  # try again on the state's schedule
                self._connect_when_configured = False
                self._carry_out(self.state.closed(CloseCode.ABNORMAL, "", self.clock()))
            return
        assert isinstance(result, server_api.ClientConfig)
        self.ws_url = result.ws_url
        self.countdown_seconds = result.trigger_countdown_seconds
        if self._connect_when_configured:
            self._connect_when_configured = False
            self._open()

    def _open(self) -> None:
        if self.closed:  # a reconnect scheduled before close()
            return
        if not self.ws_url:
            self._connect_when_configured = True
            self._fetch_config()
            return
        self.link.open(self.ws_url)

    def _on_connected(self) -> None:
        self._carry_out(self.state.connected(self.clock()))

    def _on_closed(self, code: int, reason: str) -> None:
        """A close (the server's code and reason as sent), or a connect that failed or a
        connection that dropped or was aborted (1006)."""
        self._carry_out(self.state.closed(code, reason, self.clock()))

    def _on_frame(self, frame: str) -> None:
        now = self.clock()
        self.last_contact = time.time()
        try:
            message = decode_server(frame)
        except ProtocolError:
            log.warning("desktop: an undecodable frame was ignored")
            return
        if isinstance(message, Welcome):
            effects = self.state.welcome(message, now)
            self._fetch_may_trigger()  # the site's rule may have changed while away
        elif isinstance(message, AlertEvent):
            effects = self.state.alert(message, now)
        else:  # pong, error, roll call: they keep the watchdog fed
            effects = self.state.frame(message, now)  # type: ignore[arg-type]
        self._carry_out(effects)

    def _on_tick(self) -> None:
        self._carry_out(self.state.tick(self.clock()))

    # ── effects ───────────────────────────────────────────────────────────────────────────

    def _carry_out(self, effects: list[state.Effect]) -> None:
        if self.closed:  # a worker's answer after close()
            return
        for effect in effects:
            self._do(effect)
        config.write_resume(self.config_dir, self.state.saved_state())
        self._write_status(connected=self.state.is_connected)
        self.tray.set_view(self._tray_view())

    def _write_status(self, *, connected: bool) -> None:
        config.write_status(
            self.config_dir,
            config.Status(
                connected=connected,
                last_contact=self.last_contact,
                updated_at=time.time(),
                detail=self.state.stop_reason or "",
            ),
        )

    def _do(self, effect: state.Effect) -> None:  # noqa: C901 - one branch per effect type
        if isinstance(effect, state.Send):
            self.link.send(encode(effect.message))
        elif isinstance(effect, state.Connect):
            QTimer.singleShot(int(effect.after_s * 1000), self._open)
        elif isinstance(effect, state.Drop):
            self.link.abort()  # its `closed` (1006) follows, queued
        elif isinstance(effect, state.RefetchConfig):
            self.ws_url = ""
        elif isinstance(effect, state.ShowAlarm):
            self._show(effect.alert)
        elif isinstance(effect, state.UpdateAlarm):
            screens = self.screens.get(effect.alert.id)
            if screens is None:
                self._show(effect.alert)
            else:
                screens.update(to_dict(effect.alert))
        elif isinstance(effect, state.EndAlarm):
            self._end(effect.alert)
        elif isinstance(effect, state.FetchAlert):
            self._fetch_alert(effect.alert_id)
        elif isinstance(effect, state.Stopped):
            self._offline_window().set_view(self._offline_view(revoked=True))
            self._offline_window().present()
        elif isinstance(effect, state.OfflineWarning):
            self._offline_window().set_view(self._offline_view())
            self._offline_window().present()
        elif isinstance(effect, state.OfflineCleared) and self.offline is not None:
            self.offline.hide()

    def _offline_window(self) -> OfflineWindow:
        if self.offline is None:
            self.offline = OfflineWindow(self._offline_view())
            self.offline.retry.connect(lambda: self._carry_out([state.Connect(0.0)]))
        return self.offline

    def _show(self, alert: AlertDoc) -> None:
        screens = AlarmScreens(to_dict(alert), self.language, sound=self.sound)
        screens.shown.connect(lambda alert_id: self._carry_out(self.state.shown(alert_id)))
        screens.answered.connect(self._on_answer)
        screens.finished.connect(lambda alert_id: self.screens.pop(alert_id, None))
        self.screens[alert.id] = screens
        screens.show()

    def _end(self, alert: AlertDoc) -> None:
        screens = self.screens.get(alert.id)
        if screens is not None:
            screens.update(to_dict(alert))  # "Faran över" / "Falsklarm", then it closes

    def _on_answer(self, alert_id: int, response: str, note: str, location: str) -> None:
        self._carry_out(self.state.answer(alert_id, Response(response), note, location))

    def _fetch_alert(self, alert_id: int) -> None:
        server, token = self.settings.server_url, self.token

        def fetch() -> AlertDoc:
            return server_api.fetch_alert(server, token, alert_id)

        in_thread(fetch, lambda result: self.alert_fetched.emit(alert_id, result))

    def _on_alert_fetched(self, alert_id: int, result: object) -> None:
        if isinstance(result, AlertDoc):
            self._carry_out(self.state.fetched(result))
        else:
            self._carry_out(self.state.fetch_failed(alert_id))

    # ── the tray's functions ──────────────────────────────────────────────────────────────

    def _fetch_may_trigger(self) -> None:
        server, token, site = self.settings.server_url, self.token, self.settings.site_id
        in_thread(
            lambda: server_api.staff_may_trigger(server, token, site), self.may_trigger_fetched.emit
        )

    def _on_may_trigger(self, result: object) -> None:
        """ "Larma" is offered exactly when the site lets its staff trigger (this device acts
        as staff of its site); an unanswered question keeps what was known."""
        if isinstance(result, bool):
            self.tray.set_can_trigger(result)
        else:
            log.warning("desktop: could not read whether this site may trigger: %s", result)

    def _ask_trigger(self) -> None:
        """The cancellable countdown (/config's `trigger_countdown_seconds`), then the
        trigger; a second "Larma" while one counts brings that one forward."""
        if not self.tray.can_trigger:
            return
        if self.countdown is not None and self.countdown.done_with is None:
            self.countdown.raise_()
            self.countdown.activateWindow()
            return
        if self.countdown is not None:
            self.countdown.deleteLater()
        seconds = round(self.countdown_seconds)
        self.countdown = TriggerCountdown(seconds, language=self.language)
        self.countdown.confirmed.connect(self._trigger)
        self.countdown.start()

    def _trigger(self) -> None:
        """POST /alerts with a fresh Idempotency-Key (a retried request triggers once)."""
        server, token, language = self.settings.server_url, self.token, self.language
        key = server_api.new_idempotency_key()
        in_thread(
            lambda: server_api.trigger(server, token, idempotency_key=key, language=language),
            self.triggered.emit,
        )

    def _on_triggered(self, result: object) -> None:
        """A refused or failed trigger is said in a window; a sent one shows itself: the
        alert comes back over the socket like any other."""
        if isinstance(result, Exception):
            message = result.message if isinstance(result, server_api.ApiError) else str(result)
            failed = texts.text(texts.TRIGGER_FAILED, self.language).format(error=message)
            self._notify(failed, warning=True)

    def _about(self) -> None:
        about = texts.text(texts.ABOUT, self.language).format(
            version=VERSION, server=self.settings.server_url, device=self.settings.device_name
        )
        self._notify(about, warning=False)

    def _notify(self, message: str, *, warning: bool) -> None:
        """A small window that does not block the event loop (alerts keep arriving)."""
        if self.notice is not None:
            self.notice.deleteLater()
        icon = QMessageBox.Icon.Warning if warning else QMessageBox.Icon.Information
        self.notice = QMessageBox(icon, "pdv-alert", message)
        self.notice.setModal(False)
        self.notice.setAccessibleName(message)
        self.notice.show()

    def set_language(self, language: str) -> None:
        """The tray's language choice: every window now, the next hello, and the settings
        (kept for the next start)."""
        language = "en" if language == "en" else "sv"
        self.language = language
        self.state.language = Language(language)
        self.settings = replace(self.settings, language=language)
        config.write_settings(self.config_dir, self.settings)
        for screens in self.screens.values():
            screens.set_language(language)
        if self.offline is not None:
            stopped = self.state.stop_reason is not None  # as the Stopped effect shows it
            self.offline.set_view(self._offline_view(revoked=stopped))
        self.tray.set_view(self._tray_view())

    # ── views ─────────────────────────────────────────────────────────────────────────────

    def _tray_view(self) -> Any:
        return tray_view(
            self.language,
            connected=self.state.is_connected,
            alert_active=bool(self.state.visible_alerts),
            server=self.settings.server_url,
            last_contact=self._contact_text(),
        )

    def _contact_text(self) -> str | None:
        if self.last_contact is None:
            return None
        return time.strftime("%H:%M:%S", time.localtime(self.last_contact))

    def _offline_view(self, *, revoked: bool = False) -> Any:
        return offline_view(
            self.language,
            server=self.settings.server_url,
            last_contact=self._contact_text(),
            revoked=revoked,
        )


EXIT_NOT_ENROLLED = 2


def run(
    settings: config.Settings | None, token: str | None, language: str, *, config_dir: Path
) -> int:
    """`pdv-alert-desktop`'s GUI: one instance per user and config dir. Not enrolled yet, it
    first asks in the enrollment window (closing it exits with 2)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    # A logout or `systemctl stop` sends SIGTERM: quit cleanly (status, lock). Python runs
    # the handler between Qt events; the client's one-second timer guarantees there are some.
    before = {n: signal.signal(n, lambda *_: app.exit(0)) for n in (signal.SIGTERM, signal.SIGINT)}
    config_dir.mkdir(parents=True, exist_ok=True)
    lock = QLockFile(str(config.lock_path(config_dir)))
    if not lock.tryLock(100):
        print(texts.text(texts.ALREADY_RUNNING, language), file=sys.stderr)
        return 1
    clients: list[DesktopClient] = []

    def start(enrolled: config.Settings, device_token: str, chosen: str) -> None:
        client = DesktopClient(enrolled, device_token, chosen, config_dir=config_dir)
        clients.append(client)
        client.start()

    def after_enrolling(enrolled: object) -> None:
        assert isinstance(enrolled, config.Settings)
        stored = keyring_child.read_token(config_dir)
        if stored is None:  # the keyring took it and lost it: say so rather than run deaf
            print(texts.text(texts.STATUS_NOT_ENROLLED, language), file=sys.stderr)
            app.exit(EXIT_NOT_ENROLLED)
            return
        start(enrolled, stored, enrolled.language)

    window: EnrollWindow | None = None
    if settings is None or token is None:
        window = EnrollWindow(config_dir=config_dir, language=language, name=platform.node() or "")
        window.enrolled.connect(after_enrolling)
        window.abandoned.connect(lambda: app.exit(EXIT_NOT_ENROLLED))
        window.show()
    else:
        start(settings, token, language)
    try:
        return int(app.exec())
    finally:
        for client in clients:
            client.close()
        if window is not None:
            window.deleteLater()
        lock.unlock()
        for number, handler in before.items():
            signal.signal(number, handler)
