"""`python -m tests.desktop_client.xscreen OUT.png`: save the whole X screen of $DISPLAY as a
PNG, through Qt's xcb platform (no ImageMagick needed), and print whether that display has a
system tray ("tray: yes" / "tray: no"). Used by test_xvfb.py from its own process, so the
client under test is left alone."""

from __future__ import annotations

import os
import sys

os.environ["QT_QPA_PLATFORM"] = "xcb"

from PySide6.QtWidgets import QApplication, QSystemTrayIcon


def main(out: str) -> int:
    app = QApplication([sys.argv[0]])
    pixmap = app.primaryScreen().grabWindow(0)
    saved = pixmap.save(out, "PNG")
    print(f"tray: {'yes' if QSystemTrayIcon.isSystemTrayAvailable() else 'no'}")
    print(f"size: {pixmap.width()}x{pixmap.height()}")
    return 0 if saved else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
