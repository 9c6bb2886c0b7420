// pdv-alert wire protocol: the browser's mirror of the Python package `protocol/`.
// docs/protocol.md is the authority. Dependency-free ES module, no build step:
//   import { hello, ack, encode, decodeServer, delayAfterClose } from "./protocol.js";
// Messages are plain objects with the wire's field names (snake_case), exactly as on the wire.

export const PROTOCOL_VERSION = 1;
export const MAX_CLIENT_FRAME = 4096; // bytes of one client frame (UTF-8)
// Ids are 1..MAX_ID (32-bit database columns, as protocol/messages.py). Seqs are 64-bit on the
// server; a JS number holds them exactly up to MAX_SEQ (2^53 - 1, reached after centuries).
export const MAX_ID = 2 ** 31 - 1;
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;
export const LIMITS = Object.freeze({
  token: 200,
  epoch: 32,
  clientName: 100,
  clientVersion: 100,
  platform: 100,
  note: 500, // characters (code points)
  location: 200,
});

// Liveness and reconnect policy (seconds).
export const DEFAULT_HEARTBEAT_S = 20; // send `ping` this often unless welcome.heartbeat_s says otherwise
export const RECONNECT_INITIAL_S = 0.5;
export const RECONNECT_MAX_S = 15;
export const DISCONNECTED_WARNING_S = 30; // warn loudly when disconnected longer than this

export const Kind = Object.freeze({
  PDV_LOCKDOWN: "pdv_lockdown",
  EVACUATE: "evacuate",
  SECURE: "secure",
  CUSTOM: "custom",
});
export const Mode = Object.freeze({ ACTUAL: "actual", DRILL: "drill", TEST: "test" });
export const AlertState = Object.freeze({
  ACTIVE: "active",
  RESOLVED: "resolved",
  CANCELLED: "cancelled",
});
export const EventType = Object.freeze({
  TRIGGERED: "triggered",
  UPDATED: "updated",
  RESOLVED: "resolved",
  CANCELLED: "cancelled",
});
export const Response = Object.freeze({
  SAFE: "safe",
  NEED_HELP: "need_help",
  NOT_ON_SITE: "not_on_site",
});
export const ReceiptState = Object.freeze({ DELIVERED: "delivered", DISPLAYED: "displayed" });
export const PushState = Object.freeze({
  QUEUED: "queued",
  SENT: "sent",
  DELIVERED: "delivered",
  RECEIPTED: "receipted",
  FAILED: "failed",
});
export const DeviceKind = Object.freeze({
  DESKTOP: "desktop",
  WEB: "web",
  IOS: "ios",
  INTEGRATION: "integration",
});
export const Language = Object.freeze({ SV: "sv", EN: "en" });

export const ERROR_CODES = Object.freeze([
  "protocol.malformed",
  "protocol.unknown_type",
  "protocol.unknown_field",
  "protocol.invalid",
  "protocol.unsupported_version",
  "protocol.too_large",
  "protocol.hello_required", // the first frame was not a hello
  "protocol.unexpected", // a valid message at the wrong time (a second hello)
]);

// ── close codes ──────────────────────────────────────────────────────────────────────────────

export const Reconnect = Object.freeze({ BACKOFF: "backoff", SLOW: "slow", NEVER: "never" });

export const CLOSE = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  ABNORMAL: 1006,
  POLICY: 1008,
  TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  INVALID_TOKEN: 4001,
  REVOKED: 4002,
  PROTOCOL_ABUSE: 4003,
  HELLO_TIMEOUT: 4004,
  UNSUPPORTED_VERSION: 4005,
});

const B = Reconnect.BACKOFF;
const S = Reconnect.SLOW;
const N = Reconnect.NEVER;

export const CLOSE_CODES = Object.freeze({
  1000: Object.freeze({ reason: "normal", reconnect: B }),
  1001: Object.freeze({ reason: "going away", reconnect: B }),
  1006: Object.freeze({ reason: "abnormal", reconnect: B }),
  1008: Object.freeze({ reason: "policy", reconnect: N }),
  1009: Object.freeze({ reason: "too big", reconnect: B }),
  1011: Object.freeze({ reason: "internal error", reconnect: B }),
  1012: Object.freeze({ reason: "service restart", reconnect: B }),
  1013: Object.freeze({ reason: "try again later", reconnect: B }),
  4001: Object.freeze({ reason: "auth.invalid_token", reconnect: N }),
  4002: Object.freeze({ reason: "auth.revoked", reconnect: N }),
  4003: Object.freeze({ reason: "protocol.abuse", reconnect: S }),
  4004: Object.freeze({ reason: "protocol.hello_timeout", reconnect: B }),
  4005: Object.freeze({ reason: "protocol.unsupported_version", reconnect: N }),
});

