"""The dashboard's other views in a real Chromium: device coverage, the audit log and its
verification, and administration — people with the CSV import's dry run, sites and zones,
devices, enrollment codes with their QR code, API keys — each labelled and passing axe-core;
and the language switch."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from websockets.exceptions import ConnectionClosed

from tests.server.serving import HTTP_TIMEOUT, Running
from tests.web.browsing import assert_accessible
from tests.web.devices import connected, enroll, log_in, login, person

ADMIN = person("admin")
CHIEF = person("sakerhetschef")

BAD_CSV = (
    "email,name,role,site\n"
    "ny.larare@kopings-kommun.example,Nils Ny,staff,Ullvigymnasiet\n"
    "trasig-adress,Utan Adress,staff,Ullvigymnasiet\n"
    "annan@kopings-kommun.example,Annan Person,rektor,Finns Inte Skolan\n"
)


def test_csv_import_dry_run_shows_errors_per_line_and_writes_nothing(
    page: Page, web: Running
) -> None:
    """An admin pastes a CSV with a good line and two bad ones and presses "Kontrollera":
    the errors are listed by line with their codes, and nobody was added — the import is all
    or nothing, also when "Importera" is pressed."""
    log_in(page, ADMIN)
    page.get_by_role("button", name="Personer").click()
    page.get_by_label("CSV-innehåll").fill(BAD_CSV)
    page.get_by_role("button", name="Kontrollera").click()
    errors = page.get_by_role("table", name="Fel per rad")
    expect(errors).to_be_visible()
    rows = errors.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).get_by_role("rowheader")).to_have_text("3")
    expect(rows.nth(1).get_by_role("rowheader")).to_have_text("4")
    expect(page.get_by_text("Inget har sparats.")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Importera").click()
    expect(page.get_by_role("table", name="Fel per rad")).to_be_visible()
    with login(web, ADMIN.email, ADMIN.password) as http:
        emails = [p["email"] for p in http.get("/api/v1/persons").json()]
    assert "ny.larare@kopings-kommun.example" not in emails


def test_enrollment_code_shows_its_qr_code_as_an_image(page: Page, web: Running) -> None:
    """ "Skapa kod" shows the code once and the server's QR code as an <img> (a blob: URL,
    never markup in the page) that loads, with the enrollment link as its text alternative."""
    log_in(page, ADMIN)
    page.get_by_role("button", name="Enheter och koder").click()
    form = page.locator("form.code-form")
    form.get_by_label("Skola").select_option(label="Karlbergsskolan")
    form.get_by_label("Zon").select_option(label="Lågstadiet")
    form.get_by_label("Etikett").fill("Lärarrummet")
    form.get_by_role("button", name="Skapa kod").click()
    qr = page.get_by_role("img", name="QR-kod som öppnar")
    expect(qr).to_be_visible()
    assert (qr.get_attribute("src") or "").startswith("blob:")
    page.wait_for_function("() => document.querySelector('img.qr').naturalWidth > 0")
    expect(page.get_by_text("Koden visas bara nu:")).to_be_visible()
    expect(page.get_by_role("table", name="Registreringskoder")).to_contain_text("Lärarrummet")
    assert page.locator("svg").count() == 0
    assert_accessible(page)


def test_device_rename_and_revoke(page: Page, web: Running) -> None:
    """An admin renames an enrolled device and revokes it after confirming; the server has
    the new name and the device's live connection is closed."""
    [(device_id, token)] = enroll(web, site="Ullvigymnasiet", email_locals=["personal2.ullvi"])
    with connected(web, [(device_id, token)]) as (device,):
        log_in(page, ADMIN)
        page.get_by_role("button", name="Enheter och koder").click()
        name = page.get_by_label("Nytt namn för Dator Fatima Hassan")
        name.fill("Fatimas dator, sal 12")
        row = page.get_by_role("row").filter(has=name)
        row.get_by_role("button", name="Spara").click()
        expect(page.get_by_label("Nytt namn för Fatimas dator, sal 12")).to_be_visible()
        assert_accessible(page)
        row = page.get_by_role("row").filter(
            has=page.get_by_label("Nytt namn för Fatimas dator, sal 12")
        )
        row.get_by_role("button", name="Återkalla").click()
        row.get_by_role("button", name="Återkalla").click()
        expect(page.get_by_role("row", name="Fatimas dator, sal 12")).to_contain_text("Återkallad")
        with login(web, ADMIN.email, ADMIN.password) as http:
            record = http.get(f"/api/v1/devices/{device_id}").json()
        assert record["name"] == "Fatimas dator, sal 12"
        assert record["revoked_at"] is not None
        with pytest.raises(ConnectionClosed):
            while True:
                device.ws.recv(timeout=HTTP_TIMEOUT)
        assert device.ws.close_code == 4002


