"""The leaders' dashboard in a real Chromium against the real server: log in, trigger with the
server's countdown, cancel a countdown, update and resolve, each view keyboard-usable and
accessible (server/web/js/dashboard/)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.server.serving import Running
from tests.web.browsing import assert_accessible, screenshot
from tests.web.devices import log_in, login, person

PRINCIPAL = person("rektor.ullvi")
CHIEF = person("sakerhetschef")
ADMIN = person("admin")


def active_alerts(web: Running) -> list[dict[str, object]]:
    with login(web, CHIEF.email, CHIEF.password) as http:
        alerts = http.get("/api/v1/alerts").json()["alerts"]
    return [alert for alert in alerts if alert["state"] == "active"]


def test_login_shows_the_trigger_for_a_principal_and_logout_returns_to_the_form(
    page: Page, web: Running
) -> None:
    """A principal logs in and sees the trigger with the Swedish kinds and modes of issue 10
    (only Skarpt: principals run no drills), their own site only; logging out shows the
    login form again and the session is gone."""
    log_in(page, PRINCIPAL)
    trigger = page.get_by_role("form", name="Nytt larm")
    for kind in ("Inrymning", "Utrymning", "Utestängning", "Eget meddelande"):
        expect(trigger.get_by_role("radio", name=kind)).to_be_visible()
    expect(trigger.get_by_role("radio", name="Skarpt")).to_be_checked()
    expect(trigger.get_by_role("radio", name="Övning")).to_have_count(0)
    expect(trigger.get_by_role("checkbox")).to_have_count(1)
    expect(trigger.get_by_role("checkbox", name="Ullvigymnasiet")).to_be_checked()
    expect(page.get_by_role("button", name="Larma")).to_be_enabled()
    assert_accessible(page)
    page.get_by_role("button", name="Logga ut").click()
    expect(page.get_by_role("button", name="Logga in")).to_be_visible()
    me = page.request.get("/api/v1/me")
    assert me.status == 401


def test_cancelling_the_countdown_sends_nothing(page: Page, web: Running) -> None:
    """ "Larma" starts the countdown shown big with "Avbryt"; pressing it before zero sends no
    alert at all."""
    log_in(page, PRINCIPAL)
    page.get_by_role("button", name="Larma").click()
    dialog = page.get_by_role("alertdialog", name="Larmet går ut om")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Avbryt")).to_be_focused()
    assert_accessible(page)
    dialog.get_by_role("button", name="Avbryt").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_text("Larmet avbröts. Inget skickades.")).to_be_visible()
    page.wait_for_timeout(4000)  # longer than the countdown: nothing may go out late
    assert active_alerts(web) == []


def test_trigger_update_and_resolve_from_the_dashboard(
    page: Page, web: Running, tmp_path: Path
) -> None:
    """A principal triggers inrymning after the countdown; the active alert shows its order,
    "Uppdatera order" replaces it with utrymning and an own text, "Faran över" (confirmed)
    ends it — each step is the server's state."""
    log_in(page, PRINCIPAL)
    page.get_by_role("button", name="Larma").click()
    expect(page.get_by_role("alertdialog")).to_be_visible()
    card = page.get_by_role("article").filter(has_text="Inrymning")
    expect(card).to_be_visible(timeout=15_000)
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    [alert] = active_alerts(web)
    assert alert["kind"] == "pdv_lockdown"
    expect(page.get_by_role("region", name="Upprop")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "dashboard-alert", tmp_path, full_page=False)

    page.get_by_role("button", name="Uppdatera order").click()
    page.get_by_role("group", name="Ny typ av larm").get_by_role("radio", name="Utrymning").check()
    page.get_by_label(re.compile("^Ny ordertext")).fill("Gå ut via norra trapphuset.")
    page.get_by_role("button", name="Skicka ny order").click()
    expect(page.get_by_text("Gå ut via norra trapphuset.")).to_be_visible()
    [alert] = active_alerts(web)
    assert alert["kind"] == "evacuate"

    page.get_by_role("button", name="Faran över").click()
    # while the question is asked, its answers are the only buttons: the one named
    # "Faran över" is now "Ja, faran över"
    expect(page.get_by_role("button", name="Faran över")).to_have_count(1)
    expect(page.get_by_role("button", name="Falsklarm")).to_have_count(0)
    page.get_by_role("button", name="Ja, faran över").click()
    expect(page.get_by_text("Inget pågående larm.")).to_be_visible()
    assert active_alerts(web) == []


def test_a_refused_trigger_reaches_the_leaders_as_a_request(page: Page, web: Running) -> None:
    """While inrymning is active, a staff member's utrymning is refused by the server
    (another kind, not more severe): the principal's alert card shows the request — what was
    asked — instead of it going unseen; the order in force stays inrymning."""
    log_in(page, PRINCIPAL)
    page.get_by_role("button", name="Larma").click()
    card = page.get_by_role("article").filter(has_text="Inrymning")
    expect(card).to_be_visible(timeout=15_000)
    [alert] = active_alerts(web)
    staff = person("personal1.ullvi")
    with login(web, staff.email, staff.password) as http:
        refused = http.post(
            "/api/v1/alerts",
            json={"kind": "evacuate", "site_ids": alert["sites"], "order": {"sv": "Brand i hus C"}},
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "alert.other_kind_active"
    request = card.get_by_role("alert")
    expect(request).to_contain_text("Begäran")
    expect(request).to_contain_text("Utrymning: Brand i hus C")
    expect(card.get_by_role("heading")).to_contain_text("Inrymning")
    assert_accessible(page)
    card.get_by_role("button", name="Falsklarm").click()
    card.get_by_role("button", name="Ja, falsklarm").click()
    expect(page.get_by_text("Inget pågående larm.")).to_be_visible()
    assert active_alerts(web) == []


def test_a_server_on_port_0_allows_its_own_origin(web: Running) -> None:
    """`serve --port 0` knows the port it got: a cookie-authenticated write from the page's
    own origin passes the CSRF guard, while another port of the same host is refused."""
    with login(web, PRINCIPAL.email, PRINCIPAL.password) as http:
        own = http.post("/api/v1/auth/logout", headers={"Origin": web.url})
        assert own.status_code == 204, own.text
    with login(web, PRINCIPAL.email, PRINCIPAL.password) as http:
        other = http.post("/api/v1/auth/logout", headers={"Origin": "http://127.0.0.1:1"})
        assert other.status_code == 403
        assert other.json()["error"]["code"] == "auth.bad_origin"


def test_the_trigger_works_by_keyboard_and_escape_cancels(page: Page, web: Running) -> None:
    """Keyboard only: the kind is chosen with the arrow keys, "Larma" pressed with Enter, the
    countdown takes the focus on "Avbryt" and Escape cancels it — nothing is sent and the
    focus returns to "Larma"."""
    log_in(page, PRINCIPAL)
    page.get_by_role("radio", name="Inrymning").focus()
    page.keyboard.press("ArrowRight")
    expect(
        page.get_by_role("form", name="Nytt larm").get_by_role("radio", name="Utrymning")
    ).to_be_checked()
    page.get_by_role("button", name="Larma").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("alertdialog", name="Larmet går ut om")
    expect(dialog).to_contain_text("Utrymning")
    expect(dialog.get_by_role("button", name="Avbryt")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Avbryt")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(page.get_by_role("button", name="Larma")).to_be_focused()
    page.wait_for_timeout(4000)  # longer than the countdown
    assert active_alerts(web) == []