/** What a close code means; unknown codes count as a dropped connection (reconnect). */
export function closeInfo(code) {
  return CLOSE_CODES[code] ?? { reason: "", reconnect: B };
}

/** Seconds before reconnect number `attempt` (0 = first): uniform in [base/2, base],
 * base = 0.5 s doubling, capped at 15 s. Reset `attempt` after each `welcome`. */
export function reconnectDelay(attempt, random = Math.random()) {
  const base = Math.min(RECONNECT_MAX_S, RECONNECT_INITIAL_S * 2 ** Math.min(Math.max(attempt, 0), 16));
  return base * (0.5 + random / 2);
}

/** Seconds to wait before reconnecting after a close with `code`; null: don't reconnect. */
export function delayAfterClose(code, attempt, random = Math.random()) {
  const action = closeInfo(code).reconnect;
  if (action === N) return null;
  if (action === S) return RECONNECT_MAX_S * (0.5 + random / 2);
  return reconnectDelay(attempt, random);
}

// ── errors ───────────────────────────────────────────────────────────────────────────────────

export class ProtocolError extends Error {
  constructor(code, detail = "") {
    super(detail ? `${code}: ${detail}` : code);
    this.name = "ProtocolError";
    this.code = code;
    this.detail = detail;
  }
}

function fail(code, detail) {
  throw new ProtocolError(code, detail);
}

// ── client messages (builders) ───────────────────────────────────────────────────────────────

// Text the server would refuse becomes acceptable text: lone surrogates turn into U+FFFD,
// control characters into spaces (a note keeps tab and line breaks), and the length is cut
// to the limit in code points, as the server counts. (No regex lookbehind: older Safari on
// school iPads cannot parse it.)
const NOTE_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;
const LINE_CONTROL = /[\u0000-\u001f\u007f]/g;
function wellFormed(text) {
  let result = "";
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        result += text[i] + text[i + 1];
        i++;
      } else {
        result += "\ufffd";
      }
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      result += "\ufffd";
    } else {
      result += text[i];
    }
  }
  return result;
}
function fit(text, max, control) {
  const clean = wellFormed(String(text ?? "")).replace(control, " ");
  const chars = Array.from(clean);
  return chars.length > max ? chars.slice(0, max).join("") : clean;
}

/** The first frame. `last_seq` is the last contiguous seq applied from the stream (0: none).
 * An empty token makes the server use the session cookie sent with the handshake (dashboard). */
export function hello({ token = "", epoch = null, last_seq = 0, client, language = Language.SV, v = PROTOCOL_VERSION }) {
  const info = { name: client.name, version: client.version };
  if (client.platform !== undefined && client.platform !== null) info.platform = client.platform;
  return { type: "hello", v, token, epoch, last_seq, client: info, language };
}

export function receipt(alert_id, state) {
  return { type: "receipt", alert_id, state };
}

/** An answer. Note and location are cut to their limits so the response itself always
 * reaches the server (the form's maxlength is the real guard). */
export function ack(alert_id, response, { note = "", location = "" } = {}) {
  return {
    type: "ack",
    alert_id,
    response,
    note: fit(note, LIMITS.note, NOTE_CONTROL),
    location: fit(location, LIMITS.location, LINE_CONTROL),
  };
}

export function ping(ts = null) {
  return ts === null || ts === undefined ? { type: "ping" } : { type: "ping", ts };
}

/** One frame: compact JSON text. */
export function encode(message) {
  if (message === null || typeof message !== "object" || typeof message.type !== "string") {
    throw new TypeError("a message is an object with a string `type`");
  }
  return JSON.stringify(message);
}

// ── server messages (lenient decoding) ───────────────────────────────────────────────────────

const KINDS = new Set(Object.values(Kind));
const MODES = new Set(Object.values(Mode));
const ALERT_STATES = new Set(Object.values(AlertState));
const EVENT_TYPES = new Set(Object.values(EventType));
const DEVICE_KINDS = new Set(Object.values(DeviceKind));

const jsonName = (value) =>
  value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
const hasOwn = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);
const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

