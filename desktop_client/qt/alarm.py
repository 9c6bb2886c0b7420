"""The alarm on every screen: one frameless, always-on-top, full-screen `AlarmWindow` per
screen, then, once answered, an always-on-top `Banner`; `AlarmScreens` owns both for one alert
and drives the sound. They render `desktop_client.views` and nothing else decides a word or a
colour."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QObject, QPoint, QRect, Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QColor,
    QFont,
    QGuiApplication,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPolygon,
    QScreen,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop_client.qt.sound import AlarmSound
from desktop_client.views import (
    DRILL_COLOURS,
    PLACEHOLDER,
    AlarmView,
    BannerView,
    Colours,
    alarm_view,
    banner_view,
)

RESPONSES = ("safe", "need_help", "not_on_site")
NOTE_MAX = 500  # docs/protocol.md `ack`
LOCATION_MAX = 200
ALARM_FLAGS = (
    Qt.WindowType.Window | Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint
)


def apply_colours(widget: QWidget, colours: Colours) -> None:
    """Paint `widget` (and the labels in it) in the colours: background and text."""
    palette = widget.palette()
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        palette.setColor(group, QPalette.ColorRole.Window, QColor(colours.background))
        palette.setColor(group, QPalette.ColorRole.WindowText, QColor(colours.foreground))
    widget.setPalette(palette)
    widget.setAutoFillBackground(True)


def button_style(colours: Colours, px: int) -> str:
    """A large button in the inverse colours; keyboard focus swaps them back and draws a thick
    dashed frame, so the focused button is visible in every kind's colours."""
    return (
        f"QPushButton {{ background: {colours.foreground}; color: {colours.background};"
        f" border: 6px solid {colours.foreground}; border-radius: 10px;"
        f" font-size: {px}px; font-weight: bold; padding: {px // 3}px {px}px; }}"
        f"QPushButton:focus {{ background: {colours.background}; color: {colours.foreground};"
        f" border: 6px dashed {colours.foreground}; }}"
    )


def field_style(colours: Colours, px: int) -> str:
    """A text field: black on white whatever the kind (21:1), framed in the kind's text
    colour; the hint in `PLACEHOLDER` (a style sheet's `color` otherwise draws it at half
    opacity, #7f7f7f: 4:1)."""
    return (
        f"QLineEdit {{ background: #ffffff; color: #000000; font-size: {px}px;"
        f" placeholder-text-color: {PLACEHOLDER};"
        f" border: 4px solid {colours.foreground}; border-radius: 6px; padding: 4px 8px; }}"
        "QLineEdit:focus { border-style: dashed; }"
    )


def readable_field(edit: QLineEdit) -> None:
    """Black on white, and the placeholder dark enough to read: Qt's default grey hint falls
    far below the 7:1 every other text reaches (views.PLACEHOLDER)."""
    palette = edit.palette()
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        palette.setColor(group, QPalette.ColorRole.Base, QColor("#ffffff"))
        palette.setColor(group, QPalette.ColorRole.Text, QColor("#000000"))
        palette.setColor(group, QPalette.ColorRole.PlaceholderText, QColor(PLACEHOLDER))
    edit.setPalette(palette)


def font(px: int, *, bold: bool = False, capitals: bool = False) -> QFont:
    """A font `px` pixels high; `capitals` shows the text in capital letters while the
    text itself (what screen readers and `text()` give) stays as written."""
    result = QFont()
    result.setPixelSize(max(px, 12))
    result.setBold(bold)
    if capitals:
        result.setCapitalization(QFont.Capitalization.AllUppercase)
    return result


