"""The client's everyday face: the tray icon (connection health, flashing during an alert) and
its menu, a small normal window with the same functions where there is no system tray, and the
offline warning window that says so when alerts cannot reach this computer."""

from __future__ import annotations

from PySide6.QtCore import QObject, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from desktop_client.qt.alarm import apply_colours, button_style, font
from desktop_client.views import TRAY_ALERT_FLASH, OfflineView, TrayView

ICON_SIZE = 64


def icon_pixmap(background: str, foreground: str, glyph: str, size: int = ICON_SIZE) -> QPixmap:
    """A disc in `background` with `glyph` in `foreground`: shape and glyph, not only colour,
    tell the states apart."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(background))
    painter.setPen(QColor(foreground))
    painter.drawEllipse(1, 1, size - 2, size - 2)
    painter.setFont(font(size * 6 // 10, bold=True))
    painter.drawText(QRect(0, 0, size, size), Qt.AlignmentFlag.AlignCenter, glyph)
    painter.end()
    return pixmap


class TrayFallbackWindow(QWidget):
    """The tray's functions in a small normal window, for desktops without a system tray.
    Closing it minimizes it: the client keeps running and stays reachable."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tray-fallback")
        self.icon_label = QLabel()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setFont(font(16, bold=True))
        self.test_button = QPushButton()
        self.trigger_button = QPushButton()
        self.language_box = QComboBox()
        self.about_button = QPushButton()
        self.quit_button = QPushButton()
        top = QHBoxLayout()
        top.addWidget(self.icon_label)
        top.addWidget(self.status_label, 1)
        buttons = QHBoxLayout()
        for widget in (
            self.test_button,
            self.trigger_button,
            self.language_box,
            self.about_button,
            self.quit_button,
        ):
            buttons.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(buttons)
        self.resize(560, 140)

    def closeEvent(self, event: QCloseEvent) -> None:
        event.ignore()
        self.showMinimized()


class Tray(QObject):
    """The tray icon and menu (status line, "Testa larmljud", "Larma" when `can_trigger`,
    language, about, quit), or `TrayFallbackWindow` when the desktop has no system tray
    (`tray_available` defaults to `QSystemTrayIcon.isSystemTrayAvailable()`). During an alert
    the icon flashes every `flash_ms`."""

    test_sound_requested = Signal()
    trigger_requested = Signal()
    language_requested = Signal(str)
    about_requested = Signal()
    quit_requested = Signal()

    def __init__(
        self,
        view: TrayView,
        *,
        can_trigger: bool = False,
        flash_ms: int = 600,
        tray_available: bool | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        available = (
            QSystemTrayIcon.isSystemTrayAvailable() if tray_available is None else tray_available
        )
        self.view = view
        self.can_trigger = can_trigger
        self.flash_on = False
        self._flash = QTimer(self)
        self._flash.setInterval(flash_ms)
        self._flash.timeout.connect(self._toggle_flash)
        self.icon: QSystemTrayIcon | None = None
        self.fallback: TrayFallbackWindow | None = None
        self.menu = QMenu()
        self.status_action = QAction(self.menu)
        self.status_action.setEnabled(False)
        self.test_action = QAction(self.menu)
        self.test_action.triggered.connect(self.test_sound_requested)
        self.trigger_action = QAction(self.menu)
        self.trigger_action.triggered.connect(self.trigger_requested)
        self.language_menu = QMenu(self.menu)
        self.language_group = QActionGroup(self.menu)
        self.language_actions: dict[str, QAction] = {}
        self.about_action = QAction(self.menu)
        self.about_action.triggered.connect(self.about_requested)
        self.quit_action = QAction(self.menu)
        self.quit_action.triggered.connect(self.quit_requested)
        self.menu.addAction(self.status_action)
        self.menu.addSeparator()
        self.menu.addAction(self.test_action)
        self.menu.addAction(self.trigger_action)
        self.menu.addMenu(self.language_menu)
        self.menu.addAction(self.about_action)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)
        if available:
            self.icon = QSystemTrayIcon(self)
            self.icon.setContextMenu(self.menu)
        else:
            self.fallback = self._make_fallback()
        self.set_view(view)

    def _make_fallback(self) -> TrayFallbackWindow:
        window = TrayFallbackWindow()
        window.test_button.clicked.connect(self.test_sound_requested)
        window.trigger_button.clicked.connect(self.trigger_requested)
        window.about_button.clicked.connect(self.about_requested)
        window.quit_button.clicked.connect(self.quit_requested)
        window.language_box.activated.connect(
            lambda index: self.language_requested.emit(window.language_box.itemData(index))
        )
        return window

    def show(self) -> None:
        if self.icon is not None:
            self.icon.show()
        if self.fallback is not None:
            self.fallback.show()

    def close(self) -> None:
        """Take the icon or the fallback window away (the client is stopping)."""
        self._flash.stop()
        if self.icon is not None:
            self.icon.hide()
        if self.fallback is not None:
            self.fallback.hide()
            self.fallback.deleteLater()
            self.fallback = None

    def set_can_trigger(self, can_trigger: bool) -> None:
        self.can_trigger = can_trigger
        self._show_trigger()

    def _show_trigger(self) -> None:
        self.trigger_action.setVisible(self.can_trigger)
        self.trigger_action.setEnabled(self.can_trigger)
        if self.fallback is not None:
            self.fallback.trigger_button.setVisible(self.can_trigger)

    def set_view(self, view: TrayView) -> None:
        """Show the connection state and the menu in the view's language."""
        self.view = view
        self.status_action.setText(view.status)
        self.test_action.setText(view.test_sound)
        self.trigger_action.setText(view.trigger)
        self.language_menu.setTitle(view.language_menu)
        self.about_action.setText(view.about)
        self.quit_action.setText(view.quit)
        self._set_languages(view)
        self._show_trigger()
        if view.flashing and not self._flash.isActive():
            self._flash.start()
        elif not view.flashing:
            self._flash.stop()
            self.flash_on = False
        self._paint_icon()
        if self.fallback is not None:
            self._fill_fallback(self.fallback, view)

    def _set_languages(self, view: TrayView) -> None:
        for action in self.language_actions.values():
            self.language_menu.removeAction(action)
            self.language_group.removeAction(action)
        self.language_actions = {}
        for code, name in view.languages:
            action = QAction(name, self.language_menu)
            action.setCheckable(True)
            action.setChecked(code == view.language)
            action.triggered.connect(lambda _=False, c=code: self.language_requested.emit(c))
            self.language_group.addAction(action)
            self.language_menu.addAction(action)
            self.language_actions[code] = action

    def _fill_fallback(self, window: TrayFallbackWindow, view: TrayView) -> None:
        window.setWindowTitle(view.window_title)
        window.status_label.setText(view.status)
        window.status_label.setAccessibleName(view.status)
        for button, text in (
            (window.test_button, view.test_sound),
            (window.trigger_button, view.trigger),
            (window.about_button, view.about),
            (window.quit_button, view.quit),
        ):
            button.setText(text)
            button.setAccessibleName(text)
        window.language_box.clear()
        for code, name in view.languages:
            window.language_box.addItem(name, code)
        window.language_box.setCurrentIndex(window.language_box.findData(view.language))
        window.language_box.setAccessibleName(view.language_menu)

    def current_pixmap(self) -> QPixmap:
        """The icon as it is drawn now (the flash alternates two discs)."""
        view = self.view
        if view.flashing and self.flash_on:
            return icon_pixmap(*TRAY_ALERT_FLASH)
        return icon_pixmap(view.icon_background, view.icon_foreground, view.icon_glyph)

    def _paint_icon(self) -> None:
        pixmap = self.current_pixmap()
        if self.icon is not None:
            self.icon.setIcon(QIcon(pixmap))
            self.icon.setToolTip(self.view.tooltip)
        if self.fallback is not None:
            self.fallback.icon_label.setPixmap(pixmap)
            self.fallback.setWindowIcon(QIcon(pixmap))

    def _toggle_flash(self) -> None:
        self.flash_on = not self.flash_on
        self._paint_icon()


