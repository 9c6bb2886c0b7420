"""Writes the alarm sounds: one loop per kind and a short test chime, mono 16-bit PCM at
22 050 Hz, deterministic (same bytes on every run). Run `python -m desktop_client.sounds.generate`
after changing a pattern and commit the WAV files.

Patterns (each kind recognisable by rhythm, not only pitch):
- pdv_lockdown: fast two-tone alternation (960/770 Hz, 8 notes a second), urgent.
- evacuate: a rising whoop (500→1200 Hz) and a short gap, like an evacuation siren.
- secure: three short 660 Hz pulses and a pause.
- custom: a steady 880 Hz beep, half a second on and off.
- test chime: two soft notes (660, 880 Hz) with decay, played once.
"""

from __future__ import annotations

import math
import struct
import sys
import wave
from collections.abc import Iterable, Sequence
from pathlib import Path

RATE = 22_050
AMPLITUDE = 0.7
FADE_S = 0.005  # at every note's edges, so loops and notes never click

# A segment: (seconds, start Hz, end Hz, decay); 0 Hz is silence.
Segment = tuple[float, float, float, bool]

PATTERNS: dict[str, Sequence[Segment]] = {
    "pdv_lockdown": [(0.125, f, f, False) for f in (960, 770) * 4],
    "evacuate": [(0.9, 500, 1200, False), (0.3, 0, 0, False)],
    "secure": [
        *[seg for _ in range(3) for seg in ((0.15, 660, 660, False), (0.1, 0, 0, False))],
        (0.5, 0, 0, False),
    ],
    "custom": [(0.5, 880, 880, False), (0.5, 0, 0, False)],
    "test_chime": [(0.35, 660, 660, True), (0.6, 880, 880, True)],
}


def segment_samples(seconds: float, start_hz: float, end_hz: float, decay: bool) -> list[int]:
    """The 16-bit samples of one segment: a sine sweeping linearly from `start_hz` to
    `end_hz`, faded at both ends, optionally decaying."""
    count = round(seconds * RATE)
    if start_hz == 0:
        return [0] * count
    fade = round(FADE_S * RATE)
    samples = []
    phase = 0.0
    for i in range(count):
        frequency = start_hz + (end_hz - start_hz) * i / count
        phase += 2 * math.pi * frequency / RATE
        gain = min(1.0, i / fade, (count - 1 - i) / fade)
        if decay:
            gain *= math.exp(-3.0 * i / count)
        samples.append(round(32767 * AMPLITUDE * gain * math.sin(phase)))
    return samples


def render(pattern: Iterable[Segment]) -> bytes:
    """The little-endian PCM bytes of a pattern."""
    samples = [s for segment in pattern for s in segment_samples(*segment)]
    return struct.pack(f"<{len(samples)}h", *samples)


def write(path: Path, pattern: Iterable[Segment]) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(render(pattern))


def main(directory: Path | None = None) -> int:
    target = directory or Path(__file__).resolve().parent
    for name, pattern in PATTERNS.items():
        write(target / f"{name}.wav", pattern)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