def test_admin_views_are_accessible(page: Page, web: Running) -> None:
    """Personer, Skolor och zoner, API-nycklar and Granskningslogg each render their content
    and pass axe-core; a person is added as principal of a site, a zone and an API key are
    added, and the audit chain verifies."""
    log_in(page, ADMIN)
    page.get_by_role("button", name="Personer").click()
    expect(page.get_by_role("table", name="Personer")).to_contain_text("Maria Holm")
    added = page.get_by_role("form", name="Lägg till person")
    added.get_by_label("Namn").fill("Nora Nyström")
    added.get_by_label("E-post").fill("nora.nystrom@kopings-kommun.example")
    added.get_by_label("Roll").select_option(label="rektor")
    added.get_by_label("Skola").select_option(label="Karlbergsskolan")
    added.get_by_role("button", name="Lägg till person").click()
    expect(added.get_by_text("Nora Nyström lades till.")).to_be_visible()
    expect(page.get_by_role("table", name="Personer")).to_contain_text("rektor (Karlbergsskolan)")
    assert_accessible(page)

    page.get_by_role("button", name="Skolor och zoner").click()
    section = page.get_by_role("region", name="Ullvigymnasiet")
    section.get_by_label("Zonens namn").fill("Hus D")
    section.get_by_role("button", name="Lägg till").click()
    expect(
        page.get_by_role("region", name="Ullvigymnasiet").get_by_label("Nytt namn för Hus D")
    ).to_be_visible()
    assert_accessible(page)

    page.get_by_role("button", name="API-nycklar").click()
    page.get_by_label("Namn").fill("Panikknapp vaktmästeriet")
    page.get_by_role("button", name="Skapa nyckel").click()
    expect(page.get_by_text("Nyckeln visas bara nu: pdvk_")).to_be_visible()
    expect(page.get_by_role("table")).to_contain_text("Panikknapp vaktmästeriet")
    assert_accessible(page)

    page.get_by_role("button", name="Granskningslogg").click()
    expect(page.locator(".audit-view tbody tr").first).to_be_visible()
    page.get_by_role("button", name="Verifiera kedjan").click()
    expect(page.get_by_text("Kedjan är hel")).to_be_visible()
    assert_accessible(page)


def test_coverage_view_and_language_switch(page: Page, web: Running) -> None:
    """The security chief sees every site's reachable and unreachable counts with a connected
    device listed as "Ansluten"; "English" switches the whole page to English and "Svenska"
    back."""
    enrolled = enroll(web, site="Ullvigymnasiet", email_locals=["personal1.ullvi"])
    with connected(web, enrolled):
        log_in(page, CHIEF)
        page.get_by_role("button", name="Enheter").click()
        summary = page.get_by_role("table", name="Enheternas täckning")
        for site in ("Ullvigymnasiet", "Karlbergsskolan", "Nyckelbergsskolan"):
            expect(summary.get_by_role("rowheader", name=site)).to_be_visible()
        devices = page.get_by_role("table", name="Ullvigymnasiet")
        expect(devices.get_by_role("row", name="Dator Lars Nilsson")).to_contain_text("Ansluten")
        assert_accessible(page)
        page.get_by_role("button", name="English").click()
        expect(page.get_by_role("heading", name="Device coverage")).to_be_visible()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        assert page.evaluate("document.documentElement.lang") == "en"
        assert_accessible(page)
        page.get_by_role("button", name="Svenska").click()
        expect(page.get_by_role("button", name="Logga ut")).to_be_visible()
