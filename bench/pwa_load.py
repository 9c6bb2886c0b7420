"""What the staff PWA's first load of `/` transfers (issue 10: at most 300 KB), measured in
Debian's Chromium against the real `pdv-alert serve` with the demo data.

    .venv/bin/python -m bench.pwa_load

Three loads, each in a fresh browser profile (no HTTP cache, no service worker) except the
last: logged out (the login view), the enrolled app's first start right after enrolling (the
service worker precaching the shell counts too), and a reload of the enrolled app (files
revalidated: `no-cache` answers 304). Bytes are what crossed the network for every request
of the page and of its service worker: response headers plus the (compressed) body, from
Chromium's own accounting (`Request.sizes()`), WebSocket frames not included. Prints a table.
"""

from __future__ import annotations

import os
import platform
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import BrowserContext, Request, sync_playwright

from tests.server.serving import serving
from tests.web.browsing import CHROMIUM
from tests.web.pwa import WAIT_MS, enroll_in_page, make_school

LIMIT_BYTES = 300 * 1024


@dataclass
class Tally:
    """Bytes and requests seen by a browser context."""

    bytes: int = 0
    requests: int = 0
    urls: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> None:
        context.on("requestfinished", self._finished)

    def _finished(self, request: Request) -> None:
        sizes = request.sizes()
        self.bytes += sizes["responseHeadersSize"] + max(sizes["responseBodySize"], 0)
        self.requests += 1
        self.urls.append(request.url)

    def reset(self) -> None:
        self.bytes, self.requests, self.urls = 0, 0, []


def measure() -> list[tuple[str, Tally]]:
    rows: list[tuple[str, Tally]] = []
    with tempfile.TemporaryDirectory() as folder, serving(Path(folder)) as running:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                args=["--no-sandbox"] if os.geteuid() == 0 else [],
            )
            context = browser.new_context(base_url=running.url, service_workers="allow")
            tally = Tally()
            tally.watch(context)
            page = context.new_page()
            page.goto("/")
            page.get_by_label("E-post").wait_for(timeout=WAIT_MS)
            page.wait_for_load_state("networkidle")
            rows.append(("first load, logged out (login view)", tally))
            context.close()

            context = browser.new_context(base_url=running.url, service_workers="allow")
            tally = Tally()
            tally.watch(context)
            page = context.new_page()
            enroll_in_page(page, make_school(running))
            page.wait_for_function("navigator.serviceWorker.controller !== null")
            page.wait_for_load_state("networkidle")
            rows.append(("log in, enroll, first start (with precache)", tally))
            reload = Tally()
            reload.watch(context)
            page.reload()
            page.get_by_role("heading", name="Inga pågående larm").wait_for(timeout=WAIT_MS)
            page.wait_for_load_state("networkidle")
            rows.append(("reload of the enrolled app", reload))
            context.close()
            browser.close()
    return rows


def main() -> None:
    rows = measure()
    print(f"# PWA first load — {datetime.now(UTC):%Y-%m-%d} — {platform.node()}")
    print(f"| load | transferred | requests | within {LIMIT_BYTES // 1024} KB |")
    print("|---|---|---|---|")
    for name, tally in rows:
        within = "yes" if tally.bytes <= LIMIT_BYTES else "NO"
        print(f"| {name} | {tally.bytes / 1024:.1f} KB | {tally.requests} | {within} |")


if __name__ == "__main__":
    main()
