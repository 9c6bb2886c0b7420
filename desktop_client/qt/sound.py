"""The alarm sound: the kind's bundled WAV in an endless loop through QtMultimedia's
`QSoundEffect`, a mute for a hiding teacher, and a short test chime. Without an audio device
(or a file Qt cannot play) it logs once and keeps its state, so the alarm window never waits
on, or fails because of, the sound.

QtMultimedia (its FFmpeg backend, the audio server's client library) costs about 15 MB of
resident memory for as long as the process lives, and an idle client that never sounds an
alarm would carry it for nothing (issue 9: ≤ 60 MB idle). So it is loaded on first use: at the
first `play()` the player only remembers the kind and is loaded once the alarm window is on
screen (`load()`, called by the alarm after its first paint) or, at the latest,
`LOAD_AT_THE_LATEST_MS` later, so the sound starts even when no window ever paints. Loading
takes on the order of 100 ms on the Qt thread (bench/README.md); doing it after the window is
shown keeps it out of the frame → visible-alarm time. "Testa larmljud" loads it at once."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, QUrl

from desktop_client.sounds import KIND_FILES, SOUNDS_DIR, TEST_FILE

if TYPE_CHECKING:
    from PySide6.QtMultimedia import QSoundEffect

log = logging.getLogger(__name__)

LOAD_AT_THE_LATEST_MS = 250  # after the first play(), whether or not a window was shown


class AlarmSound(QObject):
    """Plays one kind's loop at a time. `playing_kind` is the loop that should be sounding
    (None when stopped or muted); `muted` stays on until `unmute()` or the next `play()` of
    another alert (`stop()` then `play()`). The effects exist once `loaded`."""

    def __init__(self, sounds_dir: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._dir = sounds_dir or SOUNDS_DIR
        self._loop: QSoundEffect | None = None
        self._chime: QSoundEffect | None = None
        self._kind: str | None = None
        self._muted = False
        self._load_failed = False
        self._load_timer = QTimer(self)
        self._load_timer.setSingleShot(True)
        self._load_timer.timeout.connect(self.load)
        self.audio_available: bool | None = None  # known once loaded

    @property
    def loaded(self) -> bool:
        return self._loop is not None

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
    def effect(self) -> QSoundEffect | None:
        """The looping effect once loaded (its `isMuted()`/source show the state to tests and
        logs)."""
        return self._loop

    def source_for(self, kind: str) -> Path:
        return self._dir / KIND_FILES.get(kind, KIND_FILES["custom"])

    def load(self) -> None:
        """Load QtMultimedia and make the effects now (once), then sound what should sound:
        the alarm calls this right after its first window is painted."""
        self._load_timer.stop()
        if self._loop is not None or self._load_failed:
            return
        try:
            from PySide6.QtMultimedia import QMediaDevices, QSoundEffect
        except ImportError:  # pragma: no cover - PySide6-Addons missing: windows, no sound
            self._load_failed = True
            log.exception("QtMultimedia cannot be loaded: alarms are shown without sound")
            return
        loop = QSoundEffect(self)
        loop.setLoopCount(QSoundEffect.Loop.Infinite.value)
        loop.setVolume(1.0)
        chime = QSoundEffect(self)
        chime.setSource(QUrl.fromLocalFile(str(self._dir / TEST_FILE)))
        self._loop, self._chime = loop, chime
        self.audio_available = bool(QMediaDevices.audioOutputs())
        if not self.audio_available:
            log.warning("no audio output device: alarms are shown without sound")
        if self._kind is not None:
            loop.setSource(QUrl.fromLocalFile(str(self.source_for(self._kind))))
            loop.setMuted(self._muted)
            if not self._muted:
                self._start(loop)

    def play(self, kind: str) -> None:
        """Loop the kind's sound (switching loops when the kind changes), unless muted. Not
        loaded yet: it starts when `load()` runs (at the latest LOAD_AT_THE_LATEST_MS)."""
        changed = kind != self._kind
        self._kind = kind
        if self._loop is None:
            if not self._load_timer.isActive():
                self._load_timer.start(LOAD_AT_THE_LATEST_MS)
            return
        if changed:
            self._loop.stop()
            self._loop.setSource(QUrl.fromLocalFile(str(self.source_for(kind))))
        if not self._muted:
            self._start(self._loop)

    def stop(self) -> None:
        """Stop the loop and forget the kind and the mute (the next alert is loud again)."""
        self._kind = None
        self._muted = False
        if self._loop is not None:
            self._loop.stop()
            self._loop.setMuted(False)

    def mute(self) -> None:
        self._muted = True
        if self._loop is not None:
            self._loop.setMuted(True)
            self._loop.stop()

    def unmute(self) -> None:
        self._muted = False
        if self._loop is None:
            if self._kind is not None and not self._load_timer.isActive():
                self._load_timer.start(LOAD_AT_THE_LATEST_MS)
            return
        self._loop.setMuted(False)
        if self._kind is not None:
            self._start(self._loop)

    def test(self) -> None:
        """Play the short test chime once ("Testa larmljud"), loading the player first."""
        self.load()
        if self._chime is not None:
            self._start(self._chime)

    def _start(self, effect: QSoundEffect) -> None:
        from PySide6.QtMultimedia import QSoundEffect  # loaded: `effect` is one

        if effect.status() == QSoundEffect.Status.Error:
            log.warning("cannot play %s", effect.source().toLocalFile())
            return
        try:
            effect.play()
        except RuntimeError:  # pragma: no cover - a backend failing at play time
            log.exception("cannot play %s", effect.source().toLocalFile())
