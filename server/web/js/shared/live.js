// The live connection to the WebSocket gateway, shared by the staff PWA and the dashboard.
//
// `AlertStream` is the pure part: the alert state a client keeps (docs/protocol.md §4) —
// epoch, last_seq and the active alerts — and what each frame does to it. `LiveConnection`
// is the I/O around it: it asks /api/v1/config where the gateway is, says hello (a device
// token, or an empty token so the gateway uses the dashboard's session cookie), resumes,
// answers receipts again after every welcome, pings, reconnects with the protocol's backoff,
// stops on the stop codes, and reports its health so the page can warn loudly when it has
// been offline for longer than DISCONNECTED_WARNING_S.

import {
  DISCONNECTED_WARNING_S,
  DEFAULT_HEARTBEAT_S,
  closeInfo,
  decodeServer,
  delayAfterClose,
  encode,
  hello,
  ping,

} from "../../protocol.js";
import { getJson } from "./api.js";

export const ENDED = Object.freeze(new Set(["resolved", "cancelled"]));

/** The alert state a client keeps between connections, and how frames change it. */
export class AlertStream {
  constructor({ epoch = null, lastSeq = 0, alerts = [] } = {}) {
    this.epoch = epoch;
    this.lastSeq = lastSeq;
    this.alerts = new Map(alerts.map((alert) => [alert.id, alert]));
  }

  /** Apply a welcome; returns the alerts that changed and those that ended unseen. */
  welcome(frame) {
    const changed = [];
    const vanished = [];
    if (frame.recovered) {
      for (const event of frame.events) {
        if (this.#apply(event)) changed.push(event.alert);
      }
    } else {
      const listed = new Map(frame.active.map((alert) => [alert.id, alert]));
      for (const id of this.alerts.keys()) {
        if (!listed.has(id)) vanished.push(id);
      }
      this.alerts = listed;
      changed.push(...listed.values());
    }
    this.epoch = frame.epoch;
    this.lastSeq = frame.seq;
    return { changed, vanished };
  }

  /** Apply an `alert` frame; returns false for a duplicate (seq already applied). */
  event(frame) {
    if (frame.seq <= this.lastSeq) return false;
    this.#apply(frame);
    this.lastSeq = frame.seq;
    return true;
  }

  /** The alert as learnt elsewhere (HTTP, a push): state only, never the resume position. */
  learn(alert) {
    const known = this.alerts.get(alert.id);
    if (known && known.updated_at > alert.updated_at) return false;
    this.#store(alert);
    return true;
  }

  /** Active alerts, newest first. */
  active() {
    return [...this.alerts.values()]
      .filter((alert) => !ENDED.has(alert.state))
      .sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  }

  toJSON() {
    return { epoch: this.epoch, lastSeq: this.lastSeq, alerts: [...this.alerts.values()] };
  }

  #apply(frame) {
    if (frame.seq <= this.lastSeq && this.alerts.has(frame.alert.id)) return false;
    this.#store(frame.alert);
    return true;
  }

  #store(alert) {
    this.alerts.set(alert.id, alert);
  }
}

export const Health = Object.freeze({
  CONNECTING: "connecting",
  CONNECTED: "connected",
  DISCONNECTED: "disconnected", // dropped, reconnecting: not yet worth a warning
  OFFLINE: "offline", // not connected for longer than DISCONNECTED_WARNING_S
  STOPPED: "stopped", // refused for good (revoked, logged out): the page must say so
});

/**
 * One live connection. Events (EventTarget): `health` {health, code, reason},
 * `welcome` {frame, changed, vanished}, `alert` {frame}, `rollcall` {frame},
 * `presence` {frame}, `error` {frame}. `store` persists the AlertStream (localStorage key).
 */
