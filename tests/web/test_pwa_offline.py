"""The PWA without a connection: the banner "Ingen anslutning" when the live connection is
lost, and the service worker's offline shell — a reload with no network shows the app and
its banner, not a browser error page (server/web/sw.js)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.server.serving import Running
from tests.web.browsing import ROOT, PageProblems, assert_accessible, screenshot
from tests.web.pwa import WAIT_MS, enroll_in_page, forgive_network_errors, make_school


@pytest.fixture
def own_context(browser: Browser, fresh_web: Running) -> Iterator[BrowserContext]:
    """A browser profile pointed at a server of the test's own (which the test may stop)."""
    fresh = browser.new_context(
        base_url=fresh_web.url,
        locale="sv-SE",
        viewport={"width": 390, "height": 844},
        service_workers="allow",
    )
    yield fresh
    fresh.close()


@pytest.fixture
def own_page(own_context: BrowserContext) -> Iterator[tuple[Page, PageProblems]]:
    problems = PageProblems()
    opened = own_context.new_page()
    problems.watch(opened)
    yield opened, problems
    forgive_network_errors(problems)
    assert problems.errors == [], "\n".join(problems.errors)


def test_lost_connection_shows_the_banner(
    own_page: tuple[Page, PageProblems], fresh_web: Running, tmp_path: Path
) -> None:
    """When the server goes away, the enrolled PWA says "Ingen anslutning" in a banner (an
    ARIA alert) within seconds, and the page stays accessible."""
    page, _ = own_page
    school = make_school(fresh_web)
    enroll_in_page(page, school)
    banner = page.get_by_role("alert").filter(has_text="Ingen anslutning")
    expect(banner).to_have_count(0)
    fresh_web.process.kill()
    fresh_web.process.wait(timeout=30)
    expect(banner).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("heading", name="Larmläget är okänt")).to_be_visible()
    expect(page.get_by_text("Larm når inte den här enheten")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "pwa-offline", tmp_path, full_page=False)


def test_offline_reload_shows_the_app_with_the_banner(
    own_page: tuple[Page, PageProblems], own_context: BrowserContext, fresh_web: Running
) -> None:
    """Once the service worker controls the page, a reload with the network gone comes from
    its cache: the app with "Ingen anslutning", not a browser error."""
    page, _ = own_page
    school = make_school(fresh_web)
    enroll_in_page(page, school)
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=WAIT_MS)
    own_context.set_offline(True)
    reloaded = page.reload()
    assert reloaded is not None and reloaded.from_service_worker
    expect(page.get_by_role("alert").filter(has_text="Ingen anslutning")).to_be_visible(
        timeout=WAIT_MS
    )
    expect(page.get_by_role("heading", name="Larmläget är okänt")).to_be_visible()
    expect(page.get_by_role("heading", name="Inga pågående larm")).to_have_count(0)
    assert page.title() == "PDV-larm"
    assert_accessible(page)
    own_context.set_offline(False)
    expect(page.get_by_role("alert").filter(has_text="Ingen anslutning")).to_have_count(
        0, timeout=WAIT_MS
    )


SW = ROOT / "server" / "web" / "sw.js"
IMPORT = re.compile(r"""^import\s+(?:[^"']*?\s+from\s+)?["']([^"']+)["']""", re.MULTILINE)


def _shell() -> set[str]:
    listed = re.search(r"const SHELL = \[(.*?)\];", SW.read_text(encoding="utf-8"), re.DOTALL)
    assert listed is not None
    return set(re.findall(r'"([^"]+)"', listed.group(1)))


def _imported(path: Path, seen: set[Path]) -> set[Path]:
    """`path` and every module it imports, transitively."""
    if path in seen:
        return seen
    seen.add(path)
    for target in IMPORT.findall(path.read_text(encoding="utf-8")):
        _imported((path.parent / target).resolve(), seen)
    return seen


def test_the_offline_shell_holds_every_file_the_app_loads() -> None:
    """sw.js precaches every module main.js imports (transitively), the page's styles and
    the manifest's icons, and nothing that does not exist: the app starts with no network."""
    web = ROOT / "server" / "web"
    shell = _shell()
    modules = _imported(web / "js" / "pwa" / "main.js", set())
    wanted = {"/", "/manifest.webmanifest", "/static/css/base.css", "/static/css/pwa.css"}
    for module in modules:
        relative = module.relative_to(web).as_posix()
        wanted.add("/static/protocol.js" if relative == "protocol.js" else f"/static/{relative}")
    manifest = json.loads((web / "manifest.webmanifest").read_text(encoding="utf-8"))
    wanted |= {icon["src"] for icon in manifest["icons"]}
    assert wanted <= shell, sorted(wanted - shell)
    for entry in shell - {"/", "/manifest.webmanifest", "/static/protocol.js"}:
        assert (web / entry.removeprefix("/static/")).is_file(), entry
