// The alert view: the active alerts first (each with its actions and live roll call), then
// the trigger form. Alerts come and go in place as frames arrive — the trigger form and any
// half-typed update keep their content and focus.

import { t } from "../shared/i18n.js";
import { renderAlertCard } from "./alert.js";
import { h } from "./dom.js";
import { renderRollcall } from "./rollcall.js";
import { renderTrigger } from "./trigger.js";

export function renderAlertsView(session) {
  const list = h("div", { class: "alert-list" });
  const none = h("p", { class: "none" }, t("alert.none"));
  const ended = h("p", { class: "status", role: "status" });
  const cards = new Map(); // alert id → {card, rollcall}

  function sync() {
    const active = session.activeAlerts();
    const ids = new Set(active.map((alert) => alert.id));
    for (const [id, entry] of cards) {
      if (ids.has(id)) continue;
      entry.rollcall?.dispose();
      entry.wrapper.remove();
      cards.delete(id);
    }
    for (const alert of [...active].reverse()) {
      const known = cards.get(alert.id);
      if (known) {
        known.card.refresh(alert);
        continue;
      }
      const card = renderAlertCard(session, alert);
      const rollcall = alert.sites.some((id) => session.can("view_rollcall", id)) ? renderRollcall(session, alert.id) : null;
      const wrapper = h("div", { class: "alert-entry" }, card, rollcall);
      cards.set(alert.id, { card, rollcall, wrapper });
      list.prepend(wrapper); // newest first; moving the others would lose their focus
    }
    none.hidden = active.length > 0;
  }

  session.on("alerts", ({ frame }) => {
    if (frame && (frame.event === "resolved" || frame.event === "cancelled")) {
      ended.textContent = `${t(`event.${frame.event}`)}: ${t(`kind.${frame.alert.kind}`)} (${frame.alert.sites.map((id) => session.siteName(id)).join(", ")})`;
    }
    sync();
    if (frame?.changes?.escalation_requested) cards.get(frame.alert.id)?.card.request(frame);
  });
  sync();
  return h(
    "div",
    { class: "alerts-view" },
    h("h1", {}, t("alert.heading")),
    none,
    ended,
    list,
    renderTrigger(session),
  );
}
