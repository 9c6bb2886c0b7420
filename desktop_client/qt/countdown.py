"""The cancellable countdown before a trigger from this computer goes out ("Larma")."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QDialog, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop_client.qt.alarm import apply_colours, button_style, font
from desktop_client.views import countdown_view


class TriggerCountdown(QDialog):
    """Counts `seconds` down, one every `tick_ms`, then emits `confirmed` once; "Avbryt" (the
    focused default button), Escape or closing emit `cancelled` once instead. Exactly one of
    the two is ever emitted."""

    confirmed = Signal()
    cancelled = Signal()

    def __init__(
        self,
        seconds: int,
        *,
        kind: str = "pdv_lockdown",
        language: str = "sv",
        tick_ms: int = 1000,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Dialog | Qt.WindowType.WindowStaysOnTopHint)
        self.remaining = max(seconds, 0)
        self.kind = kind
        self.language = language
        self.done_with: str | None = None
        self.title_label = QLabel()
        self.title_label.setFont(font(24, bold=True))
        self.title_label.setWordWrap(True)
        self.seconds_label = QLabel()
        self.seconds_label.setFont(font(72, bold=True))
        self.seconds_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body_label = QLabel()
        self.body_label.setFont(font(18))
        self.cancel_button = QPushButton()
        self.cancel_button.setDefault(True)
        self.cancel_button.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        for widget in (self.title_label, self.seconds_label, self.body_label):
            layout.addWidget(widget)
        layout.addWidget(self.cancel_button)
        self._timer = QTimer(self)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self._tick)
        self._render()
        self.resize(520, 320)

    def _render(self) -> None:
        view = countdown_view(self.remaining, self.kind, self.language)
        apply_colours(self, view.colours)
        self.setWindowTitle(view.title)
        for label, text in (
            (self.title_label, view.title),
            (self.seconds_label, view.seconds),
            (self.body_label, view.body),
        ):
            label.setText(text)
            label.setAccessibleName(text)
        self.cancel_button.setText(view.cancel)
        self.cancel_button.setAccessibleName(view.cancel)
        self.cancel_button.setStyleSheet(button_style(view.colours, 28))

    def start(self) -> None:
        """Show the countdown and start counting (zero seconds confirms at the first tick)."""
        self.show()
        self.raise_()
        self.activateWindow()
        self.cancel_button.setFocus()
        self._timer.start()

    def _tick(self) -> None:
        self.remaining -= 1
        if self.remaining > 0:
            self._render()
            return
        self._timer.stop()
        if self.done_with is None:
            self.done_with = "confirmed"
            self.confirmed.emit()
        super().accept()

    def reject(self) -> None:
        self._timer.stop()
        if self.done_with is None:
            self.done_with = "cancelled"
            self.cancelled.emit()
        super().reject()
