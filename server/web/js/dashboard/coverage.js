// Device coverage (`GET /api/v1/presence`): per site how many devices are reachable now and
// how many are not, then every device — unreachable first, since those are the ones a
// leader must act on — with its kind, zone, status and when it was last seen. `presence`
// frames repaint a site's counts at once; the device lists are re-read at most every
// REREAD_MS.

import { getJson } from "../shared/api.js";
import { t } from "../shared/i18n.js";
import { clock, h } from "./dom.js";

const REREAD_MS = 2000;

export function renderCoverageView(session) {
  const summary = h("div", { class: "coverage-summary" });
  const details = h("div", { class: "coverage-details" });
  const status = h("p", { class: "status", role: "status" });
  let data = null;
  let timer = null;
  let lastRead = 0;

  function paint() {
    if (!data) return;
    const rows = data.sites.map((site) => {
      const live = session.presence.get(site.site_id);
      const reachable = live?.reachable ?? site.reachable;
      const unreachable = live?.unreachable ?? site.unreachable;
      return [site.name, h("span", { class: "good" }, String(reachable)), h("span", { class: unreachable ? "bad" : "" }, String(unreachable))];
    });
    summary.replaceChildren(
      h(
        "table",
        { class: "grid numbers" },
        h("caption", {}, t("coverage.heading")),
        h("thead", {}, h("tr", {}, [t("coverage.site"), t("coverage.reachable"), t("coverage.unreachable")].map((text) => h("th", { scope: "col" }, text)))),
        h("tbody", {}, rows.map(([name, ...cells]) => h("tr", {}, h("th", { scope: "row" }, name), cells.map((cell) => h("td", {}, cell))))),
      ),
    );
    details.replaceChildren(...data.sites.map(siteDevices));
  }

  function siteDevices(site) {
    const devices = [...site.devices].sort((a, b) => Number(a.reachable) - Number(b.reachable) || a.name.localeCompare(b.name));
    return h(
      "table",
      { class: "grid" },
      h("caption", {}, site.name),
      h("thead", {}, h("tr", {}, ["coverage.device", "coverage.kind", "coverage.zone", "coverage.status", "coverage.last_seen"].map((key) => h("th", { scope: "col" }, t(key))))),
      h(
        "tbody",
        {},
        devices.map((device) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, device.name),
            h("td", {}, device.kind),
            h("td", {}, session.zoneName(site.site_id, device.zone_id) ?? "–"),
            h(
              "td",
              { class: device.reachable ? "good" : "bad" },
              device.connected ? t("coverage.connected") : device.reachable ? t("coverage.push") : t("coverage.offline"),
            ),
            h("td", {}, device.last_seen_at ? clock(device.last_seen_at) : t("coverage.never")),
          ),
        ),
      ),
    );
  }

  async function load() {
    lastRead = Date.now();
    try {
      data = await getJson("presence");
      // the HTTP answer is newer than any frame seen before it
      for (const site of data.sites) session.presence.delete(site.site_id);
      paint();
    } catch (error) {
      if (!session.checkExpired(error)) status.textContent = t("common.failed", { message: error.message });
    }
  }

  session.on("presence", () => {
    paint();
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      load();
    }, Math.max(0, lastRead + REREAD_MS - Date.now()));
  });
  session.onDispose(() => clearTimeout(timer));
  load();
  return h("div", { class: "coverage-view" }, h("h1", {}, t("coverage.heading")), status, summary, details);
}
