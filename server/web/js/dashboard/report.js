// The drill report (issue 10 item 3) for a drill or test, and the after-action review of an
// actual alert once it has ended: `GET /alerts/{id}/reachability` — per site p50/p95/max of
// the time to delivery, display and answer, who was never reached, per person and per
// device — the server-rendered chart (`reachability.svg`, an <img> with a text alternative)
// and the CSV export. "Skriv ut" prints it; dashboard.css's @media print leaves only the
// report on paper.

import { API, getJson } from "../shared/api.js";
import { language, localized, t } from "../shared/i18n.js";
import { clock, h, seconds, table } from "./dom.js";

const MEASURES = [
  ["delivery", "report.delivery"],
  ["display", "report.display"],
  ["answer", "report.answer"],
];

export function renderReportView(session, { show, arg: alertId }) {
  const view = h("article", { class: "report-view", "aria-labelledby": "report-title" });
  const status = h("p", { class: "status", role: "status" }, t("app.loading"));
  view.append(
    h(
      "div",
      { class: "actions no-print" },
      h("button", { type: "button", onclick: () => show("history") }, t("report.back")),
      h("button", { type: "button", onclick: () => window.print() }, t("report.print")),
      h("a", { class: "button", href: `${API}/alerts/${alertId}/reachability.csv`, download: "" }, t("report.csv")),
    ),
    h("h1", { id: "report-title" }, t("report.heading", { id: alertId })),
    status,
  );
  load();
  return view;

  async function load() {
    let alert;
    let report;
    try {
      [alert, report] = await Promise.all([getJson(`alerts/${alertId}`), getJson(`alerts/${alertId}/reachability`)]);
    } catch (error) {
      if (session.checkExpired(error)) return;
      status.textContent = error.code === "alert.still_active" ? t("report.not_available") : t("common.failed", { message: error.message });
      status.classList.add("error");
      return;
    }
    status.remove();
    const lang = language();
    const totals = report.totals;
    const label = alert.mode === "actual" ? null : h("span", { class: "drill-label" }, t(alert.mode === "drill" ? "drill.label" : "test.label"));
    view.append(
      h(
        "p",
        { class: "meta" },
        label,
        label ? " " : null,
        `${t(`kind.${alert.kind}`)} · ${t(`mode.${alert.mode}`)} · ${t(`state.${alert.state}`)} · ${clock(alert.created_at)}`,
      ),
      h("p", {}, localized(alert.order)),
      h("p", { class: "summary" }, t("report.summary", totals)),
      h(
        "figure",
        { class: "chart" },
        h("img", {
          src: `${API}/alerts/${alertId}/reachability.svg?language=${lang}`,
          alt: t("report.chart_alt", totals),
          width: 720,
          height: 360,
        }),
      ),
      h("h2", {}, t("report.figures")),
      ...Object.entries(report.sites).map(([, site]) =>
        table(
          site.name,
          [t("report.measure"), t("report.count"), "p50", "p95", "max"],
          MEASURES.map(([key, labelKey]) => {
            const figures = site[key] ?? {};
            return [t(labelKey), String(figures.count ?? 0), seconds(figures.p50_ms, lang), seconds(figures.p95_ms, lang), seconds(figures.max_ms, lang)];
          }),
          { className: "grid numbers" },
        ),
      ),
      h("h2", {}, t("report.never_reached"), ` (${report.never_reached.length})`),
      report.never_reached.length
        ? h("ul", { class: "people never-reached" }, report.never_reached.map((person) => h("li", {}, `${person.name} — ${person.site ?? session.siteName(person.site_id)}`)))
        : h("p", { class: "muted" }, t("rollcall.nobody")),
      h("h2", {}, t("report.persons")),
      table(
        null,
        [t("report.person"), t("report.site"), t("report.reached"), t("report.first_delivered"), t("report.answered"), t("report.response")],
        report.persons.map((person) => [
          person.name,
          session.siteName(person.site_id),
          person.reached ? t("report.yes") : t("report.no"),
          seconds(person.first_delivered_ms, lang),
          seconds(person.answered_ms, lang),
          [person.response ? t(`response.${person.response}`) : "–", person.location ? ` · ${person.location}` : "", person.note ? ` · ${person.note}` : ""].join(""),
        ]),
      ),
      h("h2", {}, t("report.devices")),
      table(
        null,
        [t("report.device"), t("report.person"), t("report.site"), t("report.delivered"), t("report.displayed"), t("report.answered"), t("report.response")],
        Object.values(report.sites).flatMap((site) =>
          site.devices.map((device) => [
            device.name,
            device.person?.name ?? "–",
            site.name,
            seconds(device.delivered_ms, lang),
            seconds(device.displayed_ms, lang),
            seconds(device.answered_ms, lang),
            device.response ? t(`response.${device.response}`) : "–",
          ]),
        ),
      ),
    );
  }
}
