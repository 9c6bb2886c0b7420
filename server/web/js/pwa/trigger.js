// Raising the alarm from the PWA, for those whose site lets staff trigger (the device acts
// as staff of its site; the server decides). "Larma" starts the server's countdown
// (/api/v1/config `trigger_countdown_seconds`, default 3 s) with "Avbryt"; at zero the
// trigger goes out once (an Idempotency-Key guards a retry): inrymning at the device's site.

import { idempotencyKey, postJson } from "../shared/api.js";
import { t } from "../shared/i18n.js";
import { el } from "./dom.js";

export const TRIGGER_KIND = "pdv_lockdown";

/** POST the trigger with the device token: {created, alert} or throws ApiError. */
export async function sendTrigger(token, key = idempotencyKey()) {
  return postJson("alerts", { kind: TRIGGER_KIND, mode: "actual" }, { token, headers: { "Idempotency-Key": key } });
}

/** The countdown screen; calls `onDone()` at zero, `onCancel()` on Avbryt. Returns
 * {view, stop}. */
export function countdownView(seconds, { onDone, onCancel }) {
  let left = Math.max(0, Math.round(seconds));
  const number = el("p", { class: "countdown-number", "aria-hidden": "true" }, String(left));
  const text = el("p", { id: "countdown-text", class: "countdown-text" }, t("trigger.countdown", { seconds: left }));
  const cancel = el("button", { type: "button", class: "big cancel" }, t("trigger.cancel"));
  const view = el(
    "section",
    { class: "countdown", role: "alertdialog", "aria-labelledby": "countdown-text", "aria-describedby": "countdown-help" },
    number,
    text,
    el("p", { id: "countdown-help" }, t("trigger.countdown.help")),
    cancel,
  );
  let timer = null;
  const stop = () => clearInterval(timer);
  cancel.addEventListener("click", () => {
    stop();
    onCancel();
  });
  const tick = () => {
    left -= 1;
    number.textContent = String(left);
    text.textContent = t("trigger.countdown", { seconds: left });
    if (left <= 0) {
      stop();
      onDone();
    }
  };
  if (left <= 0) queueMicrotask(() => onDone());
  else timer = setInterval(tick, 1000);
  return { view, stop, focus: () => cancel.focus() };
}
