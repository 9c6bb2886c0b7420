// LiveConnection's heartbeat watchdog (docs/protocol.md §7), in Node with a scripted socket:
// a connection that stops sending frames is dropped and replaced; one whose pongs come is kept.
// Run by tests/web/test_live_connection.py; prints one JSON line with what happened.
import assert from "node:assert/strict";

// what the page's modules touch of a browser when they load
globalThis.document = { documentElement: {} };
globalThis.localStorage = { getItem: () => null, setItem: () => {} };
const { LiveConnection } = await import(process.env.PDV_LIVE_JS);

const HEARTBEAT_S = 0.05;
const sockets = [];

class ScriptedSocket {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    sockets.push(this);
    setTimeout(() => {
      this.readyState = 1;
      this.onopen?.();
    }, 0);
  }
  send(data) {
    this.sent.push(JSON.parse(data));
    const frame = this.sent.at(-1);
    if (frame.type === "hello") {
      this.deliver({ type: "welcome", v: 1, recovered: false, epoch: "e1", seq: 0, active: [], events: [], heartbeat_s: HEARTBEAT_S, device: null });
    } else if (frame.type === "ping" && this.answersPings) {
      this.deliver({ type: "pong", ts: frame.ts });
    }
  }
  deliver(frame) {
    setTimeout(() => this.onmessage?.({ data: JSON.stringify(frame) }), 1);
  }
  close(code) {
    this.closedWith = code;
    this.readyState = 3;
  }
}

function connection(answersPings) {
  sockets.length = 0;
  ScriptedSocket.prototype.answersPings = answersPings;
  const live = new LiveConnection({
    token: "pdvd_x",
    client: { name: "test", version: "1" },
    language: "sv",
    storageKey: null,
    WebSocketImpl: ScriptedSocket,
  });
  live.wsUrl = "ws://127.0.0.1:1/ws"; // known: no /config fetch
  const health = [];
  live.addEventListener("health", (event) => health.push(event.detail));
  return { live, health };
}

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const result = {};

{
  const { live, health } = connection(false); // a dead connection: no pong ever comes
  live.start();
  await wait(HEARTBEAT_S * 1000 * 4);
  assert.equal(sockets[0].closedWith, 4000, "the silent connection is closed");
  assert.deepEqual(health.map((h) => h.health).slice(0, 2), ["connected", "disconnected"]);
  assert.equal(health[1].code, 1006);
  await wait(1100); // the reconnect backoff after 1006 (0.5 s × up to 2 with jitter)
  assert.ok(sockets.length >= 2, "a new connection is opened");
  result.silent = { closed: sockets[0].closedWith, health: health.map((h) => h.health) };
  live.stop();
}

{
  const { live, health } = connection(true); // a healthy connection: every ping is answered
  live.start();
  await wait(HEARTBEAT_S * 1000 * 8);
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].closedWith, null, "a connection whose pongs come is kept");
  assert.ok(sockets[0].sent.filter((f) => f.type === "ping").length >= 3);
  result.healthy = { closed: sockets[0].closedWith, health: health.map((h) => h.health) };
  live.stop();
}

{
  // a background tab: the browser runs the page's timers only every 4 × heartbeat_s here
  const realSetInterval = globalThis.setInterval;
  globalThis.setInterval = (callback, ms) => realSetInterval(callback, ms * 4);
  const { live, health } = connection(true);
  live.start();
  await wait(HEARTBEAT_S * 1000 * 20);
  globalThis.setInterval = realSetInterval;
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].closedWith, null, "a quiet connection that answers its pings is kept");
  result.throttled = { closed: sockets[0].closedWith, health: health.map((h) => h.health) };
  live.stop();
}

console.log(JSON.stringify(result));
