"""Driving Debian's Chromium with Playwright against the real `pdv-alert serve` process.

The browser tests are synchronous (Playwright's sync API cannot run inside a test's asyncio
loop). Every page is watched: an uncaught error or a console error — a Content-Security-Policy
refusal is one — fails the test, so a page that only looks right does not pass. Accessibility
is checked with axe-core (tests/web/package.json, installed by `make test`) against WCAG 2.1
A and AA. Screenshots go to docs/img/ when PDV_WRITE_SCREENSHOTS=1, else to the test's tmp dir.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import ConsoleMessage, Error, Page

ROOT = Path(__file__).resolve().parents[2]
IMG = ROOT / "docs" / "img"
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@dataclass
class PageProblems:
    """What went wrong in a page while a test drove it."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")


def accessibility_violations(page: Page, *, selector: str | None = None) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations on the page (or inside `selector`), as dicts."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Added as a script element's text would be inline script, which the page's CSP
        # refuses; evaluate() runs it through the DevTools protocol instead.
        page.evaluate(AXE.read_text(encoding="utf-8"))
    context = json.dumps(selector) if selector else "document"
    result = page.evaluate(
        f"async () => (await axe.run({context}, {{runOnly: {json.dumps(WCAG_AA)}}})).violations"
    )
    return [
        {
            "id": violation["id"],
            "help": violation["help"],
            "nodes": [node["target"] for node in violation["nodes"]][:5],
        }
        for violation in result
    ]


def assert_accessible(page: Page, *, selector: str | None = None) -> None:
    """Fail with axe-core's findings when the page breaks WCAG 2.1 AA."""
    violations = accessibility_violations(page, selector=selector)
    assert violations == [], json.dumps(violations, ensure_ascii=False, indent=2)


def screenshot(page: Page, name: str, tmp_path: Path, *, full_page: bool = True) -> Path:
    """Save a PNG of the page: docs/img/<name>.png with PDV_WRITE_SCREENSHOTS=1."""
    folder = IMG if os.environ.get("PDV_WRITE_SCREENSHOTS") == "1" else tmp_path
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 0
    return path


__all__ = ["AXE", "CHROMIUM", "Error", "PageProblems", "assert_accessible", "screenshot"]
