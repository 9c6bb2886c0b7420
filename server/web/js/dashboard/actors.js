// Who did it, by name: events and audit entries name their actor as a reference
// (`person:12`, `device:4`, `api_key:2`). The page resolves them through what this person
// may read anyway — themself, the persons list (MANAGE_PEOPLE), devices (MANAGE_DEVICES or
// VIEW_ROLLCALL somewhere), API keys (MANAGE_DEVICES) and, for an alert whose report is
// readable, its report's persons (everyone expected at its sites) — and asks nothing it
// would be refused (a refusal is an error in the console). Anything else stays the reference.

import { getJson } from "../shared/api.js";
import { t } from "../shared/i18n.js";

export class ActorNames {
  constructor(session) {
    this.session = session;
    this.persons = new Map([[session.me.id, session.me.name]]);
    this.devices = new Map();
    this.keys = new Map();
    this.base = null; // the one load of the lists, shared by every caller
    this.alerts = new Map(); // alert id → its report's load
  }

  /** Read the lists this person may read (once); failures leave references as they are. */
  load() {
    const session = this.session;
    this.base ??= Promise.all([
      session.canOrg("manage_people") ? this.#read("persons", (list) => list.forEach((p) => this.persons.set(p.id, p.name))) : null,
      session.canAnywhere("manage_devices") || session.canAnywhere("view_rollcall")
        ? this.#read("devices", (list) => list.forEach((d) => this.devices.set(d.id, d.name)))
        : null,
      session.canAnywhere("manage_devices") ? this.#read("api-keys", (list) => list.forEach((k) => this.keys.set(k.id, k.name))) : null,
    ]);
    return this.base;
  }

  /** Also learn the persons of `alert`'s report, when it has one this person may read. */
  async loadAlert(alert) {
    await this.load();
    const ended = alert.state !== "active";
    const readable = (alert.mode !== "actual" || ended) && alert.sites.some((site) => this.session.can("view_rollcall", site));
    if (!readable) return;
    if (!this.alerts.has(alert.id)) {
      this.alerts.set(
        alert.id,
        this.#read(`alerts/${alert.id}/reachability`, (report) => (report.persons ?? []).forEach((p) => this.persons.set(p.person_id, p.name))),
      );
    }
    await this.alerts.get(alert.id);
  }

  /** `person:12` → "Maria Holm", `device:4` → "enheten Dator …", else the reference. */
  name(ref) {
    const [kind, raw] = String(ref).split(":");
    const id = Number(raw);
    if (kind === "person" && this.persons.has(id)) return this.persons.get(id);
    if (kind === "device" && this.devices.has(id)) return t("actor.device", { name: this.devices.get(id) });
    if (kind === "api_key" && this.keys.has(id)) return t("actor.api_key", { name: this.keys.get(id) });
    return String(ref);
  }

  async #read(path, learn) {
    try {
      learn(await getJson(path));
    } catch (error) {
      this.session.checkExpired(error);
    }
  }
}
