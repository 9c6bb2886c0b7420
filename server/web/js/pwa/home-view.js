// The calm screen between alerts: no alert, whether this device is reached (connected,
// notifications on), and the person's controls — "Aktivera aviseringar", "Larma" where the
// site lets staff trigger, and the silent mode.

import { t } from "../shared/i18n.js";
import { el, onPress } from "./dom.js";
import { PushState } from "./push.js";

function notifyCard({ pushState, pushMessage, onActivate }) {
  const card = el("div", { class: "card notify" });
  if (pushState === PushState.ACTIVE) {
    card.append(el("p", { class: "ok" }, t("notify.active")));
    return card;
  }
  const texts = {
    [PushState.UNSUPPORTED]: t("notify.unsupported"),
    [PushState.NO_KEY]: t("notify.no_key"),
    [PushState.DENIED]: t("notify.denied"),
    [PushState.FAILED]: t("notify.failed", { message: pushMessage ?? "" }),
    [PushState.OFF]: t("notify.explain"),
  };
  card.append(el("p", { class: pushState === PushState.OFF ? "" : "notice" }, texts[pushState] ?? t("notify.explain")));
  if (pushState !== PushState.UNSUPPORTED && pushState !== PushState.NO_KEY) {
    card.append(onPress(el("button", { type: "button", class: "big" }, t("notify.activate")), onActivate));
  }
  return card;
}

export function silentToggle({ silent, onSilent }) {
  const button = el("button", { type: "button", class: "silent-toggle", "aria-pressed": silent ? "true" : "false", "aria-describedby": "silent-explain" }, t("silent.label"));
  button.addEventListener("click", () => onSilent(!silent));
  return el("div", { class: "card silent-card" }, button, el("p", { id: "silent-explain", class: "muted" }, silent ? `${t("silent.on")}. ${t("silent.explain")}` : t("silent.explain")));
}

export function homeView(options) {
  const { device, siteName, connected, mayTrigger, notice, onTrigger } = options;
  const status = el("p", { class: connected ? "status ok" : "status", role: "status" }, t(connected ? "home.connected" : "home.connecting"));
  const section = el(
    "section",
    { class: "home", "aria-labelledby": "home-heading" },
    // Without a connection the app cannot know that nothing is going on: it does not say so.
    el("h1", { id: "home-heading", tabindex: "-1" }, t(connected ? "home.heading" : "home.unknown")),
    status,
    el("p", { class: "muted" }, t("home.device", { name: device.name }), siteName ? ` · ${siteName}` : ""),
    notice ? el("p", { class: "notice", role: "status" }, notice) : null,
    notifyCard(options),
  );
  if (mayTrigger) {
    section.append(
      el(
        "div",
        { class: "card trigger-card" },
        el("h2", {}, t("trigger.heading")),
        el("p", {}, t("trigger.explain")),
        onPress(el("button", { type: "button", class: "primary big trigger" }, t("trigger.button")), onTrigger),
      ),
    );
  }
  section.append(silentToggle(options));
  return section;
}
