import assert from "node:assert/strict";
import {
  getMessageType,
  isIsoTimestamp,
  isValidMessage,
  type Message,
  parseMessage,
  validateMessage,
  validatePayload,
} from "../../protocol/mod.ts";

const encoder = new TextEncoder();

function fails(body: string | Uint8Array, reason: string, field: string | null = null): string {
  const r = parseMessage(body);
  assert.ok(!r.ok, `expected failure for ${String(body)}`);
  assert.equal(r.error.reason, reason);
  assert.equal(r.error.field, field);
  assert.match(r.error.message, /^Invalid message: /);
  return r.error.message;
}

Deno.test("parseMessage() accepts a message without message_id or timestamp and fills them in", () => {
  const r = parseMessage('{"event_type":"backup","payload":{"type":"custom"}}');
  assert.ok(r.ok);
  assert.match(r.message.message_id, /^[0-9a-f-]{36}$/);
  assert.ok(isIsoTimestamp(r.message.timestamp));
});

Deno.test("parseMessage() keeps extra envelope and payload fields", () => {
  const r = parseMessage(JSON.stringify({
    message_id: "m",
    timestamp: "2026-11-25T11:40:00.123456",
    event_type: "wallpaper",
    source: "python",
    payload: { type: "state_update", state_key: "k", state_value: {}, wallpaper_path: "/w.png" },
  }));
  assert.ok(r.ok);
  assert.equal(r.message.source, "python");
  assert.equal(r.message.payload.wallpaper_path, "/w.png");
});

Deno.test("parseMessage() gives each bad input its own reason", () => {
  fails(new Uint8Array([0x7b, 0xff, 0x7d]), "invalid_utf8");
  fails("{nope", "invalid_json");
  assert.match(fails("[1,2]", "not_object"), /an array/);
  assert.match(fails("42", "not_object"), /number/);
  assert.match(fails("null", "not_object"), /null/);
  fails('{"payload":{"type":"x"}}', "invalid_envelope", "event_type");
  fails('{"event_type":"x"}', "invalid_envelope", "payload");
  fails('{"event_type":"x","payload":{}}', "invalid_envelope", "payload.type");
  fails(
    '{"event_type":"x","payload":{"type":"y"},"timestamp":"yesterday"}',
    "invalid_envelope",
    "timestamp",
  );
  fails(
    '{"event_type":"x","payload":{"type":"y"},"timestamp":null}',
    "invalid_envelope",
    "timestamp",
  );
  fails(
    '{"event_type":"x","payload":{"type":"y"},"message_id":5}',
    "invalid_envelope",
    "message_id",
  );
  fails('{"event_type":"x","payload":{"type":"y"},"seq":0}', "invalid_envelope", "seq");
});

Deno.test("isIsoTimestamp() accepts what Python's fromisoformat accepts and rejects the rest", () => {
  for (
    const ok of [
      "2026-11-25T11:40:00.123456",
      "2026-11-25T11:40:00",
      "2026-11-25 11:40",
      "2026-11-25",
      "20261125",
      "2026-11-25T11",
      "2026-11-25T11:40:00Z",
      "2026-11-25T11:40:00.123+01:00",
      "2026-11-25T11:40:00-0530",
      "2026-W48-3",
      "2024-02-29T00:00:00",
      new Date().toISOString(),
    ]
  ) assert.ok(isIsoTimestamp(ok), ok);
  for (
    const bad of [
      "",
      "yesterday",
      "2026-13-01",
      "2026-02-29",
      "2026-11-25T25:00",
      "2026-11-25T11:60",
      "2026-11-25T",
      "2026-11-25T11:40:00+25:00",
      "1700000000",
    ]
  ) assert.ok(!isIsoTimestamp(bad), bad);
});

const base = { message_id: "m", timestamp: "2026-11-25T11:40:00.123456", event_type: "w" };

Deno.test("validatePayload() treats null optional fields as absent, as pydantic sends them", () => {
  const r = validatePayload({
    ...base,
    payload: {
      type: "operation_progress",
      operation_id: "o",
      step_id: "s",
      step_progress: 10,
      overall_progress: 5,
      step_name: null,
      total_steps: null,
      current_step: null,
    },
  });
  assert.ok(r.ok);
});

Deno.test("validatePayload() names the field and the rule when a payload is wrong", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{
      type: "operation_progress",
      operation_id: "o",
      step_id: "s",
      step_progress: 101,
      overall_progress: 5,
    }, "payload.step_progress"],
    [{
      type: "operation_progress",
      operation_id: "o",
      step_id: "s",
      step_progress: 1,
      overall_progress: 5,
      total_steps: 0,
    }, "payload.total_steps"],
    [
      { type: "operation_completed", operation_id: "o", duration_seconds: -1 },
      "payload.duration_seconds",
    ],
    [{ type: "operation_started", operation_id: "o" }, "payload.operation_name"],
    [{ type: "state_update", state_key: "k", state_value: [1] }, "payload.state_value"],
    [{ type: "query_request" }, "payload.query_type"],
    [{ type: "mystery" }, "payload.type"],
  ];
  for (const [payload, field] of cases) {
    const r = validatePayload({ ...base, payload } as Message);
    assert.ok(!r.ok, JSON.stringify(payload));
    assert.equal(r.error.field, field);
    assert.ok(r.error.message.includes(field), r.error.message);
  }
});

Deno.test("getMessageType() and isValidMessage() tell known types and valid envelopes apart", () => {
  assert.equal(
    getMessageType({ ...base, payload: { type: "operation_failed" } }),
    "operation_failed",
  );
  assert.equal(getMessageType({ ...base, payload: { type: "toString" } }), null);
  assert.ok(isValidMessage({ event_type: "w", payload: { type: "x" } }));
  assert.ok(!isValidMessage({ event_type: 3, payload: { type: "x" } }));
});

Deno.test("validateMessage() does not let a __proto__ key pollute prototypes", () => {
  const value = JSON.parse(
    '{"event_type":"w","payload":{"type":"x","__proto__":{"polluted":true}},"__proto__":{"polluted":true}}',
  );
  const r = validateMessage(value);
  assert.ok(r.ok);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.getPrototypeOf(r.message), Object.prototype);
});

Deno.test("parseMessage() handles a body encoded as bytes the same as a string", () => {
  const text = JSON.stringify({ ...base, payload: { type: "x", name: "ünïcødé ✓" } });
  const a = parseMessage(text);
  const b = parseMessage(encoder.encode(text));
  assert.ok(a.ok && b.ok);
  assert.deepEqual(a.message, b.message);
});