function get(obj, key, where) {
  if (!hasOwn(obj, key)) fail("protocol.invalid", `${where}.${key} is missing`);
  return obj[key];
}
function wrong(where, key, expected, value) {
  fail("protocol.invalid", `${where}.${key}: expected ${expected}, got ${jsonName(value)}`);
}
function int(obj, key, where, lo = 0, hi = MAX_SEQ) {
  const value = get(obj, key, where);
  if (!Number.isInteger(value)) wrong(where, key, "an integer", value);
  if (value < lo || value > hi) fail("protocol.invalid", `${where}.${key}: ${value} is out of range`);
  return value;
}
function ident(obj, key, where) {
  return int(obj, key, where, 1, MAX_ID);
}
function optIdent(obj, key, where) {
  return obj[key] === undefined || obj[key] === null ? null : ident(obj, key, where);
}
function nullableIdent(obj, key, where) {
  return get(obj, key, where) === null ? null : ident(obj, key, where);
}
function number(obj, key, where) {
  const value = get(obj, key, where);
  if (typeof value !== "number") wrong(where, key, "a number", value);
  return value;
}
function str(obj, key, where) {
  const value = get(obj, key, where);
  if (typeof value !== "string") wrong(where, key, "a string", value);
  return value;
}
function optStr(obj, key, where) {
  return obj[key] === undefined || obj[key] === null ? null : str(obj, key, where);
}
function nullableStr(obj, key, where) {
  return get(obj, key, where) === null ? null : str(obj, key, where);
}
function bool(obj, key, where) {
  const value = get(obj, key, where);
  if (typeof value !== "boolean") wrong(where, key, "true or false", value);
  return value;
}
function oneOf(obj, key, where, members) {
  const value = get(obj, key, where);
  if (typeof value !== "string" || !members.has(value)) {
    fail("protocol.invalid", `${where}.${key}: expected one of ${[...members].join(", ")}`);
  }
  return value;
}
function object(obj, key, where) {
  const value = get(obj, key, where);
  if (!isObject(value)) wrong(where, key, "an object", value);
  return value;
}
function array(obj, key, where) {
  const value = get(obj, key, where);
  if (!Array.isArray(value)) wrong(where, key, "an array", value);
  return value;
}
function objects(obj, key, where, read) {
  return array(obj, key, where).map((item, i) => {
    if (!isObject(item)) wrong(where, `${key}[${i}]`, "an object", item);
    return read(item, `${where}.${key}[${i}]`);
  });
}

function texts(obj, key, where) {
  const value = object(obj, key, where);
  return { sv: str(value, "sv", `${where}.${key}`), en: str(value, "en", `${where}.${key}`) };
}

/** An alert document. An unknown kind reads as "custom": an alert is never dropped for its
 * kind, and its order text says what to do. */
export function alertDoc(obj, where = "alert") {
  const sites = array(obj, "sites", where);
  for (const site of sites) if (!Number.isInteger(site)) wrong(where, "sites[]", "an integer", site);
  const kind = str(obj, "kind", where);
  return {
    id: ident(obj, "id", where),
    kind: KINDS.has(kind) ? kind : Kind.CUSTOM,
    mode: oneOf(obj, "mode", where, MODES),
    state: oneOf(obj, "state", where, ALERT_STATES),
    sites: [...sites],
    order: texts(obj, "order", where),
    instructions: texts(obj, "instructions", where),
    created_at: str(obj, "created_at", where),
    updated_at: str(obj, "updated_at", where),
    ended_at: optStr(obj, "ended_at", where),
    created_by: str(obj, "created_by", where),
  };
}

function eventBody(obj, where) {
  return {
    seq: int(obj, "seq", where, 1),
    event: oneOf(obj, "event", where, EVENT_TYPES),
    at: str(obj, "at", where),
    actor: str(obj, "actor", where),
    changes: object(obj, "changes", where),
    alert: alertDoc(object(obj, "alert", where), `${where}.alert`),
  };
}

// Counted over entries (a person, or a device without a person); targeted, delivered and
// acked are the protocol's original names for expected, reached and answered; no_device
// counts the persons not reached because no device of theirs receives the alert.
const COUNT_KEYS = [
  "expected",
  "reached",
  "not_reached",
  "displayed",
  "answered",
  "safe",
  "need_help",
  "not_on_site",
  "targeted",
  "delivered",
  "acked",
  "no_device",
];
function counts(obj, where) {
  const result = {};
  for (const key of COUNT_KEYS) result[key] = int(obj, key, where);
  return result;
}

// Devices by the state of their latest push (one key per PushState).
const PUSH_COUNT_KEYS = Object.values(PushState);
function pushCounts(obj, key, where) {
  const value = object(obj, key, where);
  const result = {};
  for (const state of PUSH_COUNT_KEYS) result[state] = int(value, state, `${where}.${key}`);
  return result;
}

const isId = (key) => /^[0-9]+$/.test(key);

/** The site-id-keyed objects of obj[key], each read with `read` (site ids as canonical strings). */
function bySite(obj, key, where, read) {
  const result = {};
  for (const [site, value] of Object.entries(object(obj, key, where))) {
    if (!isId(site)) fail("protocol.invalid", `${where}.${key}: ${JSON.stringify(site.slice(0, 20))} is not a site id`);
    if (!isObject(value)) wrong(`${where}.${key}`, site, "an object", value);
    result[String(Number(site))] = read(value, `${where}.${key}.${site}`);
  }
  return result;
}

