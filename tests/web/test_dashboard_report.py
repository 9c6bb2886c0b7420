"""The drill report on the dashboard: a security chief's drill, answered by real devices,
then its report with figures per site, per person, never reached, the server's chart and
the CSV export — and a print stylesheet that leaves only the report on paper."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.server.serving import Running
from tests.web.browsing import assert_accessible, screenshot
from tests.web.devices import connected, enroll, log_in, person

CHIEF = person("sakerhetschef")
SITE = "Nyckelbergsskolan"


def test_drill_report_has_figures_chart_csv_and_prints(
    page: Page, web: Running, tmp_path: Path
) -> None:
    """The chief runs an Övning at one site from the dashboard; one device answers, one
    staff member has no device; after "Faran över" the history's "Rapport" shows delivery,
    display and answer figures for the site, the person never reached, the chart as an image
    with a text alternative that loaded, a CSV link that downloads the report, and printing
    hides the navigation."""
    enrolled = enroll(web, site=SITE, email_locals=["personal1.nyckelberg"])
    with connected(web, enrolled) as (device,):
        log_in(page, CHIEF)
        trigger = page.get_by_role("form", name="Nytt larm")
        trigger.get_by_role("radio", name="Övning").check()
        trigger.get_by_role("checkbox", name=SITE).check()
        page.get_by_role("button", name="Larma").click()
        card = page.get_by_role("article").filter(has_text="ÖVNING")
        expect(card).to_be_visible(timeout=15_000)
        alert = device.receive_alert()
        alert_id = alert["alert"]["id"]
        assert alert["alert"]["mode"] == "drill"
        device.answer(alert_id, "safe", location="Idrottshallen")
        region = page.get_by_role("region", name="Upprop")
        expect(region.locator(".tile-safe .tile-number")).to_have_text("1")
        card.get_by_role("button", name="Faran över").click()
        page.get_by_role("button", name="Ja, faran över").click()
        expect(page.get_by_text("Inget pågående larm.")).to_be_visible()

    page.get_by_role("button", name="Historik").click()
    item = page.locator(".history-item").filter(has_text=f"#{alert_id}")
    item.get_by_role("button", name="Händelser").click()
    expect(item.locator(".event-list li")).to_have_count(2)
    expect(item.locator(".event-list")).to_contain_text("Larm utlöst")
    expect(item.locator(".event-list")).to_contain_text("Faran över")
    assert_accessible(page)
    item.get_by_role("button", name="Rapport").click()

    report = page.get_by_role("article", name=f"Rapport: larm {alert_id}")
    expect(report).to_be_visible()
    figures = report.get_by_role("table", name=SITE)
    expect(figures).to_be_visible()
    for measure in ("Leverans", "Visning", "Svar"):
        row = figures.get_by_role("row").filter(has=page.get_by_role("rowheader", name=measure))
        expect(row.get_by_role("cell").first).to_have_text("1")
    expect(report.locator(".never-reached")).to_contain_text("Oskar Wik")
    expect(report).to_contain_text("Elin Strand")
    expect(report).to_contain_text("Idrottshallen")
    chart = report.get_by_role("img")
    expect(chart).to_have_attribute(
        "alt", "Diagram: andel nådda enheter över tid efter larmet, 1 av 1 nådda."
    )
    page.wait_for_function("() => document.querySelector('.chart img').naturalWidth > 0")

    csv_link = report.get_by_role("link", name="Ladda ner CSV")
    with page.expect_download() as download:
        csv_link.click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "Elin Strand" in text and "Oskar Wik" in text

    assert_accessible(page)
    screenshot(page, "drill-report", tmp_path)
    page.emulate_media(media="print")
    expect(page.get_by_role("navigation")).to_be_hidden()
    expect(report.get_by_role("button", name="Skriv ut")).to_be_hidden()
    expect(figures).to_be_visible()
    page.emulate_media(media="screen")
    assert httpx.get(web.url + f"/api/v1/alerts/{alert_id}/reachability.csv").status_code == 401
