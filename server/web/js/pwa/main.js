// The staff PWA at / (and /enroll?code=…): log in, enroll this browser as a `web` device
// bound to the person, then live on the device token — sessions expire, the device must not.
//
// Views: login (shared login.js) → enroll → the app (home, or the alert screen), plus the
// countdown of a trigger and the iPhone/iPad help. The banner above them says "Ingen
// anslutning" whenever alerts cannot reach this page: at once when the page has not reached
// the gateway since it loaded or the browser is offline, and after a short grace period when
// an established connection drops (a reconnect within it is not worth a warning).

import { ApiError, getJson, postJson } from "../shared/api.js";
import { language, onLanguage, switchLabel, t, toggleLanguage } from "../shared/i18n.js";
import { Health } from "../shared/live.js";
import { renderLogin } from "../shared/login.js";
import "./texts.js";
import { Alarm } from "./alarm.js";
import { alertView } from "./alert-view.js";
import { el } from "./dom.js";
import { enroll, forgetDevice, loadDevice, saveDevice } from "./device.js";
import { enrollView } from "./enroll-view.js";
import { helpView } from "./help-view.js";
import { homeView, silentToggle } from "./home-view.js";
import * as push from "./push.js";
import { Receiver } from "./receiver.js";
import { countdownView, sendTrigger } from "./trigger.js";

const CONFIG_KEY = "pdv-alert.pwa.config";
const SITE_KEY = "pdv-alert.pwa.site";
const LOGGED_IN_KEY = "pdv-alert.pwa.logged-in";
const GRACE_MS = 3000; // a dropped connection back within this is not announced

const app = document.getElementById("app");
const bar = document.getElementById("app-bar");
const banner = document.getElementById("banner");
const alarm = new Alarm();

const state = {
  view: "loading", // login | enroll | app | countdown | help
  back: "app", // where the help view returns to
  person: null,
  device: null,
  code: "",
  config: readCached(CONFIG_KEY),
  site: readCached(SITE_KEY),
  receiver: null,
  push: { state: push.PushState.OFF, message: null },
  notice: "",
  countdown: null,
  everConnected: false,
  lostAt: null,
  graceTimer: null,
  stopReason: null, // why the gateway refused for good (Health.STOPPED)
  rendered: null, // the key of what is on screen (re-render only when it changes)
};

function readCached(key) {
  try {
    return JSON.parse(localStorage.getItem(key) ?? "null");
  } catch {
    return null;
  }
}

function cache(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // storage full or private mode: the next start fetches it again
  }
}

// ── the bar and the banner ────────────────────────────────────────────────────────────────

function renderBar() {
  const help = el("button", { type: "button", class: "bar-button" }, t("nav.help"));
  help.addEventListener("click", () => {
    if (state.view !== "help") state.back = state.view === "countdown" ? "app" : state.view;
    show("help");
  });
  const switcher = el("button", { type: "button", class: "bar-button", lang: language() === "sv" ? "en" : "sv" }, switchLabel());
  switcher.addEventListener("click", toggleLanguage);
  bar.replaceChildren(el("span", { class: "app-name" }, t("app.title")), el("span", { class: "bar-actions" }, help, switcher));
}

function offlineNow() {
  const health = state.receiver?.health;
  if (health === Health.CONNECTED) return false;
  if (navigator.onLine === false) return true;
  if (health === Health.OFFLINE || health === Health.STOPPED) return true;
  if (health === Health.DISCONNECTED) return !state.everConnected || (state.lostAt !== null && Date.now() - state.lostAt >= GRACE_MS);
  return false;
}

function renderBanner() {
  const health = state.receiver?.health;
  if (state.view === "login" || state.view === "enroll" || state.view === "loading") {
    const down = navigator.onLine === false;
    banner.hidden = !down;
    if (down) banner.replaceChildren(el("strong", {}, t("banner.offline")));
    return;
  }
  if (!offlineNow()) {
    banner.hidden = true;
    banner.dataset.key = "";
    banner.replaceChildren();
    return;
  }
  // Re-announce (role=alert) only when what the banner says changes.
  const removed = health === Health.STOPPED && String(state.stopReason).startsWith("auth.");
  const key = [language(), health, removed].join("|");
  if (!banner.hidden && banner.dataset.key === key) return;
  banner.dataset.key = key;
  banner.hidden = false;
  banner.classList.toggle("long", health === Health.OFFLINE || health === Health.STOPPED);
  if (removed) {
    const again = el("button", { type: "button" }, t("enroll.heading"));
    again.addEventListener("click", async () => {
      await forgetDevice();
      location.assign("/");
    });
    banner.replaceChildren(el("strong", {}, t("banner.stopped")), " ", again);
    return;
  }
  const detail = {
    [Health.OFFLINE]: t("banner.offline.long"),
    [Health.STOPPED]: t("banner.outdated"),
  }[health] ?? t("banner.offline.detail");
  banner.replaceChildren(el("strong", {}, t("banner.offline")), " ", el("span", {}, detail));
}

