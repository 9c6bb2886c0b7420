"""The dashboard's administration beyond adding things, in a real Chromium against the real
server: a person's roles edited, the person deactivated (asked once more) and reactivated;
a site's "staff may trigger" and details; the organization's alert texts; the history and
the audit log naming who acted; a zone deleted only after asking once more. Each view passes
axe-core."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import Locator, Page, expect

from tests.server.serving import HTTP_TIMEOUT, Running
from tests.web.browsing import assert_accessible, screenshot
from tests.web.devices import log_in, login, person, site_id

ADMIN = person("admin")
CHIEF = person("sakerhetschef")
PRINCIPAL = person("rektor.ullvi")


def persons_by_name(web: Running) -> dict[str, dict[str, object]]:
    with login(web, ADMIN.email, ADMIN.password) as http:
        return {p["name"]: p for p in http.get("/api/v1/persons").json()}


def test_person_roles_are_edited_and_deactivation_asks_first(
    page: Page, web: Running, tmp_path: Path
) -> None:
    """An admin gives Johan Berg a second principal role; "Inaktivera" asks once more ("Nej,
    tillbaka" changes nothing), then deactivates: his open session ends and he cannot log
    in; "Återaktivera" lets him in again; "Stäng" returns the focus to "Ändra Johan Berg";
    the audit log names the admin who did it and whom."""
    johan = person("rektor.karlberg")
    with login(web, johan.email, johan.password) as johans_session:
        log_in(page, ADMIN)
        page.get_by_role("button", name="Personer").click()
        page.get_by_role("button", name="Ändra Johan Berg").click()
        editor = page.get_by_role("region", name="Ändra Johan Berg")
        expect(editor.get_by_role("heading", name="Ändra Johan Berg")).to_be_focused()
        expect(
            editor.get_by_role("group", name="Roll 1").get_by_label("Skola", exact=True)
        ).to_have_value(str(site_of(web, "Karlbergsskolan")))
        editor.get_by_role("button", name="Lägg till roll").click()
        second = editor.get_by_role("group", name="Roll 2")
        second.get_by_label("Roll", exact=True).select_option(label="rektor")
        second.get_by_label("Skola", exact=True).select_option(label="Nyckelbergsskolan")
        editor.get_by_role("button", name="Spara roller").click()
        expect(editor.get_by_text("Rollerna för Johan Berg sparades.")).to_be_visible()
        row = page.get_by_role("row", name="Johan Berg")
        expect(row).to_contain_text("rektor (Karlbergsskolan), rektor (Nyckelbergsskolan)")
        roles = persons_by_name(web)["Johan Berg"]["roles"]
        assert roles == [
            {"role": "principal", "site_id": site_of(web, "Karlbergsskolan")},
            {"role": "principal", "site_id": site_of(web, "Nyckelbergsskolan")},
        ]
        assert_accessible(page)

        editor.get_by_role("button", name="Inaktivera").click()
        question = editor.get_by_role("group", name="Inaktivera")
        expect(question).to_contain_text("Inaktivera Johan Berg? Personen loggas ut")
        expect(question.get_by_role("button", name="Ja, inaktivera")).to_be_focused()
        screenshot(page, "dashboard-person", tmp_path)
        assert_accessible(page)
        question.get_by_role("button", name="Nej, tillbaka").click()
        expect(editor.get_by_role("button", name="Inaktivera")).to_be_focused()
        assert persons_by_name(web)["Johan Berg"]["active"] is True
        assert johans_session.get("/api/v1/me").status_code == 200

        editor.get_by_role("button", name="Inaktivera").click()
        editor.get_by_role("button", name="Ja, inaktivera").click()
        expect(editor.get_by_text("Johan Berg är inaktiverad.").first).to_be_visible()
        expect(page.get_by_role("row", name="Johan Berg")).to_contain_text("nej")
        assert persons_by_name(web)["Johan Berg"]["active"] is False
        assert johans_session.get("/api/v1/me").status_code == 401
    assert can_log_in(web, johan.email, johan.password) is False

    page.get_by_role("button", name="Återaktivera").click()
    expect(editor.get_by_text("Johan Berg är aktiv igen.")).to_be_visible()
    expect(page.get_by_role("row", name="Johan Berg")).to_contain_text("ja")
    assert can_log_in(web, johan.email, johan.password) is True
    editor.get_by_role("button", name="Stäng").click()
    expect(editor).to_have_count(0)
    expect(page.get_by_role("button", name="Ändra Johan Berg")).to_be_focused()

    page.get_by_role("button", name="Granskningslogg").click()
    rows = page.locator(".audit-view tbody tr")
    expect(rows.filter(has_text="person.updated").first).to_contain_text("Anna Lindqvist")
    expect(rows.filter(has_text="person.updated").first).to_contain_text("Johan Berg")
    assert_accessible(page)


def site_of(web: Running, name: str) -> int:
    with login(web, ADMIN.email, ADMIN.password) as http:
        return site_id(http, name)


def can_log_in(web: Running, email: str, password: str) -> bool:
    with httpx.Client(base_url=web.url, timeout=HTTP_TIMEOUT) as http:
        answer = http.post("/api/v1/auth/login", json={"email": email, "password": password})
    return answer.status_code == 200


def test_site_staff_may_trigger_and_the_organizations_alert_texts(
    page: Page, web: Running, tmp_path: Path
) -> None:
    """An admin turns off "Personalen får larma" at Nyckelbergsskolan (its staff lose the
        right to trigger there) and gives Utrymning a Swedish order of the organization's own:
        only the changed text becomes an override, emptying it brings the built-in back, and the
    view reads in English after "English"."""
    log_in(page, ADMIN)
    page.get_by_role("button", name="Skolor och zoner").click()
    details = page.get_by_role("form", name="Uppgifter om Nyckelbergsskolan")
    staff = details.get_by_role("checkbox", name="Personalen får larma")
    expect(staff).to_be_checked()
    staff.uncheck()
    details.get_by_label("Adress").fill("Nyckelbergsvägen 1, Köping")
    details.get_by_role("button", name="Spara skolan").click()
    expect(page.get_by_text("Sparat.")).to_be_visible()
    expect(
        page.get_by_role("form", name="Uppgifter om Nyckelbergsskolan").get_by_role(
            "checkbox", name="Personalen får larma"
        )
    ).not_to_be_checked()
    nyckelberg = site_of(web, "Nyckelbergsskolan")
    with login(web, ADMIN.email, ADMIN.password) as http:
        site = http.get(f"/api/v1/sites/{nyckelberg}").json()
    assert site["staff_may_trigger"] is False
    assert site["address"] == "Nyckelbergsvägen 1, Köping"
    staff_member = person("personal1.nyckelberg")
    with login(web, staff_member.email, staff_member.password) as http:
        rights = http.get("/api/v1/me").json()["permissions"].get(str(nyckelberg), [])
    assert "trigger" not in rights
    assert_accessible(page)

    page.get_by_role("button", name="Larmtexter").click()
    evacuate = page.get_by_role("form", name="Utrymning")
    order = evacuate.get_by_label("Order (svenska)")
    expect(order).to_have_value("UTRYMNING – lämna byggnaden nu")
    order.fill("UTRYMNING – gå till fotbollsplanen")
    evacuate.get_by_role("button", name="Spara texterna för Utrymning").click()
    evacuate = page.get_by_role("form", name="Utrymning")
    expect(evacuate.get_by_text("Texterna för Utrymning sparades.")).to_be_visible()
    expect(evacuate.get_by_text("Organisationens egen text.")).to_have_count(1)
    with login(web, ADMIN.email, ADMIN.password) as http:
        org = http.get("/api/v1/organization").json()
    assert org["templates"] == {"evacuate": {"order_sv": "UTRYMNING – gå till fotbollsplanen"}}
    assert org["kinds"]["evacuate"]["order"]["en"] == "EVACUATE – leave the building now"
    expect(
        page.get_by_role("form", name="Eget meddelande").get_by_label("Order (svenska)")
    ).to_have_count(0)
    screenshot(page, "dashboard-texts", tmp_path)
    assert_accessible(page)

    evacuate.get_by_label("Order (svenska)").fill("")
    evacuate.get_by_role("button", name="Spara texterna för Utrymning").click()
    evacuate = page.get_by_role("form", name="Utrymning")
    expect(evacuate.get_by_label("Order (svenska)")).to_have_value("UTRYMNING – lämna byggnaden nu")
    with login(web, ADMIN.email, ADMIN.password) as http:
        assert http.get("/api/v1/organization").json()["templates"] == {}

    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Alert texts", exact=True)).to_be_visible()
    expect(
        page.get_by_role("form", name="Evacuation").get_by_label("Order (Swedish)")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Save the texts for Evacuation")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Svenska").click()
    expect(page.get_by_role("heading", name="Larmtexter", exact=True)).to_be_visible()


def test_history_names_who_acted_where_the_page_may_read_it(page: Page, web: Running) -> None:
    """A principal's alert, resolved by the security chief: the principal's history says
    "Larm utlöst av Maria Holm" (herself) and keeps the chief as a reference she may not
    resolve; the chief's history names both (Maria Holm from the alert's report)."""
    ullvi = site_of(web, "Ullvigymnasiet")
    with login(web, PRINCIPAL.email, PRINCIPAL.password) as http:
        answer = http.post("/api/v1/alerts", json={"kind": "secure", "site_ids": [ullvi]})
        assert answer.status_code == 201, answer.text
        alert_id = answer.json()["alert"]["id"]
    with login(web, CHIEF.email, CHIEF.password) as http:
        assert http.post(f"/api/v1/alerts/{alert_id}/resolve").status_code == 200
        chief_id = http.get("/api/v1/me").json()["id"]

    log_in(page, PRINCIPAL)
    events = open_events(page, alert_id)
    expect(events.get_by_role("listitem").nth(0)).to_contain_text("Larm utlöst av Maria Holm")
    expect(events.get_by_role("listitem").nth(1)).to_contain_text(
        f"Faran över av person:{chief_id}"
    )
    assert_accessible(page)
    page.get_by_role("button", name="Logga ut").click()
    expect(page.get_by_role("button", name="Logga in")).to_be_visible()

    log_in(page, CHIEF)
    events = open_events(page, alert_id)
    expect(events.get_by_role("listitem").nth(0)).to_contain_text("Larm utlöst av Maria Holm")
    expect(events.get_by_role("listitem").nth(1)).to_contain_text("Faran över av Erik Sandberg")
    assert_accessible(page)


def open_events(page: Page, alert_id: int) -> Locator:
    """Open the history and unfold the events of alert `alert_id`."""
    page.get_by_role("button", name="Historik").click()
    item = page.locator("li.history-item").filter(has_text=re.compile(rf"#{alert_id}(?!\d)"))
    item.get_by_role("button", name="Händelser").click()
    return item.locator("ol.event-list")


def test_zone_delete_asks_once_more(page: Page, web: Running) -> None:
    """ "Ta bort Hus Z" asks in place with "Ja, ta bort" focused; "Nej, tillbaka" keeps the
    zone and returns the focus; confirming deletes it on the server."""
    karlberg = site_of(web, "Karlbergsskolan")
    with login(web, ADMIN.email, ADMIN.password) as http:
        zone = http.post(f"/api/v1/sites/{karlberg}/zones", json={"name": "Hus Z"}).json()
    log_in(page, ADMIN)
    page.get_by_role("button", name="Skolor och zoner").click()
    section = page.get_by_role("region", name="Karlbergsskolan")
    section.get_by_role("button", name="Ta bort Hus Z").click()
    question = section.get_by_role("group", name="Ta bort Hus Z")
    expect(question).to_contain_text("Ta bort zonen Hus Z?")
    expect(question.get_by_role("button", name="Ja, ta bort")).to_be_focused()
    assert_accessible(page)
    question.get_by_role("button", name="Nej, tillbaka").click()
    expect(section.get_by_role("button", name="Ta bort Hus Z")).to_be_focused()
    with login(web, ADMIN.email, ADMIN.password) as http:
        zones = [z["id"] for z in http.get(f"/api/v1/sites/{karlberg}").json()["zones"]]
    assert zone["id"] in zones

    section.get_by_role("button", name="Ta bort Hus Z").click()
    section.get_by_role("button", name="Ja, ta bort").click()
    expect(page.get_by_text("Sparat.")).to_be_visible()
    expect(page.get_by_role("button", name="Ta bort Hus Z")).to_have_count(0)
    with login(web, ADMIN.email, ADMIN.password) as http:
        zones = [z["id"] for z in http.get(f"/api/v1/sites/{karlberg}").json()["zones"]]
    assert zone["id"] not in zones
