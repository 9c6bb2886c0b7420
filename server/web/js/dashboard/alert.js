// One active alert as its leaders see it: kind colours, ÖVNING/TEST, the current order, and
// "Uppdatera order" (new kind and/or text), "Faran över" (resolve) and "Falsklarm" (cancel).
// Ending an alert reaches every device, so both ask once more in place before they go out.

import { patchJson, postJson } from "../shared/api.js";
import { localized, t } from "../shared/i18n.js";
import { checkedValue, clock, field, h, radioGroup } from "./dom.js";

const KINDS = ["pdv_lockdown", "evacuate", "secure", "custom"];

export function renderAlertCard(session, alert) {
  const card = h("article", { class: `alert-card`, "aria-labelledby": `alert-${alert.id}-title` });
  const status = h("p", { class: "status", role: "status" });
  const actions = h("div", { class: "actions" });
  const panel = h("div", { class: "action-panel" });

  const mayUpdate = alert.sites.some((id) => session.can("update", id));
  const mayResolve = alert.sites.some((id) => session.can("resolve", id));
  const mayCancel = alert.sites.some((id) => session.can("cancel", id));

  function header() {
    const label = alert.mode === "drill" ? t("drill.label") : alert.mode === "test" ? t("test.label") : null;
    return h(
      "div",
      { class: `alert-banner kind-${alert.kind}` },
      h(
        "h3",
        { id: `alert-${alert.id}-title` },
        label ? h("span", { class: "drill-label" }, label) : null,
        label ? " " : null,
        t(`kind.${alert.kind}`),
      ),
      h("p", { class: "order" }, h("span", { class: "visually-hidden" }, `${t("alert.order")}: `), localized(alert.order)),
      h(
        "p",
        { class: "meta" },
        t("alert.sites", { sites: alert.sites.map((id) => session.siteName(id)).join(", ") }),
        " · ",
        t("alert.started", { time: clock(alert.created_at) }),
      ),
    );
  }

  const top = header();
  if (mayUpdate) actions.append(h("button", { type: "button", class: "big", onclick: openUpdate }, t("alert.update")));
  if (mayResolve)
    actions.append(
      h("button", { type: "button", class: "big resolve", onclick: () => confirmEnd("resolve") }, t("alert.resolve")),
    );
  if (mayCancel)
    actions.append(
      h("button", { type: "button", class: "big cancel", onclick: () => confirmEnd("cancel") }, t("alert.cancel")),
    );
  const requests = h("div", { class: "requests" });
  card.append(top, requests, actions, panel, status);

  function openUpdate() {
    const text = h("textarea", { name: "update-order", rows: 3, maxlength: 500 });
    const form = h(
      "form",
      { class: "update", novalidate: true },
      radioGroup(t("alert.update_kind"), `update-kind-${alert.id}`, KINDS.map((k) => [k, t(`kind.${k}`)]), alert.kind),
      field(t("alert.update_text"), text),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit", class: "primary" }, t("alert.update_send")),
        h("button", { type: "button", onclick: close }, t("alert.close")),
      ),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const kind = checkedValue(form, `update-kind-${alert.id}`);
      const order = text.value.trim();
      const body = {};
      if (kind !== alert.kind) body.kind = kind;
      if (order) body.order = { sv: order, en: order };
      if (kind === "custom" && !order) {
        status.textContent = t("trigger.need_text");
        return text.focus();
      }
      await run(() => patchJson(`alerts/${alert.id}`, Object.keys(body).length ? body : { kind }));
    });
    panel.replaceChildren(form);
    form.querySelector("input:checked")?.focus();
  }

  function confirmEnd(what) {
    const yes = h(
      "button",
      { type: "button", class: `big ${what}`, onclick: () => run(() => postJson(`alerts/${alert.id}/${what}`)) },
      t(what === "resolve" ? "alert.confirm_yes_resolve" : "alert.confirm_yes_cancel"),
    );
    // Only the question's two answers while it is asked: "Ja, faran över" is then the one
    // button whose name says "Faran över", and a second press of the same place confirms.
    actions.hidden = true;
    panel.replaceChildren(
      h(
        "div",
        { class: "confirm", role: "group", "aria-labelledby": `confirm-${alert.id}` },
        h("p", { id: `confirm-${alert.id}`, class: "confirm-question" }, t(what === "resolve" ? "alert.confirm_resolve" : "alert.confirm_cancel")),
        yes,
        h("button", { type: "button", class: "big", onclick: close }, t("alert.confirm_no")),
      ),
    );
    yes.focus();
  }

  function close() {
    panel.replaceChildren();
    actions.hidden = false;
    actions.querySelector("button")?.focus();
  }

  async function run(call) {
    status.textContent = "";
    try {
      const event = await call();
      panel.replaceChildren();
      status.textContent = t("alert.done");
      if (event?.alert) session.learn(event.alert);
    } catch (error) {
      if (session.checkExpired(error)) return;
      status.textContent = t("alert.failed", { message: error.message });
    } finally {
      actions.hidden = false;
    }
  }

  /** Someone asked for a change that did not go out (docs/protocol.md §5
   * `escalation_requested`): the leaders must see what was asked, by whom, and decide. */
  card.request = (frame) => {
    const asked = frame.changes.escalation_requested;
    const what = [asked.kind ? t(`kind.${asked.kind}`) : null, asked.order ? localized(asked.order) : null]
      .filter(Boolean)
      .join(": ");
    requests.prepend(
      h(
        "p",
        { class: "request", role: "alert" },
        h("strong", {}, t("alert.requested", { time: clock(frame.at) })),
        " ",
        what || t("alert.requested_change"),
        " ",
        t("event.by", { actor: frame.actor }),
      ),
    );
  };

  /** A newer state of this alert (same id): repaint the banner, keep open forms. */
  card.refresh = (next) => {
    alert = next;
    card.replaceChild(header(), card.firstChild);
  };
  return card;
}
