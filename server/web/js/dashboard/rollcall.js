// The live roll call of one alert, in a region named "Upprop": totals, who needs help (first,
// with names, rooms and notes), per site and zone reached / not reached / safe / need help /
// not answered / not on site, and by name who is not reached and who has not answered.
// `rollcall` frames carry the counts (and the need-help names): they repaint at once. The
// other names travel over HTTP only (docs/protocol.md §5), so they are re-read from
// `GET /alerts/{id}/rollcall` — at most once per REREAD_MS, one request at a time, and once
// more after the last frame, so a burst of answers costs a few requests, not one per frame.

import { getJson } from "../shared/api.js";
import { t } from "../shared/i18n.js";
import { clock, h } from "./dom.js";

const REREAD_MS = 1000;
const MAX_NAMES = 200; // longer lists say how many more: a wall of 2,000 names helps nobody

const COLUMNS = [
  ["expected", "rollcall.expected"],
  ["reached", "rollcall.reached"],
  ["not_reached", "rollcall.not_reached"],
  ["need_help", "rollcall.need_help"],
  ["safe", "rollcall.safe"],
  ["not_answered", "rollcall.not_answered"],
  ["not_on_site", "rollcall.not_on_site"],
];

/** Not answered = reached but no answer (the frame counts answers, not their absence). */
function count(totals, key) {
  if (key === "not_answered") return Math.max(0, (totals.reached ?? 0) - (totals.answered ?? 0));
  return totals[key] ?? 0;
}

