"""The staff PWA at / in a real Chromium against the real `pdv-alert serve`: log in, enroll
this browser with a code (typed, or from /enroll?code=…), receive alerts live over the
WebSocket on the device token, answer them, and see the answer in the principal's roll call
(server/web/js/pwa/, docs/architecture.md "Staff PWA")."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from server import demo
from tests.server.serving import Running
from tests.web.browsing import PageProblems, assert_accessible, screenshot
from tests.web.pwa import (
    ADMIN,
    WAIT_MS,
    device_record,
    device_token,
    enroll_in_page,
    find_device,
    forgive_network_errors,
    log_in,
    logged_in,
    make_school,
    trigger,
)

PHONE = {"width": 390, "height": 844}
CHIEF = next(person for person in demo.PEOPLE if person.email.startswith("sakerhetschef@"))
ANSWERS = ("Jag är i säkerhet", "Behöver hjälp", "Inte på plats")


def eventually(check: Callable[[], Any], *, seconds: float = WAIT_MS / 1000) -> Any:
    """`check()`'s first truthy result, polled until `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "the server never showed it"
        time.sleep(0.2)


def test_enroll_with_a_code_and_receive_an_alert_live(
    page: Page, web: Running, tmp_path: Path
) -> None:
    """A staff member logs in, enrolls the browser with a typed code, and an alert triggered
    by the principal appears at once with its order, instructions and the three answers;
    the device is bound to the person and the page works on its device token."""
    page.set_viewport_size(PHONE)
    school = make_school(web)
    page.goto("/")
    assert_accessible(page)  # the login view
    enroll_in_page(page, school)
    screenshot(page, "pwa-home", tmp_path, full_page=False)
    assert_accessible(page)  # the home view
    token = device_token(page)
    assert token.startswith("pdvd_")
    me = httpx.get(web.url + "/api/v1/devices/self", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["kind"] == "web"
    assert me.json()["site_id"] == school.site_id
    with logged_in(web.url, school.principal.email, school.principal.password) as leader:
        assert me.json()["person_id"] == school.staff.id
        alert = trigger(leader, school)
        expect(page.get_by_role("heading", name=alert["order"]["sv"])).to_be_visible(
            timeout=WAIT_MS
        )
        expect(page.get_by_text("INRYMNING", exact=True)).to_be_visible()
        expect(page.get_by_text(alert["instructions"]["sv"].splitlines()[0])).to_be_visible()
        for name in ANSWERS:
            expect(page.get_by_role("button", name=name)).to_be_visible()
        expect(page.get_by_text("ÖVNING")).to_have_count(0)
        assert_accessible(page)
        screenshot(page, "pwa-alert", tmp_path, full_page=False)
        # delivered and displayed reached the server over the socket
        entry = eventually(
            lambda: (
                (
                    found := find_device(
                        leader.get(f"/api/v1/alerts/{alert['id']}/rollcall").json(), me.json()["id"]
                    )
                )
                and found.get("status") == "displayed"
                and found
            )
        )
        assert entry["status"] == "displayed"
        leader.post(f"/api/v1/alerts/{alert['id']}/resolve")


def test_enroll_link_prefills_the_code_and_the_answer_reaches_the_roll_call(
    page: Page, web: Running, tmp_path: Path
) -> None:
    """/enroll?code=… (the QR code's link) pre-fills the code and drops it from the address
    after enrolling; "Behöver hjälp" with a room and a note shows in the principal's roll call
    under need_help with the person's name, and the PWA shows the answer given."""
    page.set_viewport_size(PHONE)
    school = make_school(web)
    page.goto(school.enroll_url)
    log_in(page, school.staff)
    expect(page.get_by_label("Registreringskod")).to_have_value(school.code)
    assert_accessible(page)  # the enroll view
    screenshot(page, "pwa-enroll", tmp_path, full_page=False)
    page.get_by_role("button", name="Registrera").click()
    expect(page.get_by_role("heading", name="Inga pågående larm")).to_be_visible(timeout=WAIT_MS)
    assert "code=" not in page.url
    with logged_in(web.url, school.principal.email, school.principal.password) as leader:
        alert = trigger(leader, school)
        expect(page.get_by_role("heading", name=alert["order"]["sv"])).to_be_visible(
            timeout=WAIT_MS
        )
        page.get_by_label("Rum (valfritt)").fill("Hus B, sal 204")
        page.get_by_label("Meddelande (valfritt)").fill("Två skadade")
        page.get_by_role("button", name="Behöver hjälp").click()
        expect(page.get_by_text("Du svarade: behöver hjälp")).to_be_visible()
        expect(page.get_by_role("button", name="Behöver hjälp")).to_have_attribute(
            "aria-pressed", "true"
        )
        helped = eventually(
            lambda: leader.get(f"/api/v1/alerts/{alert['id']}/rollcall").json()["need_help"]
        )
        assert helped[0]["person"] == school.staff.name
        assert helped[0]["location"] == "Hus B, sal 204"
        assert helped[0]["note"] == "Två skadade"
        # a later answer replaces it
        page.get_by_role("button", name="Jag är i säkerhet").click()
        eventually(
            lambda: (
                leader.get(f"/api/v1/alerts/{alert['id']}/rollcall").json()["totals"]["safe"] == 1
            )
        )
        assert_accessible(page)
        leader.post(f"/api/v1/alerts/{alert['id']}/resolve")


def test_update_resolve_and_false_alarm_are_shown(page: Page, web: Running) -> None:
    """An update replaces the order on screen; "Faran över" and "Falsklarm" replace the alert
    until the person closes them, then the home view is back."""
    page.set_viewport_size(PHONE)
    school = make_school(web)
    enroll_in_page(page, school)
    with logged_in(web.url, school.principal.email, school.principal.password) as leader:
        alert = trigger(leader, school)
        expect(page.get_by_role("heading", name=alert["order"]["sv"])).to_be_visible(
            timeout=WAIT_MS
        )
        page.get_by_label("Meddelande (valfritt)").fill("skriver fortfarande")
        updated = leader.patch(
            f"/api/v1/alerts/{alert['id']}", json={"order": {"sv": "Gå till matsalen nu"}}
        )
        assert updated.status_code == 200, updated.text
        expect(page.get_by_role("heading", name="Gå till matsalen nu")).to_be_visible(
            timeout=WAIT_MS
        )
        expect(page.get_by_text(alert["order"]["sv"], exact=True)).to_have_count(0)
        expect(page.get_by_label("Meddelande (valfritt)")).to_have_value("skriver fortfarande")
        leader.post(f"/api/v1/alerts/{alert['id']}/resolve")
        expect(page.get_by_role("heading", name="Faran över")).to_be_visible(timeout=WAIT_MS)
        assert_accessible(page)
        page.get_by_role("button", name="Stäng").click()
        expect(page.get_by_role("heading", name="Inga pågående larm")).to_be_visible()

        second = trigger(leader, school, kind="evacuate")
        expect(page.get_by_text("UTRYMNING", exact=True)).to_be_visible(timeout=WAIT_MS)
        leader.post(f"/api/v1/alerts/{second['id']}/cancel")
        expect(page.get_by_role("heading", name="Falsklarm")).to_be_visible(timeout=WAIT_MS)
        assert_accessible(page)
        page.get_by_role("button", name="Stäng").click()
        expect(page.get_by_role("heading", name="Inga pågående larm")).to_be_visible()


def test_drill_shows_ovning_and_a_test_alert_shows_nothing_but_receipts(
    page: Page, web: Running
) -> None:
    """A drill is labelled ÖVNING; a reachability test shows nothing on screen, yet the
    device receipts it (delivered, not displayed) in the test's reachability report."""
    page.set_viewport_size(PHONE)
    school = make_school(web)
    enroll_in_page(page, school)
    device_id = device_record(page)["id"]
    with logged_in(web.url, CHIEF.email, CHIEF.password) as chief:
        drill = trigger(chief, school, mode="drill")
        expect(page.get_by_role("heading", name=drill["order"]["sv"])).to_be_visible(
            timeout=WAIT_MS
        )
        expect(page.get_by_text("ÖVNING", exact=True)).to_be_visible()
        expect(page.get_by_text("Detta är en övning.")).to_be_visible()
        assert_accessible(page)
        chief.post(f"/api/v1/alerts/{drill['id']}/resolve")
        page.get_by_role("button", name="Stäng").click()

        test = trigger(chief, school, mode="test")

        def receipted() -> dict[str, Any] | None:
            report = chief.get(f"/api/v1/alerts/{test['id']}/reachability").json()
            entry = find_device(report, device_id)
            return entry if entry and entry.get("delivered_at") else None

        entry = eventually(receipted)
        assert entry["displayed_at"] is None
        expect(page.get_by_role("heading", name="Inga pågående larm")).to_be_visible()
        for name in ANSWERS:
            expect(page.get_by_role("button", name=name)).to_have_count(0)
        chief.post(f"/api/v1/alerts/{test['id']}/resolve")


def test_trigger_with_countdown_and_cancel(page: Page, web: Running) -> None:
    """ "Larma" starts a countdown with "Avbryt": cancelled, nothing is triggered; let run, the
    device's inrymning goes out at its site and shows on the device itself."""
    page.set_viewport_size(PHONE)
    school = make_school(web)
    enroll_in_page(page, school)
    device_id = device_record(page)["id"]
    page.get_by_role("button", name="Larma").click()
    expect(page.get_by_text("Larmet går ut om")).to_be_visible()
    assert_accessible(page)  # the countdown
    page.get_by_role("button", name="Avbryt").click()
    expect(page.get_by_text("Larmet skickades inte.")).to_be_visible()
    with logged_in(web.url, school.principal.email, school.principal.password) as leader:
        active = leader.get("/api/v1/alerts", params={"state": "active"}).json()["alerts"]
        assert [a for a in active if school.site_id in a["sites"]] == []
        page.get_by_role("button", name="Larma").click()
        expect(page.get_by_text("INRYMNING", exact=True)).to_be_visible(timeout=WAIT_MS)
        active = leader.get("/api/v1/alerts", params={"state": "active"}).json()["alerts"]
        mine = [a for a in active if school.site_id in a["sites"]]
        assert len(mine) == 1
        assert mine[0]["created_by"] == f"device:{device_id}"
        assert mine[0]["mode"] == "actual"
        leader.post(f"/api/v1/alerts/{mine[0]['id']}/cancel")


def test_no_trigger_button_where_staff_may_not_trigger(page: Page, web: Running) -> None:
    """At a site whose staff may not trigger, the PWA offers no "Larma"."""
    school = make_school(web, staff_may_trigger=False)
    enroll_in_page(page, school)
    expect(page.get_by_role("button", name="Aktivera aviseringar")).to_be_visible()
    expect(page.get_by_role("button", name="Larma")).to_have_count(0)


def test_silent_mode_is_dark_and_kept(page: Page, web: Running, tmp_path: Path) -> None:
    """ "Tyst läge" is a toggle kept in the device record (the service worker reads it): the
    alert screen turns dark, still with the order and the answers, and it survives a reload."""
    page.set_viewport_size(PHONE)
    school = make_school(web)
    enroll_in_page(page, school)
    toggle = page.get_by_role("button", name="Tyst läge")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(page.get_by_role("button", name="Tyst läge")).to_have_attribute("aria-pressed", "true")
    assert device_record(page)["silent"] is True
    with logged_in(web.url, school.principal.email, school.principal.password) as leader:
        alert = trigger(leader, school)
        heading = page.get_by_role("heading", name=alert["order"]["sv"])
        expect(heading).to_be_visible(timeout=WAIT_MS)
        expect(page.locator(".alert-view.silent")).to_have_count(1)
        background = page.locator(".alert-view").evaluate(
            "e => getComputedStyle(e).backgroundColor"
        )
        assert background == "rgb(0, 0, 0)"
        assert_accessible(page)
        screenshot(page, "pwa-silent", tmp_path, full_page=False)
        page.reload()
        expect(page.get_by_role("heading", name=alert["order"]["sv"])).to_be_visible(
            timeout=WAIT_MS
        )
        expect(page.locator(".alert-view.silent")).to_have_count(1)
        leader.post(f"/api/v1/alerts/{alert['id']}/resolve")


def test_help_view_and_language_switch(page: Page, web: Running) -> None:
    """The help view explains adding the app to the iPhone/iPad home screen and allowing
    notifications (iOS 16.4+); "English" switches every text, "Svenska" back."""
    school = make_school(web)
    enroll_in_page(page, school)
    page.get_by_role("button", name="Hjälp").click()
    expect(
        page.get_by_role("heading", name="Så installerar du appen på iPhone och iPad")
    ).to_be_visible()
    expect(page.get_by_text("Lägg till på hemskärmen")).to_be_visible()
    expect(page.get_by_text("16.4")).to_be_visible()
    expect(page.get_by_text("Tillåt", exact=False).first).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="English").click()
    expect(
        page.get_by_role("heading", name="How to install the app on iPhone and iPad")
    ).to_be_visible()
    assert page.evaluate("document.documentElement.lang") == "en"
    page.get_by_role("button", name="Back").click()
    expect(page.get_by_role("heading", name="No active alerts")).to_be_visible()
    assert_accessible(page)
    with logged_in(web.url, school.principal.email, school.principal.password) as leader:
        alert = trigger(leader, school)
        expect(page.get_by_role("heading", name=alert["order"]["en"])).to_be_visible(
            timeout=WAIT_MS
        )
        expect(page.get_by_role("button", name="I am safe")).to_be_visible()
        page.get_by_role("button", name="Svenska").click()
        expect(page.get_by_role("button", name="Jag är i säkerhet")).to_be_visible()
        leader.post(f"/api/v1/alerts/{alert['id']}/resolve")


