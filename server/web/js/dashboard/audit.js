// The audit log (VIEW_AUDIT): entries newest first, paged by `next_before_seq`, and
// "Verifiera kedjan" — the server checks every entry's keyed hash and link. Actors are shown
// by name where this person may read them (actors.js).

import { getJson } from "../shared/api.js";
import { t } from "../shared/i18n.js";
import { ActorNames } from "./actors.js";
import { clock, h } from "./dom.js";

export function renderAuditView(session) {
  const status = h("p", { class: "status", role: "status" });
  const verdict = h("p", { class: "verdict", role: "status" });
  const body = h("tbody");
  const more = h("button", { type: "button", hidden: true }, t("audit.more"));
  let before = null;
  const actors = new ActorNames(session);

  function fail(error) {
    if (!session.checkExpired(error)) status.textContent = t("common.failed", { message: error.message });
  }

  async function load() {
    try {
      const [page] = await Promise.all([getJson(before ? `audit?before_seq=${before}` : "audit"), actors.load()]);
      for (const entry of page.entries) {
        body.append(
          h(
            "tr",
            {},
            h("th", { scope: "row" }, String(entry.seq)),
            h("td", {}, h("time", { datetime: entry.at }, clock(entry.at))),
            h("td", {}, entry.action),
            h("td", {}, actors.name(entry.actor)),
            h("td", {}, entry.target ? actors.name(entry.target) : ""),
          ),
        );
      }
      before = page.next_before_seq;
      more.hidden = !before;
    } catch (error) {
      fail(error);
    }
  }

  async function verify() {
    verdict.textContent = "";
    verdict.className = "verdict";
    try {
      const answer = await getJson("audit/verify");
      verdict.textContent = answer.ok
        ? t("audit.ok", { count: answer.entries })
        : t("audit.broken", { detail: answer.problems.map((p) => `#${p.seq}: ${p.problem}`).join("; ") });
      verdict.classList.add(answer.ok ? "ok" : "error");
    } catch (error) {
      fail(error);
    }
  }

  more.addEventListener("click", load);
  load();
  return h(
    "div",
    { class: "audit-view" },
    h("h1", {}, t("audit.heading")),
    status,
    h("button", { type: "button", onclick: verify }, t("audit.verify")),
    verdict,
    h(
      "table",
      { class: "grid" },
      h("caption", { class: "visually-hidden" }, t("audit.heading")),
      h("thead", {}, h("tr", {}, ["#", t("audit.time"), t("audit.action"), t("audit.actor"), t("audit.target")].map((text) => h("th", { scope: "col" }, text)))),
      body,
    ),
    more,
  );
}
