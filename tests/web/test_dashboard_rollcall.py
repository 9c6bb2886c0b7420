"""The dashboard's roll call changes live as real devices answer over the WebSocket: counts
from the `rollcall` frames, names re-read over HTTP, need help first with room and note."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.server.serving import Running
from tests.web.browsing import assert_accessible, screenshot
from tests.web.devices import connected, enroll, log_in, login, person, site_id

PRINCIPAL = person("rektor.karlberg")
SITE = "Karlbergsskolan"


def test_rollcall_follows_device_answers_live(page: Page, web: Running, tmp_path: Path) -> None:
    """Two staff devices receive an alert the principal triggered from the dashboard; one
    answers "need help" with a room and a note, the other "safe": the Upprop region shows
    each change without a reload — need help first with the name, room and note — and when
    the one who asked for help later answers "safe", the request stays visible under "Har
    bett om hjälp tidigare"."""
    enrolled = enroll(web, site=SITE, email_locals=["personal1.karlberg", "personal2.karlberg"])
    with connected(web, enrolled) as (first, second):
        log_in(page, PRINCIPAL)
        page.get_by_role("button", name="Larma").click()
        region = page.get_by_role("region", name="Upprop")
        expect(region).to_be_visible(timeout=15_000)
        alert = first.receive_alert()
        second.receive_alert()
        alert_id = alert["alert"]["id"]
        expect(region.locator(".tile-reached .tile-number")).to_have_text("2")
        expect(region.locator(".tile-not_answered .tile-number")).to_have_text("2")

        first.answer(alert_id, "need_help", note="Skadad person hos oss", location="Sal 204")
        help_list = region.locator(".need-help")
        expect(help_list).to_contain_text("Karin Öberg")
        expect(help_list).to_contain_text("Sal 204")
        expect(help_list).to_contain_text("Skadad person hos oss")
        expect(region.locator(".tile-need_help .tile-number")).to_have_text("1")
        expect(region.locator(".names")).to_contain_text("Ahmed Ali")

        second.answer(alert_id, "safe")
        expect(region.locator(".tile-safe .tile-number")).to_have_text("1")
        expect(region.locator(".tile-not_answered .tile-number")).to_have_text("0")
        expect(region.get_by_role("table", name=SITE)).to_be_visible()
        assert_accessible(page)
        screenshot(page, "dashboard-rollcall", tmp_path)

        first.answer(alert_id, "safe")
        expect(region.locator(".tile-need_help .tile-number")).to_have_text("0")
        earlier = region.locator(".name-list").filter(has_text="Har bett om hjälp tidigare")
        expect(earlier).to_contain_text("Karin Öberg")
        expect(earlier).to_contain_text("Sal 204")
        expect(earlier).to_contain_text("I säkerhet")
        assert_accessible(page)

        with login(web, PRINCIPAL.email, PRINCIPAL.password) as http:
            assert site_id(http, SITE) in alert["alert"]["sites"]
            assert http.post(f"/api/v1/alerts/{alert_id}/resolve").status_code == 200
        expect(page.get_by_text("Inget pågående larm.")).to_be_visible()