class OfflineWindow(QWidget):
    """The visible warning that alerts cannot reach this computer (or that the device was
    removed): a normal, always-on-top window, not only the tray icon. "Försök igen nu" emits
    `retry`."""

    retry = Signal()

    def __init__(self, view: OfflineView, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window | Qt.WindowType.WindowStaysOnTopHint)
        self.setObjectName("offline")
        self.title_label = QLabel()
        self.title_label.setFont(font(30, bold=True))
        self.title_label.setWordWrap(True)
        self.body_label = QLabel()
        self.body_label.setFont(font(20))
        self.body_label.setWordWrap(True)
        self.details_label = QLabel()
        self.details_label.setFont(font(16))
        self.details_label.setWordWrap(True)
        self.retry_button = QPushButton()
        self.retry_button.setAutoDefault(True)
        self.retry_button.clicked.connect(self.retry)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.retry_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 28, 32, 28)
        layout.setSpacing(18)
        layout.addWidget(self.title_label)
        layout.addWidget(self.body_label)
        layout.addWidget(self.details_label)
        layout.addStretch(1)
        layout.addLayout(row)
        self.resize(720, 400)
        self.set_view(view)

    def set_view(self, view: OfflineView) -> None:
        self.view = view
        apply_colours(self, view.colours)
        self.setWindowTitle(view.title)
        self.setAccessibleName(view.title)
        self.title_label.setStyleSheet(f"color: {view.colours.accent};")
        for label, text in (
            (self.title_label, view.title),
            (self.body_label, view.body),
            (self.details_label, view.details),
        ):
            label.setText(text)
            label.setAccessibleName(text)
        self.retry_button.setVisible(view.retry is not None)
        self.retry_button.setText(view.retry or "")
        self.retry_button.setAccessibleName(view.retry or "")
        self.retry_button.setStyleSheet(button_style(view.colours, 20))

    def present(self) -> None:
        self.show()
        self.raise_()
        self.activateWindow()