class DrillBand(QWidget):
    """The unmistakable drill marker: a band of black and yellow diagonal stripes with ÖVNING
    in huge black letters on a plain yellow centre."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = text
        self.setAccessibleName(text)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_text(self, text: str) -> None:
        self.text = text
        self.setAccessibleName(text)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        width, height = self.width(), self.height()
        painter.fillRect(self.rect(), QColor(DRILL_COLOURS.background))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(DRILL_COLOURS.foreground))
        step = max(height // 2, 8)
        for x in range(-height, width + height, step * 2):
            corners = [QPoint(x, 0), QPoint(x + step, 0), QPoint(x + step - height, height)]
            painter.drawPolygon(QPolygon([*corners, QPoint(x - height, height)]))
        text_font = font(int(height * 0.62), bold=True)
        painter.setFont(text_font)
        metrics = painter.fontMetrics()
        label_width = metrics.horizontalAdvance(self.text) + height
        centre = QRect((width - label_width) // 2, height // 10, label_width, height * 8 // 10)
        painter.fillRect(centre, QColor(DRILL_COLOURS.background))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(DRILL_COLOURS.foreground), 4))
        painter.drawRect(centre)
        painter.drawText(centre, Qt.AlignmentFlag.AlignCenter, self.text)
        painter.end()


class AlarmWindow(QWidget):
    """The alarm on one screen. It cannot be closed (close events and Escape are ignored)
    until it shows an ended alert; the answer buttons emit `answered`."""

    answered = Signal(int, str, str, str)  # alert_id, response, note, location
    shown = Signal(int)  # alert_id: the window is on screen (first paint)
    muted = Signal()
    unmuted = Signal()

    def __init__(
        self, view: AlarmView, screen: QScreen | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent, ALARM_FLAGS)
        self.setObjectName("alarm")
        self._screen = screen or QGuiApplication.primaryScreen()
        self.setScreen(self._screen)
        self.setGeometry(self._screen.geometry())
        self._exposed = False
        self._closable = False
        self.is_muted = False
        self.view = view
        self._build(self._screen.geometry().height())
        self.set_view(view)

    def _build(self, height: int) -> None:
        self.drill_band = DrillBand("")
        self.drill_band.setFixedHeight(max(height // 8, 48))
        self.symbol_label = QLabel()
        self.symbol_label.setFont(font(height // 11, bold=True))
        self.title_label = QLabel()
        self.title_label.setFont(font(height // 13, bold=True, capitals=True))
        self.order_label = self._text_label(font(height // 14, bold=True))
        self.instructions_label = self._text_label(font(height // 24))
        self.drill_note_label = self._text_label(font(height // 34, bold=True))
        self.prompt_label = QLabel()
        self.prompt_label.setFont(font(height // 34, bold=True))
        self.buttons: dict[str, QPushButton] = {}
        answers = QHBoxLayout()
        answers.setSpacing(height // 40)
        for response in RESPONSES:
            button = QPushButton()
            button.setAutoDefault(True)  # Enter/Return press the focused button
            button.clicked.connect(lambda _=False, r=response: self._answer(r))
            self.buttons[response] = button
            answers.addWidget(button)
        self.location_edit = QLineEdit()
        self.location_edit.setMaxLength(LOCATION_MAX)
        self.note_edit = QLineEdit()
        self.note_edit.setMaxLength(NOTE_MAX)
        readable_field(self.location_edit)
        readable_field(self.note_edit)
        self.mute_button = QPushButton()
        self.mute_button.setAutoDefault(True)
        self.mute_button.clicked.connect(self._toggle_mute)
        fields = QHBoxLayout()
        fields.addWidget(self.location_edit, 1)
        fields.addWidget(self.note_edit, 2)
        fields.addWidget(self.mute_button)

        heading = QHBoxLayout()
        heading.addStretch(1)
        heading.addWidget(self.symbol_label)
        heading.addSpacing(height // 40)
        heading.addWidget(self.title_label)
        heading.addStretch(1)
        body = QVBoxLayout()
        margin = height // 25
        body.setContentsMargins(margin, margin // 2, margin, margin)
        body.setSpacing(height // 60)
        body.addStretch(1)
        body.addLayout(heading)
        body.addWidget(self.order_label)
        body.addWidget(self.instructions_label)
        body.addWidget(self.drill_note_label)
        body.addStretch(1)
        body.addWidget(self.prompt_label)
        body.addLayout(answers)
        body.addLayout(fields)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.drill_band)
        outer.addLayout(body, 1)

        chain: list[QWidget] = [
            *self.buttons.values(),
            self.location_edit,
            self.note_edit,
            self.mute_button,
        ]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)
        self._button_px = height // 30
        self._field_px = height // 40

    @staticmethod
    def _text_label(label_font: QFont) -> QLabel:
        label = QLabel()
        label.setFont(label_font)
        label.setWordWrap(True)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        return label

    @property
    def answer_widgets(self) -> list[QWidget]:
        return [*self.buttons.values(), self.prompt_label, self.location_edit, self.note_edit]

    def set_view(self, view: AlarmView) -> None:
        """Show `view`: a new order/instructions/kind replaces the old; an ended alert shows
        the end view without answers and may then be closed."""
        self.view = view
        apply_colours(self, view.colours)
        self.setWindowTitle(f"{view.title} – {view.order}")
        self.setAccessibleName(f"{view.title}: {view.order}")
        self.drill_band.set_text(view.drill_label)
        self.drill_band.setVisible(view.drill)
        self.symbol_label.setText(view.symbol)
        self.symbol_label.setStyleSheet(f"color: {view.colours.accent};")
        self.symbol_label.setAccessibleName(view.title)
        for label, text in (
            (self.title_label, view.title),
            (self.order_label, view.order),
            (self.instructions_label, view.instructions),
            (self.drill_note_label, view.drill_note),
            (self.prompt_label, view.answers.prompt),
        ):
            label.setText(text)
            label.setAccessibleName(text)
        self.drill_note_label.setVisible(bool(view.drill_note) and not view.ended)
        answers = view.answers
        for response, text in zip(
            RESPONSES, (answers.safe, answers.need_help, answers.not_on_site), strict=True
        ):
            self.buttons[response].setText(text)
            self.buttons[response].setAccessibleName(text)
            self.buttons[response].setStyleSheet(button_style(view.colours, self._button_px))
        self.location_edit.setPlaceholderText(answers.location)
        self.location_edit.setAccessibleName(answers.location)
        self.note_edit.setPlaceholderText(answers.note)
        self.note_edit.setAccessibleName(answers.note)
        for edit in (self.location_edit, self.note_edit):
            edit.setStyleSheet(field_style(view.colours, self._field_px))
        self.mute_button.setStyleSheet(button_style(view.colours, self._field_px))
        self._show_mute_label()
        for widget in self.answer_widgets:
            widget.setVisible(not view.ended)
        self.mute_button.setVisible(not view.ended)
        self._closable = view.ended

    def _show_mute_label(self) -> None:
        text = self.view.answers.unmute if self.is_muted else self.view.answers.mute
        self.mute_button.setText(text)
        self.mute_button.setAccessibleName(text)

    def set_muted(self, muted: bool) -> None:
        self.is_muted = muted
        self._show_mute_label()

    def present(self) -> None:
        """Cover the screen, above everything, with the first answer focused."""
        self.setGeometry(self._screen.geometry())
        self.showFullScreen()
        self.raise_()
        self.activateWindow()
        self.buttons["safe"].setFocus(Qt.FocusReason.ActiveWindowFocusReason)

    def _answer(self, response: str) -> None:
        if self.view.ended:
            return
        self.answered.emit(
            self.view.alert_id, response, self.note_edit.text(), self.location_edit.text()
        )

    def _toggle_mute(self) -> None:
        self.set_muted(not self.is_muted)
        (self.muted if self.is_muted else self.unmuted).emit()

    def allow_close(self) -> None:
        self._closable = True

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closable:
            event.accept()
        else:
            event.ignore()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            event.accept()  # an alarm is not dismissed with Escape
            return
        super().keyPressEvent(event)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._exposed = False

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._exposed and self.isVisible():
            self._exposed = True
            QTimer.singleShot(0, self, lambda: self.shown.emit(self.view.alert_id))


class Banner(QWidget):
    """The always-on-top strip at the top of the primary screen after the answer: the kind's
    word, the current order, ÖVNING for drills, the answer given, and "Ändra svar"."""

    change_answer = Signal()

    def __init__(
        self, view: BannerView, screen: QScreen | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent, ALARM_FLAGS)
        self.setObjectName("banner")
        self._screen = screen or QGuiApplication.primaryScreen()
        self.setScreen(self._screen)
        area = self._screen.availableGeometry()
        height = max(area.height() // 8, 96)
        self.setGeometry(QRect(area.x(), area.y(), area.width(), height))
        self._closable = False
        self.drill_label = QLabel()
        self.drill_label.setFont(font(height // 3, bold=True))
        self.drill_label.setStyleSheet(
            f"background: {DRILL_COLOURS.background}; color: {DRILL_COLOURS.foreground};"
            f" border: 4px solid {DRILL_COLOURS.foreground}; padding: 2px 12px;"
        )
        self.title_label = QLabel()
        self.title_label.setFont(font(height // 4, bold=True, capitals=True))
        self.order_label = QLabel()
        self.order_label.setFont(font(height // 4, bold=True))
        self.order_label.setWordWrap(True)
        self.answered_label = QLabel()
        self.answered_label.setFont(font(height // 6))
        self.change_button = QPushButton()
        self.change_button.setAutoDefault(True)
        self.change_button.clicked.connect(self.change_answer)
        text = QVBoxLayout()
        text.addWidget(self.order_label)
        text.addWidget(self.answered_label)
        row = QHBoxLayout(self)
        row.setContentsMargins(height // 6, height // 10, height // 6, height // 10)
        row.setSpacing(height // 5)
        row.addWidget(self.drill_label)
        row.addWidget(self.title_label)
        row.addLayout(text, 1)
        row.addWidget(self.change_button)
        self._px = height // 6
        self.set_view(view)

    def set_view(self, view: BannerView) -> None:
        self.view = view
        apply_colours(self, view.colours)
        self.setWindowTitle(f"{view.title} – {view.order}")
        self.setAccessibleName(f"{view.title}: {view.order}")
        for label, value in (
            (self.drill_label, view.drill_label),
            (self.title_label, f"{view.symbol} {view.title}"),
            (self.order_label, view.order),
            (self.answered_label, view.answered),
        ):
            label.setText(value)
            label.setAccessibleName(value)
        self.drill_label.setVisible(view.drill)
        self.answered_label.setVisible(bool(view.answered))
        self.change_button.setText(view.change_answer)
        self.change_button.setAccessibleName(view.change_answer)
        self.change_button.setStyleSheet(button_style(view.colours, self._px))
        self.change_button.setVisible(view.ending is None)
        self._closable = view.ending is not None

    def present(self) -> None:
        area = self._screen.availableGeometry()
        self.setGeometry(QRect(area.x(), area.y(), area.width(), self.height()))
        self.show()
        self.raise_()

    def allow_close(self) -> None:
        self._closable = True

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closable:
            event.accept()
        else:
            event.ignore()


class AlarmScreens(QObject):
    """One alert's presentation: an `AlarmWindow` on every screen until answered, then the
    `Banner`; updates replace what is shown live (a change of kind brings the full-screen
    windows back, loud); an ended alert shows its end view for `end_ms` and then closes
    (`finished`). The sound loops from `show()` (the process's first alarm: from just after
    its first window is painted) until the answer, a mute or the end."""

    answered = Signal(int, str, str, str)  # alert_id, response, note, location
    shown = Signal(int)  # alert_id: the first alarm window is on screen
    finished = Signal(int)  # alert_id: every window of the alert is closed

    def __init__(
        self,
        alert: Mapping[str, Any],
        language: str = "sv",
        *,
        sound: AlarmSound | None = None,
        screens: Sequence[QScreen] | None = None,
        end_ms: int = 6000,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.alert: Mapping[str, Any] = alert
        self.language = language
        self.sound = sound
        self.end_ms = end_ms
        self.response: str | None = None
        self.windows: list[AlarmWindow] = []
        self.banner: Banner | None = None
        self._screens = list(screens) if screens is not None else QGuiApplication.screens()
        self._shown_emitted = False
        self._end_timer = QTimer(self)
        self._end_timer.setSingleShot(True)
        self._end_timer.timeout.connect(self.close)

    @property
    def alert_id(self) -> int:
        return alarm_view(self.alert).alert_id

    @property
    def view(self) -> AlarmView:
        return alarm_view(self.alert, self.language)

    def show(self) -> None:
        """Cover every screen and start the kind's sound."""
        self._open_windows()
        if self.sound is not None and not self.view.ended:
            self.sound.play(self.view.kind)

    def _open_windows(self) -> None:
        if self.windows:
            return
        view = self.view
        for screen in self._screens:
            window = AlarmWindow(view, screen)
            window.answered.connect(self._on_answer)
            window.shown.connect(self._on_shown)
            window.muted.connect(self.mute)
            window.unmuted.connect(self.unmute)
            window.set_muted(self.sound.muted if self.sound is not None else False)
            self.windows.append(window)
            window.present()

    def _close_windows(self) -> None:
        for window in self.windows:
            window.allow_close()
            window.close()
            window.deleteLater()
        self.windows = []

    def _on_shown(self, alert_id: int) -> None:
        """The first window is painted: say so (the `displayed` receipt), then load the
        sound player if this is its first alarm (desktop_client/qt/sound.py)."""
        if not self._shown_emitted:
            self._shown_emitted = True
            self.shown.emit(alert_id)
        if self.sound is not None:
            self.sound.load()

    def _on_answer(self, alert_id: int, response: str, note: str, location: str) -> None:
        self.response = response
        if self.sound is not None:
            self.sound.stop()
        self._close_windows()
        self._show_banner()
        self.answered.emit(alert_id, response, note, location)

    def _show_banner(self) -> None:
        view = banner_view(self.alert, self.language, self.response)
        if self.banner is None:
            self.banner = Banner(view, self._screens[0] if self._screens else None)
            self.banner.change_answer.connect(self._reopen)
        else:
            self.banner.set_view(view)
        self.banner.present()

    def _reopen(self) -> None:
        if self.banner is not None:
            self.banner.allow_close()
            self.banner.close()
            self.banner.deleteLater()
            self.banner = None
        self._open_windows()

    def mute(self) -> None:
        if self.sound is not None:
            self.sound.mute()
        for window in self.windows:
            window.set_muted(True)

    def unmute(self) -> None:
        if self.sound is not None:
            self.sound.unmute()
        for window in self.windows:
            window.set_muted(False)

    def update(self, alert: Mapping[str, Any]) -> None:
        """Show the alert's new document: the new order, the end view, or (a new kind after
        the answer) the full-screen alarm again."""
        kind_changed = alarm_view(alert).kind != alarm_view(self.alert).kind
        self.alert = alert
        self._refresh(kind_changed=kind_changed)

    def set_language(self, language: str) -> None:
        self.language = language
        self._refresh(kind_changed=False)

    def _refresh(self, *, kind_changed: bool) -> None:
        view = self.view
        if view.ended:
            if self.sound is not None:
                self.sound.stop()
            self._end_timer.start(self.end_ms)
        elif kind_changed and self.banner is not None:
            self._reopen()
        if kind_changed and not view.ended and self.sound is not None:
            self.sound.play(view.kind)
        for window in self.windows:
            window.set_view(view)
        if self.banner is not None:
            self.banner.set_view(banner_view(self.alert, self.language, self.response))

    def close(self) -> None:
        """Close every window of the alert (after its end view)."""
        self._end_timer.stop()
        self._close_windows()
        if self.banner is not None:
            self.banner.allow_close()
            self.banner.close()
            self.banner.deleteLater()
            self.banner = None
        if self.sound is not None and self.sound.kind == self.view.kind:
            self.sound.stop()
        self.finished.emit(self.alert_id)
