"""Render the PWA's PNG icons from their SVG sources in Debian's Chromium, reproducibly.

    .venv/bin/python -m tests.web.icons      # writes server/web/icons/icon-{192,512}.png
                                             # and icon-maskable-512.png

`icon.svg` is the app icon (rounded, any purpose); `icon-maskable.svg` fills the whole square
and keeps its sign inside the central 80 % circle a launcher may cut it to (the manifest's
`purpose: maskable`). The PNGs are committed; run this after changing an SVG.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.web.browsing import CHROMIUM

ICONS = Path(__file__).resolve().parents[2] / "server" / "web" / "icons"
RENDERS = (
    ("icon.svg", "icon-192.png", 192),
    ("icon.svg", "icon-512.png", 512),
    ("icon-maskable.svg", "icon-maskable-512.png", 512),
)


def render() -> list[Path]:
    """Each SVG drawn at its size on a transparent page and saved as PNG."""
    written = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox"] if os.geteuid() == 0 else [],
        )
        for source, target, size in RENDERS:
            page = browser.new_page(viewport={"width": size, "height": size})
            svg = (ICONS / source).read_text(encoding="utf-8")
            page.set_content(
                "<html><body style='margin:0;background:transparent'>"
                f"<div style='width:{size}px;height:{size}px'>{svg}</div></body></html>"
            )
            page.locator("svg").evaluate(
                "(svg, px) => { svg.setAttribute('width', px); svg.setAttribute('height', px); }",
                size,
            )
            path = ICONS / target
            page.screenshot(
                path=str(path),
                omit_background=True,
                clip={"x": 0, "y": 0, "width": size, "height": size},
            )
            page.close()
            written.append(path)
        browser.close()
    return written


if __name__ == "__main__":
    for path in render():
        print(path.relative_to(ICONS.parents[2]))
