// The device side of the protocol for the PWA: the live connection on the device token, and
// what this device has told the server about each alert (docs/protocol.md §6).
//
//   - `delivered` as soon as an alert (new or updated) arrives over the socket;
//   - `displayed` once its view is on a visible screen (again after each change of it);
//   - the person's answer over the socket, or over HTTP when the socket is down (and kept:
//     after every `welcome` the receipts and the latest answer of each active alert are sent
//     again, because the server writes receipts in batches and a frame can be lost);
//   - a `test` alert is never shown: it only gets `delivered`.
//
// What the screen shows is `showing()`: the newest active alert that is not a test, else an
// alert this device showed that has since ended (Faran över / Falsklarm) until the person
// closes it, else nothing. Alerts learnt outside the stream (a push, `/?alert=<id>`) are
// fetched over HTTP and `learn`t: they never move the resume position.

import { getJson, postJson } from "../shared/api.js";
import { ENDED, Health, LiveConnection } from "../shared/live.js";
import { ReceiptState, ack, receipt } from "../../protocol.js";

export const STREAM_KEY = "pdv-alert.pwa.stream";
const TRACKED_KEY = "pdv-alert.pwa.tracked";
export const CLIENT = Object.freeze({ name: "pdv-alert-pwa", version: "1" });

function shownFields(alert) {
  return JSON.stringify([alert.kind, alert.mode, alert.order, alert.instructions]);
}

export class Receiver extends EventTarget {
  constructor({ device, language, WebSocketImpl }) {
    super();
    this.device = device;
    this.tracked = this.#loadTracked();
    this.connection = new LiveConnection({
      token: device.token,
      client: { ...CLIENT, platform: (navigator.platform || "web").slice(0, 100) },
      language,
      storageKey: STREAM_KEY,
      ...(WebSocketImpl ? { WebSocketImpl } : {}),
    });
    this.connection.addEventListener("welcome", (event) => this.#welcome(event.detail));
    this.connection.addEventListener("alert", (event) => {
      const { alert, changes } = event.detail.frame;
      this.#arrived(alert, { live: true, superseded: Boolean(changes?.superseded_by) });
    });
    this.connection.addEventListener("health", (event) => this.#emit("health", event.detail));
  }

  get health() {
    return this.connection.health;
  }

  get connected() {
    return this.connection.health === Health.CONNECTED;
  }

  start() {
    this.connection.start();
  }

  stop() {
    this.connection.stop();
  }

  /** What the alert screen shows: {alert, ended: bool, others: n} or null (home). */
  showing() {
    const active = this.connection.stream.active().filter((alert) => alert.mode !== "test");
    if (active.length) return { alert: active[0], ended: false, others: active.length - 1 };
    const ended = [...this.connection.stream.alerts.values()]
      .filter((alert) => ENDED.has(alert.state) && this.tracked[alert.id]?.seen && !this.tracked[alert.id]?.dismissed)
      .sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1));
    return ended.length ? { alert: ended[0], ended: true, others: 0 } : null;
  }

  /** The latest answer this device gave to `alertId`, or null. */
  answerOf(alertId) {
    return this.tracked[alertId]?.answer ?? null;
  }

  /** The alert's view is on a visible screen: `displayed`, once per version of it. */
  displayed(alert) {
    const tracked = this.#track(alert.id);
    if (alert.mode === "test" || ENDED.has(alert.state) || tracked.displayed === alert.updated_at) return;
    if (this.connection.send(receipt(alert.id, ReceiptState.DISPLAYED))) {
      tracked.displayed = alert.updated_at;
      this.#saveTracked();
    }
  }

  /** The person answered. Returns "sent" (socket or HTTP) or "queued" (sent after the next
   * welcome). The answer is kept either way and re-sent after every welcome. */
  async answer(alertId, response, { note = "", location = "" } = {}) {
    const message = ack(alertId, response, { note, location });
    const tracked = this.#track(alertId);
    tracked.answer = { response, note: message.note, location: message.location };
    this.#saveTracked();
    this.#emit("change");
    if (this.connection.send(message)) return "sent";
    try {
      await postJson(`alerts/${alertId}/ack`, { response, note: message.note, location: message.location }, { token: this.device.token });
      return "sent";
    } catch (error) {
      if (error.status === 0) return "queued";
      throw error;
    }
  }

  /** The person closed the end view of an ended alert: forget it. */
  dismiss(alertId) {
    this.#track(alertId).dismissed = true;
    this.connection.stream.alerts.delete(alertId);
    delete this.tracked[alertId];
    this.#saveTracked();
    localStorage.setItem(STREAM_KEY, JSON.stringify(this.connection.stream));
    this.#emit("change");
  }

  /** An alert learnt outside the stream (a push, a link): fetch it and show it. */
  async learn(alertId) {
    let alert;
    try {
      alert = await getJson(`alerts/${alertId}`, { token: this.device.token });
    } catch {
      return; // gone, or not for this device: the stream stays the authority
    }
    if (this.connection.stream.learn(alert)) this.#arrived(alert, { live: false });
  }

  #welcome({ changed, vanished }) {
    for (const alert of changed) this.#arrived(alert, { live: false });
    for (const id of vanished) this.learn(id);
    // Everything told before may have been lost with the last connection: tell it again.
    for (const alert of this.connection.stream.active()) {
      const tracked = this.tracked[alert.id];
      this.connection.send(receipt(alert.id, ReceiptState.DELIVERED));
      if (!tracked || alert.mode === "test") continue;
      if (tracked.displayed) this.connection.send(receipt(alert.id, ReceiptState.DISPLAYED));
      if (tracked.answer) this.connection.send(ack(alert.id, tracked.answer.response, tracked.answer));
    }
    this.#emit("change");
  }

  #arrived(alert, { live, superseded = false }) {
    const known = this.tracked[alert.id];
    if (ENDED.has(alert.state)) {
      // A drill a real alert replaced needs no end screen: the real alert is what counts.
      if (known && superseded) known.dismissed = true;
      if (known?.seen && !superseded) this.#emit("ended", { alert });
      this.#saveTracked();
      this.#emit("change");
      return;
    }
    if (live) this.connection.send(receipt(alert.id, ReceiptState.DELIVERED));
    const tracked = this.#track(alert.id);
    if (alert.mode !== "test") {
      const fields = shownFields(alert);
      if (tracked.fields !== fields) {
        if (tracked.fields === null) this.#dismissEnded(); // a new alert: old end screens go
        tracked.fields = fields;
        tracked.seen = true;
        this.#emit("alarm", { alert });
      }
    }
    this.#saveTracked();
    this.#emit("change");
  }

  #dismissEnded() {
    for (const [id, alert] of this.connection.stream.alerts) {
      if (ENDED.has(alert.state) && this.tracked[id]) this.tracked[id].dismissed = true;
    }
  }

  #track(alertId) {
    if (!this.tracked[alertId]) this.tracked[alertId] = { seen: false, displayed: null, answer: null, fields: null, dismissed: false };
    return this.tracked[alertId];
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #loadTracked() {
    try {
      const value = JSON.parse(localStorage.getItem(TRACKED_KEY) ?? "{}");
      return value && typeof value === "object" ? value : {};
    } catch {
      return {};
    }
  }

  #saveTracked() {
    // Only what still matters: alerts the stream knows (ended ones until dismissed).
    for (const id of Object.keys(this.tracked)) {
      if (!this.connection.stream.alerts.has(Number(id))) delete this.tracked[id];
    }
    localStorage.setItem(TRACKED_KEY, JSON.stringify(this.tracked));
  }
}