export function renderRollcall(session, alertId) {
  const section = h("section", { class: "rollcall", "aria-label": t("rollcall.heading") });
  const heading = h("h3", {}, t("rollcall.heading"));
  const updated = h("p", { class: "updated" });
  const tiles = h("ul", { class: "tiles" });
  const needHelp = h("div", { class: "need-help" });
  const perSite = h("div", { class: "per-site" });
  const names = h("div", { class: "names" });
  section.append(heading, updated, tiles, needHelp, perSite, names);
  tiles.append(h("li", {}, t("rollcall.loading")));

  let latest = null; // the newest counts (frame or HTTP answer), by `at`
  let timer = null;
  let inFlight = false;
  let again = false;
  let lastRead = 0;
  let disposed = false;
  let helpSeen = false; // once someone asked for help, the answer history is read too

  function paintCounts(rollcall) {
    if (latest && latest.at > rollcall.at) return;
    latest = rollcall;
    updated.textContent = t("rollcall.updated", { time: clock(rollcall.at) });
    tiles.replaceChildren(
      ...COLUMNS.map(([key, label]) =>
        h(
          "li",
          { class: `tile tile-${key}${count(rollcall.totals, key) > 0 ? " nonzero" : ""}` },
          h("span", { class: "tile-number" }, String(count(rollcall.totals, key))),
          h("span", { class: "tile-label" }, t(label)),
        ),
      ),
    );
    paintNeedHelp(rollcall.need_help ?? []);
    paintSites(rollcall.sites ?? {});
  }

  function paintNeedHelp(entries) {
    if (entries.length) helpSeen = true;
    const list = h("ul", { class: "people need-help-list" });
    for (const entry of entries) {
      const where = [session.siteName(entry.site_id), session.zoneName(entry.site_id, entry.zone_id)].filter(Boolean).join(", ");
      list.append(
        h(
          "li",
          {},
          h("strong", {}, entry.person ?? entry.device ?? "?"),
          where ? ` — ${where}` : "",
          entry.location ? h("span", { class: "detail" }, t("rollcall.room", { location: entry.location })) : null,
          entry.note ? h("span", { class: "detail" }, t("rollcall.note", { note: entry.note })) : null,
          entry.device ? h("span", { class: "detail muted" }, t("rollcall.device", { device: entry.device }), entry.at ? ` · ${clock(entry.at)}` : "") : null,
        ),
      );
    }
    needHelp.replaceChildren(
      h("h4", {}, t("rollcall.need_help_heading"), ` (${entries.length})`),
      entries.length ? list : h("p", { class: "muted" }, t("rollcall.need_help_none")),
    );
  }

  function paintSites(sites) {
    const blocks = [];
    for (const [siteId, site] of Object.entries(sites)) {
      const rows = [];
      const zones = Object.entries(site.zones ?? {}).sort(([a], [b]) => (a === "none" ? 1 : b === "none" ? -1 : 0));
      for (const [zoneId, zone] of zones) {
        rows.push([zone.name ?? session.zoneName(siteId, zoneId) ?? t("rollcall.no_zone"), ...COLUMNS.map(([key]) => String(count(zone.totals, key)))]);
      }
      rows.push([h("strong", {}, site.name ?? session.siteName(Number(siteId))), ...COLUMNS.map(([key]) => h("strong", {}, String(count(site.totals, key))))]);
      blocks.push(
        h(
          "table",
          { class: "grid numbers" },
          h("caption", {}, site.name ?? session.siteName(Number(siteId))),
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("rollcall.zone")), COLUMNS.map(([, label]) => h("th", { scope: "col" }, t(label))))),
          h(
            "tbody",
            {},
            rows.map((cells, index) =>
              h("tr", { class: index === rows.length - 1 ? "sum" : null }, h("th", { scope: "row" }, cells[0]), cells.slice(1).map((cell) => h("td", {}, cell))),
            ),
          ),
        ),
      );
    }
    perSite.replaceChildren(...blocks);
  }

  function paintNames(rollcall, answers) {
    const lists = [
      nameList(t("rollcall.not_reached_heading"), rollcall.not_reached ?? [], true),
      nameList(t("rollcall.not_answered_heading"), rollcall.not_answered ?? [], false),
      answers ? earlierHelp(rollcall, answers) : null,
    ];
    names.replaceChildren(...lists.filter(Boolean)); // a null child would read "null"
  }

  /** Who asked for help and has answered otherwise since: "need help, then safe" must not
   * vanish from the leaders' view (GET /alerts/{id}/answers keeps every answer). */
  function earlierHelp(rollcall, answers) {
    const now = new Set((rollcall.need_help ?? []).map((entry) => entry.person_id ?? `d${entry.device_id}`));
    const latest = new Map();
    const asked = new Map();
    for (const answer of answers) {
      const key = answer.person_id ?? `d${answer.device_id}`;
      latest.set(key, answer);
      if (answer.response === "need_help") asked.set(key, answer);
    }
    const entries = [...asked.entries()].filter(([key]) => !now.has(key));
    if (!entries.length) return null;
    const list = h("ul", { class: "people" });
    for (const [key, help] of entries.slice(0, MAX_NAMES)) {
      const last = latest.get(key);
      list.append(
        h(
          "li",
          {},
          h("strong", {}, help.person ?? help.device ?? "?"),
          ` — ${t("rollcall.asked_at", { time: clock(help.at) })}`,
          help.location ? ` · ${help.location}` : "",
          help.note ? ` · ${help.note}` : "",
          ` → ${t(`response.${last.response}`)} ${clock(last.at)}`,
        ),
      );
    }
    return h("div", { class: "name-list" }, h("h4", {}, t("rollcall.earlier_help"), ` (${entries.length})`), list);
  }

  function nameList(title, entries, withReason) {
    const list = h("ul", { class: "people" });
    for (const entry of entries.slice(0, MAX_NAMES)) {
      const sites = (entry.site_ids ?? []).map((id) => session.siteName(id)).join(", ");
      const reason = withReason && entry.reason ? t(`rollcall.${entry.reason}`) : "";
      list.append(h("li", {}, entry.name ?? entry.devices?.[0]?.name ?? "?", sites ? ` — ${sites}` : "", reason ? ` (${reason})` : ""));
    }
    if (entries.length > MAX_NAMES) list.append(h("li", { class: "muted" }, `… +${entries.length - MAX_NAMES}`));
    return h("div", { class: "name-list" }, h("h4", {}, title, ` (${entries.length})`), entries.length ? list : h("p", { class: "muted" }, t("rollcall.nobody")));
  }

  async function reread() {
    if (disposed) return;
    if (inFlight) {
      again = true;
      return;
    }
    const wait = lastRead + REREAD_MS - Date.now();
    if (wait > 0) {
      if (!timer) timer = setTimeout(() => { timer = null; reread(); }, wait);
      return;
    }
    inFlight = true;
    again = false;
    lastRead = Date.now();
    try {
      const [rollcall, history] = await Promise.all([
        getJson(`alerts/${alertId}/rollcall`),
        helpSeen ? getJson(`alerts/${alertId}/answers`) : null,
      ]);
      if (disposed) return;
      paintCounts(rollcall);
      paintNames(rollcall, history?.answers);
    } catch (error) {
      session.checkExpired(error);
    } finally {
      inFlight = false;
      if (again) reread();
    }
  }

  const known = session.rollcalls.get(alertId);
  if (known) paintCounts(known);
  session.on("rollcall", (frame) => {
    if (frame.alert_id !== alertId) return;
    paintCounts(frame);
    reread();
  });
  session.onDispose(() => {
    disposed = true;
    clearTimeout(timer);
  });
  section.dispose = () => {
    disposed = true;
    clearTimeout(timer);
  };
  reread();
  return section;
}