export class LiveConnection extends EventTarget {
  constructor({ token = "", client, language = "sv", storageKey = null, WebSocketImpl = WebSocket }) {
    super();
    this.token = token;
    this.client = client;
    this.language = language;
    this.storageKey = storageKey;
    this.WebSocketImpl = WebSocketImpl;
    this.stream = new AlertStream(this.#load());
    this.health = Health.CONNECTING;
    this.socket = null;
    this.attempt = 0;
    this.wsUrl = null;
    this.timers = { reconnect: null, heartbeat: null, offline: null };
    this.closed = false;
    this.lastFrameAt = 0; // Date.now() of the newest frame from the server
    this.pingSentAt = 0; // Date.now() of the newest ping
  }

  start() {
    this.closed = false;
    this.#armOfflineWarning();
    this.#connect();
  }

  stop() {
    this.closed = true;
    for (const name of Object.keys(this.timers)) this.#clear(name);
    if (this.socket) this.socket.close(1000);
    this.socket = null;
  }

  /** Send a client message if connected; returns whether it went out. */
  send(message) {
    if (!this.socket || this.socket.readyState !== 1 || this.health !== Health.CONNECTED) return false;
    this.socket.send(encode(message));
    return true;
  }

  async #connect() {
    if (this.closed) return;
    try {
      if (this.wsUrl === null || this.attempt > 3) {
        const config = await getJson("/api/v1/config");
        this.wsUrl = config.ws_url;
      }
    } catch {
      this.#scheduleReconnect(1006);
      return;
    }
    if (this.closed) return;
    const socket = new this.WebSocketImpl(this.wsUrl);
    this.socket = socket;
    socket.onopen = () => {
      socket.send(
        encode(
          hello({
            token: this.token,
            epoch: this.stream.epoch,
            last_seq: this.stream.lastSeq,
            client: this.client,
            language: this.language,
          }),
        ),
      );
    };
    socket.onmessage = (message) => {
      this.lastFrameAt = Date.now();
      this.#receive(message.data);
    };
    socket.onclose = (close) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.#clear("heartbeat");
      this.#scheduleReconnect(close.code);
    };
  }

  #receive(data) {
    let frame;
    try {
      frame = decodeServer(data);
    } catch (error) {
      if (error.code !== "protocol.unknown_type") console.warn("pdv-alert: bad frame", error);
      return;
    }
    if (frame.type === "welcome") {
      this.attempt = 0;
      const { changed, vanished } = this.stream.welcome(frame);
      this.#save();
      this.#setHealth(Health.CONNECTED);
      this.#heartbeat(frame.heartbeat_s || DEFAULT_HEARTBEAT_S);
      this.#emit("welcome", { frame, changed, vanished });
    } else if (frame.type === "alert") {
      if (this.stream.event(frame)) {
        this.#save();
        this.#emit("alert", { frame });
      }
    } else if (frame.type === "rollcall" || frame.type === "presence" || frame.type === "error") {
      this.#emit(frame.type, { frame });
    }
  }

  // A ping every heartbeat_s; no frame at all for 2 × heartbeat_s, not even the answer to a
  // ping sent since, means the connection is dead, though the browser may not notice for
  // minutes: drop it and reconnect (protocol.md §7). A background tab's timers may run
  // only once a minute: a quiet connection that answered the last ping is not dead.
  #heartbeat(seconds) {
    this.#clear("heartbeat");
    this.pingSentAt = 0;
    this.timers.heartbeat = setInterval(() => {
      const now = Date.now();
      const unanswered = this.pingSentAt > this.lastFrameAt;
      if (unanswered && now - this.lastFrameAt > 2 * seconds * 1000) return this.#dropSilent();
      this.pingSentAt = now;
      this.send(ping(now / 1000));
    }, seconds * 1000);
  }

  #dropSilent() {
    const socket = this.socket;
    this.socket = null; // its close event, whenever the browser gives it, is ignored
    this.#clear("heartbeat");
    if (socket) socket.close(4000);
    this.#scheduleReconnect(1006);
  }

  #scheduleReconnect(code) {
    if (this.closed) return;
    const delay = delayAfterClose(code, this.attempt);
    if (delay === null) {
      this.closed = true;
      this.#clear("offline");
      this.#setHealth(Health.STOPPED, { code, reason: closeInfo(code).reason });
      return;
    }
    if (this.health === Health.CONNECTED) this.#armOfflineWarning();
    if (this.health !== Health.OFFLINE) this.#setHealth(Health.DISCONNECTED, { code });
    this.attempt += 1;
    this.#clear("reconnect");
    this.timers.reconnect = setTimeout(() => this.#connect(), delay * 1000);
  }

  #armOfflineWarning() {
    this.#clear("offline");
    this.timers.offline = setTimeout(() => {
      if (this.health !== Health.CONNECTED && this.health !== Health.STOPPED) this.#setHealth(Health.OFFLINE);
    }, DISCONNECTED_WARNING_S * 1000);
  }

  #setHealth(health, detail = {}) {
    if (health === Health.CONNECTED) this.#clear("offline");
    this.health = health;
    this.#emit("health", { health, ...detail });
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #clear(name) {
    clearTimeout(this.timers[name]);
    clearInterval(this.timers[name]);
    this.timers[name] = null;
  }

  #load() {
    if (!this.storageKey) return {};
    try {
      return JSON.parse(localStorage.getItem(this.storageKey) ?? "{}");
    } catch {
      return {};
    }
  }

  #save() {
    if (this.storageKey) localStorage.setItem(this.storageKey, JSON.stringify(this.stream));
  }
}
