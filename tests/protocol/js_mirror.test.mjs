// Run by tests/protocol/test_js_mirror.py: checks server/web/protocol.js against examples that
// the Python package generated (PDV_PROTOCOL_EXAMPLES) and writes the frames JS built to
// PDV_PROTOCOL_OUT so Python can decode them strictly.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { after, test } from "node:test";

const P = await import(process.env.PDV_PROTOCOL_JS);
const examples = JSON.parse(readFileSync(process.env.PDV_PROTOCOL_EXAMPLES, "utf-8"));
const out = { checked: 0, acks: [], built: [] };

after(() => writeFileSync(process.env.PDV_PROTOCOL_OUT, JSON.stringify(out), "utf-8"));

test("constants match Python", () => {
  for (const [name, value] of Object.entries(examples.constants)) {
    assert.equal(P[name], value, name);
    out.checked++;
  }
  assert.deepEqual({ ...P.LIMITS }, examples.limits);
  assert.deepEqual([...P.ERROR_CODES].sort(), examples.errorCodes);
});

test("vocabulary matches protocol/vocabulary.py", () => {
  for (const [name, members] of Object.entries(examples.vocabulary)) {
    assert.deepEqual({ ...P[name] }, members, name);
    out.checked++;
  }
});

test("close codes and reconnect rules match", () => {
  assert.deepEqual({ ...P.CLOSE }, examples.close);
  for (const [code, info] of Object.entries(examples.closeCodes)) {
    const js = P.closeInfo(Number(code));
    assert.equal(js.reason, info.reason, code);
    assert.equal(js.reconnect, info.reconnect, code);
    out.checked++;
  }
  assert.equal(P.closeInfo(4999).reconnect, P.Reconnect.BACKOFF);
});

test("reconnect delays match", () => {
  for (const [attempt, random, delay] of examples.reconnectDelays) {
    assert.ok(Math.abs(P.reconnectDelay(attempt, random) - delay) < 1e-12, `${attempt} ${random}`);
    out.checked++;
  }
  for (const [code, attempt, random, delay] of examples.delaysAfterClose) {
    const js = P.delayAfterClose(code, attempt, random);
    if (delay === null) assert.equal(js, null, `${code}`);
    else assert.ok(Math.abs(js - delay) < 1e-12, `${code} ${attempt} ${random}`);
    out.checked++;
  }
});

function build(message) {
  switch (message.type) {
    case "hello":
      return P.hello({
        token: message.token,
        epoch: message.epoch,
        last_seq: message.last_seq,
        client: { ...message.client },
        language: message.language,
      });
    case "receipt":
      return P.receipt(message.alert_id, message.state);
    case "ack":
      return P.ack(message.alert_id, message.response, { note: message.note, location: message.location });
    case "ping":
      return P.ping(message.ts);
    default:
      throw new Error(`no builder for ${message.type}`);
  }
}

test("builders encode client frames byte for byte like Python", () => {
  for (const { frame, message } of examples.client) {
    const built = P.encode(build(message));
    assert.equal(built, frame);
    assert.equal(P.encode(JSON.parse(frame)), frame);
    out.built.push(built);
    out.checked++;
  }
  assert.throws(() => P.encode({ alert_id: 1 }), TypeError);
});

test("ack() fits any note and location within the limits", () => {
  for (const { note, location } of examples.hostileNotes) {
    const message = P.ack(12, P.Response.NEED_HELP, { note, location });
    assert.ok(Array.from(message.note).length <= P.LIMITS.note);
    assert.ok(Array.from(message.location).length <= P.LIMITS.location);
    out.acks.push(P.encode(message));
    out.checked++;
  }
});

test("decodeServer reads server frames exactly as Python does", () => {
  for (const { name, frame, expected } of examples.server) {
    assert.deepStrictEqual(P.decodeServer(frame), expected, name);
    assert.deepStrictEqual(P.decodeServer(new TextEncoder().encode(frame)), expected, name);
    out.checked++;
  }
});

test("decodeServer fails with Python's error codes", () => {
  for (const { frame, code } of examples.serverErrors) {
    assert.throws(
      () => P.decodeServer(frame),
      (error) => error instanceof P.ProtocolError && error.code === code,
      `${frame} → ${code}`,
    );
    out.checked++;
  }
  assert.throws(
    () => P.decodeServer(new Uint8Array([0x7b, 0xff, 0x7d])),
    (error) => error.code === "protocol.malformed",
  );
});

test("an unknown alert kind reads as custom", () => {
  const frame = examples.server.find((e) => e.name === "alert").frame;
  const obj = JSON.parse(frame);
  obj.alert.kind = "bomb_threat";
  assert.equal(P.decodeServer(JSON.stringify(obj)).alert.kind, P.Kind.CUSTOM);
  out.checked++;
});

test("a roll call keeps need-help entries whole and zone keys as given", () => {
  const frame = examples.server.find((e) => e.name === "rollcall").frame;
  const message = P.decodeServer(frame);
  assert.deepEqual(Object.keys(message.sites["1"].zones).sort(), ["10", "none"]);
  assert.equal(message.sites["1"].zones.none.name, null);
  assert.equal(message.need_help.length, 2);
  assert.equal(message.need_help[1].person, null);
  assert.equal(message.totals.expected, message.totals.targeted);
  out.checked++;
});