function onHealth({ health, reason }) {
  clearTimeout(state.graceTimer);
  state.stopReason = health === Health.STOPPED ? reason : null;
  if (health === Health.CONNECTED) {
    state.everConnected = true;
    state.lostAt = null;
  } else if (state.lostAt === null) {
    state.lostAt = Date.now();
  }
  if (health === Health.DISCONNECTED && state.everConnected) {
    state.graceTimer = setTimeout(renderBanner, GRACE_MS + 50);
  }
  renderBanner();
  render();
}

// ── views ─────────────────────────────────────────────────────────────────────────────────

function show(view) {
  state.view = view;
  render({ force: true });
}

function viewKey() {
  const base = [state.view, language(), state.notice, state.device?.silent];
  if (state.view !== "app") return JSON.stringify(base);
  const showing = state.receiver.showing();
  if (!showing) {
    return JSON.stringify([...base, "home", state.receiver.connected, state.push, state.site?.name, state.site?.staff_may_trigger]);
  }
  const { alert, ended, others } = showing;
  return JSON.stringify([...base, alert.id, alert.updated_at, alert.state, ended, others, state.receiver.answerOf(alert.id), state.answerStatus?.[alert.id]]);
}

function render({ force = false } = {}) {
  renderBar();
  const key = viewKey();
  if (!force && key === state.rendered) {
    afterRender();
    return;
  }
  const previous = state.rendered;
  state.rendered = key;
  if (state.view === "login") {
    renderLogin(app, onLoggedIn);
  } else if (state.view === "enroll") {
    app.replaceChildren(enrollView({ person: state.person, code: state.code, onEnroll, onLogout }));
    app.querySelector("#enroll-code")?.focus();
  } else if (state.view === "help") {
    app.replaceChildren(helpView({ onBack: () => show(state.back) }));
    app.querySelector("h1")?.focus();
  } else if (state.view === "countdown") {
    app.replaceChildren(state.countdown.view);
    state.countdown.focus();
  } else if (state.view === "app") {
    renderApp(previous);
  } else {
    app.replaceChildren(el("p", { class: "loading" }, t("app.loading")));
  }
  renderBanner();
  afterRender();
}

function renderApp(previous) {
  const showing = state.receiver.showing();
  document.body.classList.toggle("alerting", Boolean(showing));
  document.body.classList.toggle("silent", Boolean(state.device.silent));
  const silentControl = silentToggle({ silent: state.device.silent, onSilent });
  if (!showing) {
    alarm.stop();
    app.replaceChildren(
      homeView({
        device: state.device,
        siteName: state.site?.name,
        connected: state.receiver.connected,
        mayTrigger: Boolean(state.site?.staff_may_trigger),
        notice: state.notice,
        pushState: state.push.state,
        pushMessage: state.push.message,
        onActivate,
        onTrigger,
        silent: state.device.silent,
        onSilent,
      }),
    );
    return;
  }
  // Keep what the person is typing across a re-render (an update of the order, say).
  const typed = { location: app.querySelector("#answer-location")?.value, note: app.querySelector("#answer-note")?.value };
  const sameAlert = app.querySelector(".alert-view")?.dataset.alertId === String(showing.alert.id);
  const view = alertView(showing, {
    siteName: state.site?.name,
    silent: state.device.silent,
    answer: state.receiver.answerOf(showing.alert.id),
    answerStatus: state.answerStatus?.[showing.alert.id],
    onAnswer,
    onClose: () => state.receiver.dismiss(showing.alert.id),
  });
  view.dataset.alertId = String(showing.alert.id);
  view.append(silentControl);
  app.replaceChildren(view);
  if (sameAlert) {
    if (typed.location !== undefined && app.querySelector("#answer-location")) app.querySelector("#answer-location").value = typed.location;
    if (typed.note !== undefined && app.querySelector("#answer-note")) app.querySelector("#answer-note").value = typed.note;
  } else if (previous !== null) {
    app.querySelector("h1")?.focus(); // a new alert (or its end): announce it
  }
}

/** What a visible alert screen owes the server: `displayed`. */
function afterRender() {
  const showing = state.view === "app" ? state.receiver?.showing() : null;
  const active = Boolean(showing && !showing.ended);
  document.title = active ? `${t(`kind.${showing.alert.kind}`)} – ${t("app.title")}` : t("app.title");
  alarm.keepAwake(active);
  if (active && document.visibilityState === "visible") state.receiver.displayed(showing.alert);
}

// ── actions ───────────────────────────────────────────────────────────────────────────────

function onLoggedIn(person) {
  cache(LOGGED_IN_KEY, true);
  state.person = person;
  show("enroll");
}

async function onLogout() {
  try {
    await postJson("auth/logout");
  } catch {
    // the session is gone either way for this page
  }
  state.person = null;
  cache(LOGGED_IN_KEY, false);
  show("login");
}

