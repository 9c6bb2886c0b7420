"""The web pages are served with a strict Content-Security-Policy and load in a real Chromium
without a single refused resource or script error (server/api/pages.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page

from tests.server.serving import Running
from tests.web.browsing import assert_accessible

PAGES = ["/", "/dashboard", "/enroll?code=ABCD-EFGH", "/sw.js"]


@pytest.mark.parametrize("path", PAGES)
def test_page_has_a_strict_policy_naming_the_gateway(web: Running, path: str) -> None:
    """Pages and the service worker forbid inline script and foreign origins, and let the page
    reach exactly the WebSocket gateway the server advertises."""
    answer = httpx.get(web.url + path)
    assert answer.status_code == 200
    policy = dict(
        part.strip().split(" ", 1) for part in answer.headers["content-security-policy"].split(";")
    )
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in answer.headers["content-security-policy"]
    ws = urlsplit(httpx.get(web.url + "/api/v1/config").json()["ws_url"])
    assert policy["connect-src"] == f"'self' {ws.scheme}://{ws.netloc}"
    assert answer.headers["cache-control"] == "no-cache"
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_manifest_and_static_files_have_their_types(web: Running) -> None:
    """The manifest, scripts, styles and icons come with the media types browsers insist on."""
    expected = {
        "/manifest.webmanifest": "application/manifest+json",
        "/static/protocol.js": "text/javascript; charset=utf-8",
        "/static/js/shared/live.js": "text/javascript; charset=utf-8",
        "/static/css/base.css": "text/css; charset=utf-8",
        "/static/icons/icon.svg": "image/svg+xml",
    }
    for path, media_type in expected.items():
        answer = httpx.get(web.url + path)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"] == media_type, path


@pytest.mark.parametrize(
    "path",
    [
        "/static/js/../../settings.py",
        "/static/js/%2e%2e/%2e%2e/app.py",
        "/static/storage/tables.py",
        "/static/js/.hidden",
        "/static/css/missing.css",
        "/static/index.html",
    ],
)
def test_nothing_outside_the_static_folders_is_served(web: Running, path: str) -> None:
    """Traversal, hidden files, other folders and missing files are all 404."""
    answer = httpx.get(web.url + path, follow_redirects=True)
    assert answer.status_code == 404
    assert "import" not in answer.text


@pytest.mark.parametrize("path", ["/", "/dashboard"])
def test_page_loads_in_chromium_without_refusals(page: Page, path: str) -> None:
    """Chromium loads the page and its modules under the policy with no error (the `page`
    fixture fails on any console error or CSP refusal) and it passes axe-core's checks."""
    page.goto(path)
    page.wait_for_load_state("networkidle")
    assert page.title().startswith("PDV-larm")
    assert_accessible(page)
