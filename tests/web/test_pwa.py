"""The staff PWA at / in a real Chromium against the real `pdv-alert serve`: log in, enroll
this browser with a code (typed, or from /enroll?code=…), receive alerts live over the
WebSocket on the device token, answer them, and see the answer in the principal's roll call
(server/web/js/pwa/, docs/architecture.md "Staff PWA")."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.server.serving import Running
from tests.web.browsing import assert_accessible, screenshot
from tests.web.pwa import (
    WAIT_MS,
    School,
    device_token,
    enroll_in_page,
    logged_in,
    make_school,
    trigger,
)

PHONE = {"width": 390, "height": 844}


def rollcall(leader: httpx.Client, alert_id: int) -> dict[str, object]:
    answer = leader.get(f"/api/v1/alerts/{alert_id}/rollcall")
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


def test_enroll_with_a_code_and_receive_an_alert_live(page: Page, web: Running, tmp_path: Path) -> None:
    """A staff member logs in, enrolls the browser with a typed code, and an alert triggered
    by the principal appears at once with its order, instructions and the three answers."""
    page.set_viewport_size(PHONE)
    school = make_school(web)
    page.goto("/")
    assert_accessible(page)  # the login view
    enroll_in_page(page, school)
    assert_accessible(page)  # the home view
    with logged_in(web.url, school.principal.email, school.principal.password) as leader:
        alert = trigger(leader, school)
    expect(page.get_by_role("heading", name=alert["order"]["sv"])).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("INRYMNING", exact=True)).to_be_visible()
    expect(page.get_by_text(alert["instructions"]["sv"])).to_be_visible()
    for name in ("Jag är i säkerhet", "Behöver hjälp", "Inte på plats"):
        expect(page.get_by_role("button", name=name)).to_be_visible()
    assert device_token(page).startswith("pdvd_")
    assert_accessible(page)
    screenshot(page, "pwa-alert", tmp_path, full_page=False)
