// Alert history (`GET /api/v1/alerts`, newest first, paged by `before_id`): each alert with
// its kind, mode, state and time; "Händelser" unfolds its events (`GET
// /alerts/{id}/events`, oldest first) and "Rapport" opens the drill report (drills and tests,
// and actual alerts once they have ended). Who acted is shown by name where this person may
// read it (actors.js), else as the event's reference.

import { getJson } from "../shared/api.js";
import { localized, t } from "../shared/i18n.js";
import { ActorNames } from "./actors.js";
import { clock, h, uid } from "./dom.js";

const PAGE = 30;

export function renderHistoryView(session, { show }) {
  const list = h("ol", { class: "history" });
  const status = h("p", { class: "status", role: "status" });
  const more = h("button", { type: "button", hidden: true }, t("history.more"));
  let oldest = null;
  const actors = new ActorNames(session);

  async function load() {
    try {
      const page = await getJson(`alerts?state=all&limit=${PAGE}${oldest ? `&before_id=${oldest}` : ""}`);
      const alerts = page.alerts ?? [];
      if (!oldest && alerts.length === 0) status.textContent = t("history.none");
      for (const alert of alerts) list.append(item(alert));
      if (alerts.length) oldest = alerts[alerts.length - 1].id;
      more.hidden = alerts.length < PAGE;
    } catch (error) {
      if (!session.checkExpired(error)) status.textContent = t("common.failed", { message: error.message });
    }
  }

  function item(alert) {
    const eventsId = uid("events");
    const events = h("div", { id: eventsId, class: "events", hidden: true });
    const toggle = h("button", { type: "button", "aria-expanded": "false", "aria-controls": eventsId }, t("history.events"));
    toggle.addEventListener("click", async () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      events.hidden = !open;
      if (open && !events.dataset.loaded) {
        events.replaceChildren(h("p", {}, t("history.loading")));
        try {
          const [answer] = await Promise.all([getJson(`alerts/${alert.id}/events`), actors.loadAlert(alert)]);
          events.dataset.loaded = "1";
          events.replaceChildren(
            h(
              "ol",
              { class: "event-list" },
              answer.events.map((event) =>
                h(
                  "li",
                  {},
                  h("time", { datetime: event.at }, clock(event.at)),
                  " ",
                  h("strong", {}, t(`event.${event.event}`)),
                  " ",
                  t("event.by", { actor: actors.name(event.actor) }),
                  event.event === "triggered" || event.event === "updated"
                    ? h("span", { class: "detail" }, `${t(`kind.${event.alert.kind}`)}: ${localized(event.alert.order)}`)
                    : null,
                ),
              ),
            ),
          );
        } catch (error) {
          if (!session.checkExpired(error)) events.replaceChildren(h("p", { class: "error" }, t("common.failed", { message: error.message })));
        }
      }
    });
    const ended = alert.state !== "active";
    const reportable = alert.mode !== "actual" || ended;
    const label = alert.mode === "actual" ? null : h("span", { class: "drill-label" }, t(alert.mode === "drill" ? "drill.label" : "test.label"));
    return h(
      "li",
      { class: "history-item" },
      h(
        "h2",
        {},
        h("span", { class: `kind-dot kind-${alert.kind}`, "aria-hidden": "true" }),
        label,
        label ? " " : null,
        `${t(`kind.${alert.kind}`)} — ${alert.sites.map((id) => session.siteName(id)).join(", ")}`,
      ),
      h(
        "p",
        { class: "meta" },
        h("time", { datetime: alert.created_at }, clock(alert.created_at)),
        ` · ${t(`state.${alert.state}`)} · #${alert.id}`,
      ),
      h("p", {}, localized(alert.order)),
      h(
        "div",
        { class: "actions" },
        toggle,
        reportable ? h("button", { type: "button", onclick: () => show("report", alert.id) }, t("history.report")) : null,
      ),
      events,
    );
  }

  more.addEventListener("click", load);
  load();
  return h("div", { class: "history-view" }, h("h1", {}, t("history.heading")), status, list, more);
}
