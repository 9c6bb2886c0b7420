// What the dashboard knows about the logged-in person and the live state every view shares:
// identity and permissions (`/me`), the organization's sites, zones and alert texts, the
// server's config (trigger countdown), the active alerts and the latest `rollcall` and
// `presence` frames. Views subscribe to changes with `on()`; whatever a view subscribed is
// dropped when another view replaces it (`disposeView`).

import { ApiError, getJson } from "../shared/api.js";
import { localized } from "../shared/i18n.js";

export class Session extends EventTarget {
  constructor({ me, sites, organization, config }) {
    super();
    this.me = me;
    this.sites = sites;
    this.sitesById = new Map(sites.map((site) => [site.id, site]));
    this.organization = organization;
    this.config = config;
    this.live = null;
    this.alerts = new Map(); // active alerts by id, from the live stream
    this.rollcalls = new Map(); // latest rollcall frame by alert id
    this.presence = new Map(); // latest presence frame by site id
    this.viewDisposers = [];
    this.onExpired = () => {};
  }

  static async load(me) {
    const [sites, organization, config] = await Promise.all([
      getJson("sites"),
      getJson("organization"),
      getJson("config"),
    ]);
    return new Session({ me, sites: sites.sites ?? sites, organization, config });
  }

  /** Whether the person may do `action` at `siteId`. */
  can(action, siteId) {
    return (this.me.permissions[String(siteId)] ?? []).includes(action);
  }

  canAnywhere(action) {
    return Object.values(this.me.permissions).some((actions) => actions.includes(action)) || this.canOrg(action);
  }

  canOrg(action) {
    return (this.me.org_permissions ?? []).includes(action);
  }

  /** The sites where the person may do `action`, by name. */
  sitesWhere(action) {
    return this.sites.filter((site) => this.can(action, site.id));
  }

  /** Whether the person leads anything: triggers, updates or sees a roll call. */
  leads() {
    return ["trigger", "update", "resolve", "cancel", "view_rollcall", "run_drill", "run_test"].some((action) =>
      this.canAnywhere(action),
    );
  }

  siteName(id) {
    return this.sitesById.get(id)?.name ?? `#${id}`;
  }

  zoneName(siteId, zoneId) {
    if (zoneId === null || zoneId === undefined || zoneId === "none") return null;
    const zone = (this.sitesById.get(Number(siteId))?.zones ?? []).find((z) => z.id === Number(zoneId));
    return zone?.name ?? `#${zoneId}`;
  }

  /** The organization's effective order text of a kind, in the page's language. */
  templateOrder(kind) {
    return localized(this.organization.kinds?.[kind]?.order);
  }

  /** Wire the live connection to the shared state and start it. */
  connect() {
    const live = this.live;
    live.addEventListener("welcome", () => {
      this.alerts = new Map(live.stream.active().map((alert) => [alert.id, alert]));
      this.#emit("alerts");
    });
    live.addEventListener("alert", (event) => {
      const alert = event.detail.frame.alert;
      if (alert.state === "active") this.alerts.set(alert.id, alert);
      else this.alerts.delete(alert.id);
      this.#emit("alerts", { frame: event.detail.frame });
    });
    live.addEventListener("rollcall", (event) => {
      const frame = event.detail.frame;
      this.rollcalls.set(frame.alert_id, frame);
      this.#emit("rollcall", frame);
    });
    live.addEventListener("presence", (event) => {
      const frame = event.detail.frame;
      this.presence.set(frame.site_id, frame);
      this.#emit("presence", frame);
    });
    live.addEventListener("health", (event) => {
      if (event.detail.health === "stopped" && [4001, 4002].includes(event.detail.code)) this.onExpired();
    });
    live.start();
  }

  /** An alert learnt over HTTP (a trigger's answer) before its frame arrives. */
  learn(alert) {
    if (!this.live?.stream.learn(alert)) return;
    if (alert.state === "active") this.alerts.set(alert.id, alert);
    else this.alerts.delete(alert.id);
    this.#emit("alerts");
  }

  /** Active alerts, newest first. */
  activeAlerts() {
    return [...this.alerts.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  }

  /** Subscribe for as long as the current view is shown. */
  on(type, listener) {
    const wrapped = (event) => listener(event.detail);
    this.addEventListener(type, wrapped);
    this.viewDisposers.push(() => this.removeEventListener(type, wrapped));
  }

  /** Run `cleanup` when the current view is replaced (timers, blob URLs). */
  onDispose(cleanup) {
    this.viewDisposers.push(cleanup);
  }

  disposeView() {
    for (const dispose of this.viewDisposers.splice(0)) dispose();
  }

  /** An HTTP error that means "log in again" ends the session's page. */
  checkExpired(error) {
    if (error instanceof ApiError && error.status === 401) {
      this.onExpired();
      return true;
    }
    return false;
  }

  stop() {
    this.disposeView();
    this.live?.stop();
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
