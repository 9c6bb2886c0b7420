// The alert screen: the whole screen in the kind's colours (css/base.css), the kind's word,
// the ONE current order and the instructions big, ÖVNING for a drill, and the three answers
// with an optional room and note. An ended alert turns into "Faran över" (green) or
// "Falsklarm" (slate) with a close button. Silent mode darkens it all (css/pwa.css).

import { localized, t } from "../shared/i18n.js";
import { el, onPress } from "./dom.js";

const RESPONSES = ["safe", "need_help", "not_on_site"];

function drillBand() {
  return el("div", { class: "drill-band" }, el("span", { class: "drill-label" }, t("drill")), el("span", { class: "drill-note" }, t("drill.note")));
}

function sitesLine(alert, siteName) {
  if (!siteName) return null;
  const more = alert.sites.length - 1;
  return el("p", { class: "alert-sites" }, more > 0 ? `${siteName} +${more}` : siteName);
}

/** The ended alert: Faran över / Falsklarm, the order it ended, and Stäng. */
function endedView(alert, { siteName, onClose, silent }) {
  const resolved = alert.state === "resolved";
  const close = onPress(el("button", { type: "button", class: "big close" }, t("end.close")), onClose);
  return el(
    "section",
    {
      class: `alert-view ended ${resolved ? "state-resolved" : "state-cancelled"}${silent ? " silent" : ""}`,
      "aria-labelledby": "alert-end",
    },
    alert.mode === "drill" ? drillBand() : null,
    el("h1", { id: "alert-end", class: "alert-end", tabindex: "-1" }, t(resolved ? "end.resolved" : "end.cancelled")),
    el("p", { class: "alert-end-body" }, t(resolved ? "end.resolved.body" : "end.cancelled.body")),
    sitesLine(alert, siteName),
    el("p", { class: "alert-previous" }, localized(alert.order)),
    close,
  );
}

function answerForm(alert, { answer, answerStatus, onAnswer }) {
  const location = el("input", { id: "answer-location", name: "location", type: "text", maxlength: 200, autocomplete: "off", value: answer?.location ?? "" });
  const note = el("textarea", { id: "answer-note", name: "note", rows: 2, maxlength: 500 });
  note.value = answer?.note ?? "";
  const status = el("p", { class: "answer-status", role: "status" });
  if (answer) {
    status.append(el("strong", {}, t(`answered.${answer.response}`)), " ", t(answerStatus === "queued" ? "answer.queued" : "answer.change"));
  }
  const buttons = RESPONSES.map((response) => {
    const button = el(
      "button",
      { type: "button", class: `answer answer-${response}`, "aria-pressed": answer?.response === response ? "true" : "false" },
      t(`answer.${response}`),
    );
    return onPress(button, () => onAnswer(alert.id, response, { note: note.value, location: location.value }));
  });
  return el(
    "form",
    { class: "answers", "aria-labelledby": "answer-heading" },
    el("h2", { id: "answer-heading" }, t("answer.heading")),
    status,
    el("div", { class: "answer-buttons" }, buttons),
    el(
      "div",
      { class: "answer-details" },
      el("label", { for: "answer-location" }, t("answer.location")),
      location,
      el("label", { for: "answer-note" }, t("answer.note")),
      note,
    ),
  );
}

/** The active alert with its answers. */
export function alertView(showing, options) {
  const { alert, ended, others } = showing;
  if (ended) return endedView(alert, options);
  const { siteName, silent } = options;
  return el(
    "section",
    { class: `alert-view kind-${alert.kind}${silent ? " silent" : ""}`, "aria-labelledby": "alert-order" },
    alert.mode === "drill" ? drillBand() : null,
    el("p", { class: "alert-kind" }, t(`kind.${alert.kind}`)),
    el("h1", { id: "alert-order", class: "alert-order", tabindex: "-1" }, localized(alert.order)),
    sitesLine(alert, siteName),
    localized(alert.instructions)
      ? el("div", { class: "alert-instructions" }, el("h2", {}, t("alert.instructions")), el("p", {}, localized(alert.instructions)))
      : null,
    others > 0 ? el("p", { class: "alert-more" }, t("alert.more", { count: others + 1 })) : null,
    answerForm(alert, options),
  );
}
