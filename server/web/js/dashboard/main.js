// The leaders' dashboard (issue 10): log in, learn who I am and what I may do where
// (`GET /api/v1/me`), then one page with views — the alert view (trigger, active alerts with
// their live roll call), device coverage, history with drill reports, and administration —
// shown by what the person's permissions allow. One live connection (session cookie: empty
// token) feeds every view; the views update their own parts in place so focus and scroll
// stay put while frames arrive.

import { ApiError, getJson, postJson } from "../shared/api.js";
import { language, onLanguage, switchLabel, t, toggleLanguage } from "../shared/i18n.js";
import { Health, LiveConnection } from "../shared/live.js";
import { renderLogin } from "../shared/login.js";
import { renderAlertsView } from "./alerts.js";
import { renderAuditView } from "./audit.js";
import { renderCoverageView } from "./coverage.js";
import { renderDevicesView } from "./devices.js";
import { h } from "./dom.js";
import { renderHistoryView } from "./history.js";
import { renderKeysView } from "./keys.js";
import { renderPeopleView } from "./people.js";
import { renderReportView } from "./report.js";
import { renderSitesView } from "./sites.js";
import { Session } from "./session.js";
import { renderTemplatesView } from "./templates.js";
import "./texts.js";

const app = document.getElementById("app");

/** The views in the navigation: id, text key, renderer, and who sees it. */
const VIEWS = [
  { id: "alerts", label: "view.alerts", render: renderAlertsView, visible: (s) => s.leads() },
  { id: "coverage", label: "view.coverage", render: renderCoverageView, visible: (s) => s.canAnywhere("view_rollcall") || s.canAnywhere("manage_devices") },
  { id: "history", label: "view.history", render: renderHistoryView, visible: (s) => s.leads() },
  { id: "people", label: "view.people", render: renderPeopleView, visible: (s) => s.canOrg("manage_people") },
  { id: "sites", label: "view.sites", render: renderSitesView, visible: (s) => s.canAnywhere("manage_sites") },
  { id: "templates", label: "view.templates", render: renderTemplatesView, visible: (s) => s.canOrg("manage_settings") },
  { id: "devices", label: "view.devices", render: renderDevicesView, visible: (s) => s.canAnywhere("manage_devices") },
  { id: "keys", label: "view.keys", render: renderKeysView, visible: (s) => s.canAnywhere("manage_devices") },
  { id: "audit", label: "view.audit", render: renderAuditView, visible: (s) => s.canAnywhere("view_audit") },
];
const HIDDEN_VIEWS = { report: renderReportView };

let session = null;
let current = { id: "alerts", arg: null };
let banner = null;

async function boot() {
  document.title = t("app.title");
  app.replaceChildren(h("p", { class: "loading" }, t("app.loading")));
  // Ask who I am only when this browser logged in before: a 401 would be a console error
  // and a pointless request on every fresh start (the session cookie is HttpOnly).
  if (!loggedInBefore()) return showLogin();
  let me;
  try {
    me = await getJson("me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return showLogin();
    app.replaceChildren(h("p", { class: "error", role: "alert" }, t("common.failed", { message: error.message })));
    return;
  }
  await start(me);
}

const LOGGED_IN_KEY = "pdv-alert.dashboard.logged-in";

function loggedInBefore() {
  try {
    return localStorage.getItem(LOGGED_IN_KEY) === "1";
  } catch {
    return true; // no storage: ask the server
  }
}

function rememberLogin(yes) {
  try {
    if (yes) localStorage.setItem(LOGGED_IN_KEY, "1");
    else localStorage.removeItem(LOGGED_IN_KEY);
  } catch {
    // private mode: ask the server next time
  }
}

function showLogin(message = "") {
  rememberLogin(false);
  const box = h("main", { class: "login-page" }, languageButton());
  if (message) box.append(h("p", { class: "error", role: "alert" }, message));
  const holder = h("div");
  box.append(holder);
  app.replaceChildren(box);
  renderLogin(holder, (me) => start(me));
}

async function start(me) {
  if (me.kind !== "person") {
    app.replaceChildren(h("p", { class: "error", role: "alert" }, t("app.not_person")));
    return;
  }
  rememberLogin(true);
  session = await Session.load(me);
  session.onExpired = () => {
    session?.stop();
    session = null;
    showLogin(t("app.session_expired"));
  };
  session.live = new LiveConnection({
    token: "",
    client: { name: "pdv-alert-dashboard", version: "1", platform: "web" },
    language: language(),
  });
  session.connect();
  session.live.addEventListener("health", (event) => showHealth(event.detail));
  const first = VIEWS.find((view) => view.visible(session));
  current = { id: first ? first.id : "alerts", arg: null };
  render();
}

function languageButton() {
  return h("button", { type: "button", class: "language", lang: language() === "sv" ? "en" : "sv", onclick: toggleLanguage }, switchLabel());
}

function showHealth({ health, reason }) {
  if (!banner) return;
  if (health === Health.OFFLINE) {
    banner.textContent = t("app.offline");
    banner.hidden = false;
  } else if (health === Health.STOPPED) {
    banner.textContent = t("app.stopped", { reason: reason ?? "" });
    banner.hidden = false;
  } else if (health === Health.CONNECTED) {
    banner.hidden = true;
  }
}

/** Show a view: the navigation's buttons and the report links call this. */
function show(id, arg = null) {
  current = { id, arg };
  render();
  document.getElementById("view")?.focus();
}

function render() {
  document.title = t("app.title");
  if (!session) return boot();
  session.disposeView();
  const visible = VIEWS.filter((view) => view.visible(session));
  banner = h("div", { class: "offline-banner", role: "alert", hidden: true });
  const nav = h(
    "nav",
    { "aria-label": t("app.nav"), class: "views" },
    h(
      "ul",
      {},
      visible.map((view) =>
        h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              "aria-current": view.id === current.id ? "page" : null,
              onclick: () => show(view.id),
            },
            t(view.label),
          ),
        ),
      ),
    ),
  );
  const header = h(
    "header",
    { class: "top" },
    h("p", { class: "brand" }, t("app.title")),
    h("p", { class: "who" }, `${session.me.name} · ${session.me.organization.name}`),
    languageButton(),
    h("button", { type: "button", class: "logout", onclick: logout }, t("app.logout")),
  );
  const main = h("main", { id: "view", tabindex: "-1" });
  const renderer = HIDDEN_VIEWS[current.id] ?? VIEWS.find((view) => view.id === current.id)?.render;
  if (visible.length === 0 && !HIDDEN_VIEWS[current.id]) {
    main.append(h("p", {}, t("app.no_rights")));
  } else if (renderer) {
    main.append(renderer(session, { show, arg: current.arg }));
  }
  app.replaceChildren(banner, header, nav, main);
  if (session.live) showHealth({ health: session.live.health });
}

async function logout() {
  try {
    await postJson("auth/logout");
  } catch {
    // the session is gone either way: show the login form
  }
  session?.stop();
  session = null;
  showLogin();
}

onLanguage(() => {
  if (session?.live) session.live.language = language();
  render();
});

boot();
