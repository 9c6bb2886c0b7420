"""Fixtures for the browser tests: the real `pdv-alert serve` process with the demo data, and
Debian's headless Chromium driven by Playwright (tests/web/browsing.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.conftest import service_unavailable
from tests.server.serving import Running, serving
from tests.web.browsing import AXE, CHROMIUM, PageProblems


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver, for one test module: while it runs, its event loop is the
    thread's running loop, which would break the asyncio tests of later modules."""
    if not CHROMIUM.exists():
        service_unavailable(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    if not AXE.exists():
        service_unavailable(f"no axe-core at {AXE} (npm ci --prefix tests/web)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=["--no-sandbox"] if os.geteuid() == 0 else [],
    )
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """`pdv-alert demo` + `pdv-alert serve` on a fresh SQLite file, shared by a test module
    (starting one takes seconds): tests that change data make their own sites or alerts, or
    use `fresh_web`."""
    with serving(tmp_path_factory.mktemp("web")) as running:
        yield running


@pytest.fixture
def fresh_web(tmp_path: Path) -> Iterator[Running]:
    """A server of the test's own."""
    with serving(tmp_path) as running:
        yield running


@pytest.fixture
def context(browser: Browser, web: Running) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies, no storage) pointed at the server, in Swedish."""
    fresh = browser.new_context(
        base_url=web.url,
        locale="sv-SE",
        viewport={"width": 1280, "height": 800},
        service_workers="allow",
    )
    yield fresh
    fresh.close()


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(context: BrowserContext, page_problems: PageProblems) -> Iterator[Page]:
    """A page whose uncaught errors and console errors (CSP refusals too) fail the test."""
    opened = context.new_page()
    page_problems.watch(opened)
    yield opened
    assert page_problems.errors == [], "\n".join(page_problems.errors)
