"""The alarm sound: the kind's bundled WAV in an endless loop through QtMultimedia's
`QSoundEffect`, a mute for a hiding teacher, and a short test chime. Without an audio device
(or a file Qt cannot play) it logs once and keeps its state, so the alarm window never waits
on, or fails because of, the sound."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, QUrl
from PySide6.QtMultimedia import QMediaDevices, QSoundEffect

from desktop_client.sounds import KIND_FILES, SOUNDS_DIR, TEST_FILE

log = logging.getLogger(__name__)


class AlarmSound(QObject):
    """Plays one kind's loop at a time. `playing_kind` is the loop that should be sounding
    (None when stopped or muted); `muted` stays on until `unmute()` or the next `play()` of
    another alert (`stop()` then `play()`)."""

    def __init__(self, sounds_dir: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._dir = sounds_dir or SOUNDS_DIR
        self._loop = QSoundEffect(self)
        self._loop.setLoopCount(QSoundEffect.Loop.Infinite.value)
        self._loop.setVolume(1.0)
        self._chime = QSoundEffect(self)
        self._chime.setSource(QUrl.fromLocalFile(str(self._dir / TEST_FILE)))
        self._kind: str | None = None
        self._muted = False
        self.audio_available = bool(QMediaDevices.audioOutputs())
        if not self.audio_available:
            log.warning("no audio output device: alarms are shown without sound")

    @property
    def kind(self) -> str | None:
        """The kind whose loop is loaded (kept while muted)."""
        return self._kind

    @property
    def muted(self) -> bool:
        return self._muted

    @property
    def playing_kind(self) -> str | None:
        """The kind whose loop should be sounding now."""
        return None if self._muted else self._kind

    @property
    def effect(self) -> QSoundEffect:
        """The looping effect (its `isMuted()`/source show the state to tests and logs)."""
        return self._loop

    def source_for(self, kind: str) -> Path:
        return self._dir / KIND_FILES.get(kind, KIND_FILES["custom"])

    def play(self, kind: str) -> None:
        """Loop the kind's sound (switching loops when the kind changes), unless muted."""
        if kind != self._kind:
            self._loop.stop()
            self._loop.setSource(QUrl.fromLocalFile(str(self.source_for(kind))))
            self._kind = kind
        if not self._muted:
            self._start(self._loop)

    def stop(self) -> None:
        """Stop the loop and forget the kind and the mute (the next alert is loud again)."""
        self._loop.stop()
        self._kind = None
        self._muted = False
        self._loop.setMuted(False)

    def mute(self) -> None:
        self._muted = True
        self._loop.setMuted(True)
        self._loop.stop()

    def unmute(self) -> None:
        self._muted = False
        self._loop.setMuted(False)
        if self._kind is not None:
            self._start(self._loop)

    def test(self) -> None:
        """Play the short test chime once ("Testa larmljud")."""
        self._start(self._chime)

    def _start(self, effect: QSoundEffect) -> None:
        if effect.status() == QSoundEffect.Status.Error:
            log.warning("cannot play %s", effect.source().toLocalFile())
            return
        try:
            effect.play()
        except RuntimeError:  # pragma: no cover - a backend failing at play time
            log.exception("cannot play %s", effect.source().toLocalFile())