def test_a_reload_resumes_with_the_alert_and_the_answer(page: Page, web: Running) -> None:
    """After a reload the page resumes on its device token: the active alert is back on
    screen with the answer given, and an alert triggered while it was away arrives."""
    school = make_school(web)
    enroll_in_page(page, school)
    with logged_in(web.url, school.principal.email, school.principal.password) as leader:
        alert = trigger(leader, school)
        expect(page.get_by_role("heading", name=alert["order"]["sv"])).to_be_visible(
            timeout=WAIT_MS
        )
        page.get_by_role("button", name="Inte på plats").click()
        expect(page.get_by_text("Du svarade: inte på plats")).to_be_visible()
        stream = json.loads(page.evaluate("localStorage.getItem('pdv-alert.pwa.stream')"))
        assert stream["lastSeq"] >= 1
        page.goto("about:blank")
        updated = leader.patch(
            f"/api/v1/alerts/{alert['id']}", json={"order": {"sv": "Stanna kvar inne"}}
        )
        assert updated.status_code == 200
        page.goto("/")
        expect(page.get_by_role("heading", name="Stanna kvar inne")).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_text("Du svarade: inte på plats")).to_be_visible()
        leader.post(f"/api/v1/alerts/{alert['id']}/resolve")


def test_a_real_alert_replaces_a_drill_without_a_false_alarm_screen(
    page: Page, web: Running
) -> None:
    """A real alert at a site with a drill cancels the drill (superseded): the PWA shows the
    real alert without ÖVNING, and once it is over no "Falsklarm" of the drill follows."""
    school = make_school(web)
    enroll_in_page(page, school)
    with (
        logged_in(web.url, CHIEF.email, CHIEF.password) as chief,
        logged_in(web.url, school.principal.email, school.principal.password) as leader,
    ):
        drill = trigger(chief, school, mode="drill")
        expect(page.get_by_text("ÖVNING", exact=True)).to_be_visible(timeout=WAIT_MS)
        real = trigger(leader, school, kind="secure")
        assert real["id"] != drill["id"]
        expect(page.get_by_text("UTESTÄNGNING", exact=True)).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_text("ÖVNING", exact=True)).to_have_count(0)
        leader.post(f"/api/v1/alerts/{real['id']}/resolve")
        expect(page.get_by_role("heading", name="Faran över")).to_be_visible(timeout=WAIT_MS)
        page.get_by_role("button", name="Stäng").click()
        expect(page.get_by_role("heading", name="Inga pågående larm")).to_be_visible()
        expect(page.get_by_role("heading", name="Falsklarm")).to_have_count(0)