async function onEnroll({ code, name }) {
  const record = await enroll({ code, name, silent: Boolean(state.device?.silent) });
  state.receiver?.stop();
  state.receiver = null;
  localStorage.removeItem("pdv-alert.pwa.stream");
  localStorage.removeItem(SITE_KEY);
  state.site = null;
  state.device = record;
  state.code = "";
  if (location.pathname !== "/" || location.search) history.replaceState(null, "", "/"); // the code is spent: not in history
  await startApp();
  await onActivate(); // still inside the person's click: the permission prompt may show
}

async function onActivate() {
  const config = await loadConfig();
  state.push = await push.activate({ vapidKey: config?.vapid_public_key ?? null, token: state.device.token });
  render();
}

async function onSilent(silent) {
  state.device = { ...state.device, silent };
  alarm.setSilent(silent);
  await saveDevice(state.device);
  render({ force: true });
}

async function onAnswer(alertId, response, details) {
  state.answerStatus = state.answerStatus ?? {};
  alarm.stop();
  try {
    state.answerStatus[alertId] = await state.receiver.answer(alertId, response, details);
  } catch (error) {
    state.answerStatus[alertId] = "failed";
    state.notice = error.message;
  }
  render();
}

function onTrigger() {
  const seconds = state.config?.trigger_countdown_seconds ?? 3;
  state.notice = "";
  state.countdown = countdownView(seconds, {
    onCancel: () => {
      state.notice = t("trigger.cancelled");
      show("app");
    },
    onDone: async () => {
      state.notice = t("trigger.sending");
      show("app");
      try {
        const answer = await sendTrigger(state.device.token);
        state.notice = answer.created ? t("trigger.sent") : t("trigger.exists");
        await state.receiver.learn(answer.alert.id);
      } catch (error) {
        state.notice = error instanceof ApiError && error.code === "alert.other_kind_active" ? error.message : t("trigger.failed", { message: error.message });
      }
      render({ force: true });
    },
  });
  show("countdown");
}

// ── start ─────────────────────────────────────────────────────────────────────────────────

async function loadConfig() {
  try {
    state.config = await getJson("config");
    cache(CONFIG_KEY, state.config);
  } catch {
    // offline: the cached one (or none) will do until the next start
  }
  return state.config;
}

async function loadSite() {
  try {
    const site = await getJson(`sites/${state.device.site_id}`, { token: state.device.token });
    state.site = { id: site.id, name: site.name, staff_may_trigger: site.staff_may_trigger };
    cache(SITE_KEY, state.site);
    render();
  } catch {
    // offline: keep the cached site
  }
}

async function startApp() {
  alarm.setSilent(Boolean(state.device.silent));
  const receiver = new Receiver({ device: state.device, language: language() });
  state.receiver = receiver;
  receiver.addEventListener("change", () => render());
  receiver.addEventListener("alarm", (event) => {
    state.notice = "";
    alarm.ring(event.detail.alert);
  });
  receiver.addEventListener("ended", () => alarm.stop());
  receiver.addEventListener("health", (event) => onHealth(event.detail));
  state.view = "app";
  receiver.start();
  render({ force: true });
  const wanted = Number(new URLSearchParams(location.search).get("alert"));
  if (Number.isInteger(wanted) && wanted > 0) {
    history.replaceState(null, "", "/");
    receiver.learn(wanted);
  }
  loadSite();
  const config = await loadConfig();
  state.push = await push.refresh({ vapidKey: config?.vapid_public_key ?? null, token: state.device.token });
  render();
}

async function boot() {
  renderBar();
  push.registerWorker();
  navigator.serviceWorker?.addEventListener("message", (event) => {
    const id = Number(event.data?.alert_id);
    if (!state.receiver || !Number.isInteger(id) || id <= 0) return;
    if (state.view !== "app" && state.view !== "countdown") show("app");
    state.receiver.learn(id);
  });
  navigator.serviceWorker?.startMessages();
  const params = new URLSearchParams(location.search);
  state.code = location.pathname === "/enroll" ? (params.get("code") ?? "").slice(0, 100) : "";
  state.device = await loadDevice();
  if (state.device && !state.code) {
    await startApp();
    return;
  }
  // Ask who is logged in only when this browser logged in before: without a session the
  // answer is a 401, which is a pointless request (and a console error) on every fresh start.
  if (readCached(LOGGED_IN_KEY)) {
    try {
      const me = await getJson("me");
      if (me?.kind === "person") {
        state.person = me;
        show("enroll");
        return;
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 0 && state.device) {
        await startApp(); // offline with an enrolled device: the app, with its banner
        return;
      }
    }
  }
  cache(LOGGED_IN_KEY, false);
  show("login");
}

onLanguage(() => {
  if (state.receiver) state.receiver.connection.language = language(); // for the next hello
  render({ force: true });
});
document.addEventListener("visibilitychange", () => afterRender());
window.addEventListener("online", renderBanner);
window.addEventListener("offline", renderBanner);

boot();
