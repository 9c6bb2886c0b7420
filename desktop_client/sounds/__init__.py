"""The bundled alarm sounds (WAV, package data), made by `generate.py`."""

from pathlib import Path

SOUNDS_DIR = Path(__file__).resolve().parent
KIND_FILES = {
    "pdv_lockdown": "pdv_lockdown.wav",
    "evacuate": "evacuate.wav",
    "secure": "secure.wav",
    "custom": "custom.wav",
}
TEST_FILE = "test_chime.wav"