def test_a_revoked_device_says_so_and_enrolls_again(page: Page, web: Running) -> None:
    """When an admin revokes the device, the PWA stops reconnecting and says the device was
    removed; its button forgets the token and leads back to enrolling."""
    school = make_school(web)
    enroll_in_page(page, school)
    device_id = device_record(page)["id"]
    with logged_in(web.url, ADMIN.email, ADMIN.password) as admin:
        revoked = admin.post(f"/api/v1/devices/{device_id}/revoke")
        assert revoked.status_code == 200, revoked.text
    banner = page.get_by_role("alert").filter(has_text="Enheten är borttagen")
    expect(banner).to_be_visible(timeout=WAIT_MS)
    assert_accessible(page)
    banner.get_by_role("button", name="Registrera den här enheten").click()
    expect(page.get_by_role("heading", name="Registrera den här enheten")).to_be_visible(
        timeout=WAIT_MS
    )
    assert device_record(page) is None


def test_without_the_socket_a_link_shows_the_alert_and_the_answer_goes_over_http(
    page: Page, web: Running, page_problems: PageProblems
) -> None:
    """With the WebSocket refused (the gateway unreachable, HTTP still up), the banner says
    so, the alert's link (/?alert=<id>, where a notification leads) shows the alert fetched
    over HTTP, and the answer reaches the roll call by HTTP on the device token."""
    school = make_school(web)
    enroll_in_page(page, school)
    page.route_web_socket(re.compile(".*"), lambda socket: socket.close(code=1011))
    page.reload()
    expect(page.get_by_role("alert").filter(has_text="Ingen anslutning")).to_be_visible(
        timeout=WAIT_MS
    )
    with logged_in(web.url, school.principal.email, school.principal.password) as leader:
        alert = trigger(leader, school)
        page.goto(f"/?alert={alert['id']}")
        expect(page.get_by_role("heading", name=alert["order"]["sv"])).to_be_visible(
            timeout=WAIT_MS
        )
        page.get_by_label("Rum (valfritt)").fill("Biblioteket")
        page.get_by_role("button", name="Jag är i säkerhet").click()
        expect(page.get_by_text("Du svarade: i säkerhet")).to_be_visible()
        call = eventually(
            lambda: (
                (found := leader.get(f"/api/v1/alerts/{alert['id']}/rollcall").json())
                and found["totals"]["safe"] == 1
                and found
            )
        )
        assert call["totals"]["answered"] == 1
        answers = leader.get(f"/api/v1/alerts/{alert['id']}/answers").json()
        assert "Biblioteket" in json.dumps(answers, ensure_ascii=False)
        leader.post(f"/api/v1/alerts/{alert['id']}/resolve")
    forgive_network_errors(page_problems)
