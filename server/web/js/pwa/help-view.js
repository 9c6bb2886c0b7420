// How to install the app and allow its notifications, for iPhone and iPad (Web Push works
// there only for a web app added to the home screen, iOS/iPadOS 16.4 or later) and briefly
// for Android and Chromebooks. The same steps are in README.md ("Mobilappen (PWA)").

import { t } from "../shared/i18n.js";
import { el } from "./dom.js";

export function helpView({ onBack }) {
  const back = el("button", { type: "button" }, t("nav.back"));
  back.addEventListener("click", onBack);
  const steps = ["help.step1", "help.step2", "help.step3", "help.step4", "help.step5", "help.step6"];
  return el(
    "section",
    { class: "help card", "aria-labelledby": "help-heading" },
    el("h1", { id: "help-heading", tabindex: "-1" }, t("help.heading")),
    el("p", { class: "requirement" }, t("help.requirement")),
    el("ol", { class: "steps" }, steps.map((key) => el("li", {}, t(key)))),
    el("h2", {}, t("help.android.heading")),
    el("p", {}, t("help.android")),
    el("h2", {}, t("help.limits.heading")),
    el("p", {}, t("help.limits")),
    back,
  );
}
