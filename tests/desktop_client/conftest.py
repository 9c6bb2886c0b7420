"""Qt tests run on the `offscreen` platform (no display, no system tray, no audio device),
set before pytest-qt creates the application."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