function zones(obj, where) {
  const result = {};
  for (const [zone, value] of Object.entries(object(obj, "zones", where))) {
    if (zone !== "none" && !isId(zone)) fail("protocol.invalid", `${where}.zones: ${JSON.stringify(zone.slice(0, 20))} is not a zone id or none`);
    if (!isObject(value)) wrong(`${where}.zones`, zone, "an object", value);
    const at = `${where}.zones.${zone}`;
    result[zone] = { name: nullableStr(value, "name", at), totals: counts(object(value, "totals", at), `${at}.totals`) };
  }
  return result;
}

/** One site of a roll call: its name, its totals and its zones (the same shape as
 * GET /api/v1/alerts/{id}/rollcall). */
function site(obj, where) {
  return {
    name: str(obj, "name", where),
    totals: counts(object(obj, "totals", where), `${where}.totals`),
    zones: zones(obj, where),
    push: pushCounts(obj, "push", where),
  };
}

function needHelp(obj, where) {
  return {
    person_id: nullableIdent(obj, "person_id", where),
    person: nullableStr(obj, "person", where),
    device_id: ident(obj, "device_id", where),
    device: str(obj, "device", where),
    kind: oneOf(obj, "kind", where, DEVICE_KINDS),
    site_id: ident(obj, "site_id", where),
    zone_id: nullableIdent(obj, "zone_id", where),
    note: str(obj, "note", where),
    location: str(obj, "location", where),
    at: nullableStr(obj, "at", where),
  };
}

function withTs(type, obj) {
  const ts = obj.ts;
  if (ts === undefined || ts === null) return { type };
  return { type, ts: number(obj, "ts", type) };
}

const DECODERS = {
  welcome(obj) {
    const heartbeat = number(obj, "heartbeat_s", "welcome");
    if (!(heartbeat > 0)) fail("protocol.invalid", "welcome.heartbeat_s must be positive");
    const device = obj.device;
    if (device !== undefined && device !== null && !isObject(device)) wrong("welcome", "device", "an object", device);
    const result = {
      type: "welcome",
      v: int(obj, "v", "welcome"),
      recovered: bool(obj, "recovered", "welcome"),
      epoch: str(obj, "epoch", "welcome"),
      seq: int(obj, "seq", "welcome"),
      active: objects(obj, "active", "welcome", alertDoc),
      events: objects(obj, "events", "welcome", eventBody),
      heartbeat_s: heartbeat,
    };
    if (isObject(device)) {
      const where = "welcome.device";
      result.device = {
        id: ident(device, "id", where),
        kind: oneOf(device, "kind", where, DEVICE_KINDS),
        name: str(device, "name", where),
        site_id: ident(device, "site_id", where),
        zone_id: optIdent(device, "zone_id", where),
      };
    }
    return result;
  },
  alert(obj) {
    return { type: "alert", ...eventBody(obj, "alert") };
  },
  pong(obj) {
    return withTs("pong", obj);
  },
  error(obj) {
    return { type: "error", code: str(obj, "code", "error"), message: str(obj, "message", "error") };
  },
  rollcall(obj) {
    const where = "rollcall";
    return {
      type: "rollcall",
      alert_id: ident(obj, "alert_id", where),
      at: str(obj, "at", where),
      totals: counts(object(obj, "totals", where), `${where}.totals`),
      sites: bySite(obj, "sites", where, site),
      need_help: objects(obj, "need_help", where, needHelp),
      not_reached_count: int(obj, "not_reached_count", where),
      not_answered_count: int(obj, "not_answered_count", where),
      push: pushCounts(obj, "push", where),
    };
  },
  presence(obj) {
    return {
      type: "presence",
      site_id: ident(obj, "site_id", "presence"),
      reachable: int(obj, "reachable", "presence"),
      unreachable: int(obj, "unreachable", "presence"),
      push: pushCounts(obj, "push", "presence"),
    };
  },
};

/** A server frame, leniently: unknown fields are dropped, known ones checked. Throws
 * ProtocolError; `protocol.unknown_type` means a newer server's message: skip it. */
export function decodeServer(data) {
  let text = data;
  if (typeof text !== "string") {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(data);
    } catch {
      fail("protocol.malformed", "not UTF-8");
    }
  }
  let obj;
  try {
    obj = JSON.parse(text);
  } catch (error) {
    fail("protocol.malformed", `not JSON: ${error.message}`);
  }
  if (!isObject(obj)) fail("protocol.malformed", `a frame is a JSON object, not ${jsonName(obj)}`);
  if (!hasOwn(obj, "type")) fail("protocol.invalid", "type is missing");
  if (typeof obj.type !== "string") wrong("frame", "type", "a string", obj.type);
  const decoder = hasOwn(DECODERS, obj.type) ? DECODERS[obj.type] : undefined;
  if (decoder === undefined) fail("protocol.unknown_type", `${JSON.stringify(obj.type.slice(0, 40))} is not a server message`);
  return decoder(obj);
}
