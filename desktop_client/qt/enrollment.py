"""The first-start window: without a stored device token (and without --server/--enroll on
the command line) the client asks for the server's address, the enrollment code and this
computer's name here, enrolls through desktop_client/enroll.py on a worker thread, and says
clearly why when it fails. The checks and words are desktop_client/enroll_form.py's."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QColor, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_client import config
from desktop_client.enroll import enroll
from desktop_client.enroll_form import check_form, enroll_form_view, failure_text
from desktop_client.qt.alarm import font, readable_field
from desktop_client.qt.worker import in_thread
from desktop_client.server_api import ApiError
from desktop_client.views import FORM_COLOURS

FIELD_PX = 18


class EnrollWindow(QWidget):
    """Server address, code and name (and the language of the window and the client). On
    success it emits `enrolled` with the stored settings; closing it emits `abandoned`."""

    enrolled = Signal(object)  # config.Settings
    abandoned = Signal()
    _finished = Signal(object)  # from the worker thread: Settings | Exception

    def __init__(
        self, *, config_dir: Path, language: str = "sv", name: str = "", server: str = ""
    ) -> None:
        super().__init__(None, Qt.WindowType.Window)
        self.setObjectName("enroll")
        self.config_dir = config_dir
        self.view = enroll_form_view(language)
        self.busy = False
        self._done = False
        self.intro_label = QLabel()
        self.intro_label.setWordWrap(True)
        self.intro_label.setFont(font(FIELD_PX))
        self.language_box = QComboBox()
        self.server_edit = QLineEdit(server)
        self.code_edit = QLineEdit()
        self.name_edit = QLineEdit(name)
        self.name_edit.setMaxLength(200)
        self.field_labels: dict[str, QLabel] = {}
        self.problem_labels: dict[str, QLabel] = {}
        self.edits = {"server": self.server_edit, "code": self.code_edit, "name": self.name_edit}
        form = QFormLayout()
        form.addRow(self.language_box)
        for field, edit in self.edits.items():
            edit.setFont(font(FIELD_PX))
            readable_field(edit)
            label = QLabel()
            label.setFont(font(FIELD_PX, bold=True))
            label.setBuddy(edit)
            problem = QLabel()
            problem.setWordWrap(True)
            problem.setFont(font(FIELD_PX - 2, bold=True))
            problem.setStyleSheet(f"color: {FORM_COLOURS.accent};")
            problem.hide()
            self.field_labels[field] = label
            self.problem_labels[field] = problem
            column = QVBoxLayout()
            column.addWidget(edit)
            column.addWidget(problem)
            form.addRow(label, column)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setFont(font(FIELD_PX, bold=True))
        self.error_label.setStyleSheet(f"color: {FORM_COLOURS.accent};")
        self.error_label.hide()
        self.enroll_button = QPushButton()
        self.enroll_button.setDefault(True)
        self.enroll_button.setFont(font(FIELD_PX + 2, bold=True))
        self.enroll_button.clicked.connect(self.submit)
        for edit in self.edits.values():
            edit.returnPressed.connect(self.submit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        layout.setSpacing(14)
        layout.addWidget(self.intro_label)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.enroll_button)
        self.setTabOrder(self.server_edit, self.code_edit)
        self.setTabOrder(self.code_edit, self.name_edit)
        self.setTabOrder(self.name_edit, self.enroll_button)
        self.language_box.activated.connect(
            lambda index: self.set_language(str(self.language_box.itemData(index)))
        )
        self._finished.connect(self._on_finished)
        self._render()
        self.resize(620, 460)

    @property
    def language(self) -> str:
        return self.view.language

    def set_language(self, language: str) -> None:
        self.view = enroll_form_view(language)
        self._render()

    def _render(self) -> None:
        view = self.view
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Window, QColor(FORM_COLOURS.background))
        palette.setColor(QPalette.ColorRole.WindowText, QColor(FORM_COLOURS.foreground))
        self.setPalette(palette)
        self.setAutoFillBackground(True)
        self.setWindowTitle(view.title)
        self.setAccessibleName(view.title)
        self.intro_label.setText(view.intro)
        for field, text in (("server", view.server), ("code", view.code), ("name", view.name)):
            self.field_labels[field].setText(text)
            self.edits[field].setAccessibleName(text)
        self.server_edit.setPlaceholderText(view.server_hint)
        self.enroll_button.setText(view.working if self.busy else view.button)
        self.enroll_button.setAccessibleName(view.button)
        self.language_box.clear()
        for code, name in view.languages:
            self.language_box.addItem(name, code)
        self.language_box.setCurrentIndex(self.language_box.findData(view.language))
        self.language_box.setAccessibleName(view.language)

    def problems(self) -> dict[str, str]:
        """The sentences shown under the fields now (field → text)."""
        return {f: label.text() for f, label in self.problem_labels.items() if label.isVisible()}

    def submit(self) -> None:
        """Check the fields; if right, enroll on a worker thread (the button waits)."""
        if self.busy:
            return
        checked = check_form(
            self.server_edit.text(), self.code_edit.text(), self.name_edit.text(), self.language
        )
        for field, label in self.problem_labels.items():
            label.setText(checked.problems.get(field, ""))
            label.setVisible(field in checked.problems)
        self.error_label.hide()
        if checked.form is None:
            first = next(f for f in self.edits if f in checked.problems)
            self.edits[first].setFocus()
            return
        form, config_dir, language = checked.form, self.config_dir, self.language
        self._set_busy(True)
        in_thread(
            lambda: enroll(
                config_dir=config_dir,
                server_url=form.server_url,
                code=form.code,
                name=form.name,
                language=language,
            ),
            self._finished.emit,
        )

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        for edit in self.edits.values():
            edit.setEnabled(not busy)
        self.enroll_button.setEnabled(not busy)
        self._render()

    def _on_finished(self, result: object) -> None:
        self._set_busy(False)
        if isinstance(result, config.Settings):
            self._done = True
            self.enrolled.emit(result)
            self.close()
            return
        error = result if isinstance(result, ApiError) else ApiError("network.unreachable", "")
        self.error_label.setText(failure_text(error, self.language))
        self.error_label.setAccessibleName(self.error_label.text())
        self.error_label.show()
        wrong = self.code_edit if error.code.startswith("enrollment.") else self.server_edit
        wrong.setFocus()

    def closeEvent(self, event: QCloseEvent) -> None:
        event.accept()
        if not self._done:
            self._done = True
            self.abandoned.emit()
