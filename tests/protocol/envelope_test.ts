import assert from "node:assert/strict";
import type { z } from "zod";
import { validateMessage } from "../../protocol/mod.ts";
import { envelopeIssue } from "../../protocol/_envelope.ts";
import { messageSchema } from "../../protocol/_schemas.ts";
import { fuzzSeed, Prng } from "./_prng.ts";

/** What validateMessage answered before the envelope check was written out: zod. */
function oracle(value: Record<string, unknown>):
  | { ok: true; message: Record<string, unknown> }
  | { ok: false; field: string; message: string } {
  const parsed = messageSchema.safeParse(value);
  if (parsed.success) return { ok: true, message: parsed.data as Record<string, unknown> };
  const issue: z.core.$ZodIssue = parsed.error.issues[0]!;
  const field = issue.path.map(String).join(".");
  const text = issue.code === "invalid_type" && issue.message.startsWith("Invalid input")
    ? `expected ${issue.expected}`
    : issue.message;
  return {
    ok: false,
    field,
    message: `Invalid message: field '${field || "(root)"}' ${
      /^(expected|Invalid)/.test(text) ? "is invalid: " : ""
    }${text}`,
  };
}

/** Drops the fields zod and the copy fill in at random, keeping their presence. */
function normalise(message: Record<string, unknown>, input: Record<string, unknown>): unknown {
  const out = { ...message };
  if (input.message_id === undefined) {
    assert.match(
      String(out.message_id),
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    out.message_id = "(filled)";
  }
  if (input.timestamp === undefined) {
    assert.ok(!Number.isNaN(Date.parse(String(out.timestamp))));
    out.timestamp = "(filled)";
  }
  return out;
}

function compare(text: string): "accepted" | "refused" {
  const value = JSON.parse(text) as Record<string, unknown>;
  const want = oracle(value);
  const got = validateMessage(value);
  const issue = envelopeIssue(value);
  assert.equal(got.ok, want.ok, `validateMessage disagrees with zod on ${text}`);
  assert.equal(issue === null, want.ok, `envelopeIssue disagrees with zod on ${text}`);
  if (!want.ok) {
    assert.ok(!got.ok);
    assert.equal(got.error.field, want.field, text);
    assert.equal(got.error.message, want.message, text);
    assert.equal(got.error.reason, "invalid_envelope");
    assert.equal(issue?.field, want.field);
    return "refused";
  }
  assert.ok(got.ok);
  const a = normalise(got.message, value) as Record<string, unknown>;
  const b = normalise(want.message, value) as Record<string, unknown>;
  assert.deepEqual(a, b, text);
  assert.deepEqual(Object.keys(a), Object.keys(b), `key order: ${text}`);
  assert.deepEqual(
    Object.keys(a.payload as object),
    Object.keys(b.payload as object),
    `payload key order: ${text}`,
  );
  assert.equal(Object.getPrototypeOf(a.payload), Object.getPrototypeOf(b.payload));
  assert.notEqual(got.message, value, "validateMessage must not return its input");
  return "accepted";
}

Deno.test("validateMessage() words each envelope refusal as before", () => {
  const cases: [string, string, string][] = [
    ['{"event_type":"x","payload":{"type":"y"},"message_id":5}', "message_id", "expected a string"],
    [
      '{"event_type":"x","payload":{"type":"y"},"message_id":""}',
      "message_id",
      "expected a non-empty string",
    ],
    ['{"event_type":"x","payload":{"type":"y"},"timestamp":7}', "timestamp", "expected a string"],
    [
      '{"event_type":"x","payload":{"type":"y"},"timestamp":"now"}',
      "timestamp",
      "expected an ISO-8601 timestamp",
    ],
    ['{"payload":{"type":"y"}}', "event_type", "expected a string"],
    ['{"event_type":"","payload":{"type":"y"}}', "event_type", "expected a non-empty string"],
    ['{"event_type":"x","payload":[]}', "payload", "expected a JSON object with a string 'type'"],
    ['{"event_type":"x","payload":{"type":null}}', "payload.type", "expected a string"],
    [
      '{"event_type":"x","payload":{"type":"y"},"seq":0}',
      "seq",
      "expected an integer of at least 1",
    ],
    [
      '{"event_type":"x","payload":{"type":"y"},"seq":9007199254740992}',
      "seq",
      "expected an integer of at least 1",
    ],
    // The first failing field in schema order wins, whatever the key order.
    [
      '{"seq":0,"payload":1,"event_type":2,"timestamp":"x","message_id":""}',
      "message_id",
      "expected a non-empty string",
    ],
  ];
  for (const [text, field, expected] of cases) {
    const r = validateMessage(JSON.parse(text));
    assert.ok(!r.ok, text);
    assert.equal(r.error.field, field, text);
    assert.equal(r.error.message, `Invalid message: field '${field}' is invalid: ${expected}`);
    compare(text);
  }
});

const STRINGS = [
  '"m-1"',
  '""',
  '"x"',
  '"2026-11-25T11:40:00.123456"',
  '"2026-11-25T11:40:00.123Z"',
  '"2026-02-30"',
  '"wallpaper"',
  '"\\u0000"',
  '"\\ud800"',
  '"é"',
  '"state_update"',
  '"custom"',
];
const OTHERS = [
  "null",
  "true",
  "false",
  "0",
  "1",
  "-1",
  "1.5",
  "2",
  "1e0",
  "1E2",
  "-0",
  "9007199254740991",
  "9007199254740992",
  "1e300",
  "[]",
  '["x"]',
  "{}",
  '{"type":"y"}',
  '{"type":""}',
  '{"type":1}',
];
const KEYS = [
  "message_id",
  "timestamp",
  "event_type",
  "payload",
  "seq",
  "__proto__",
  "constructor",
  "toString",
  "extra",
  "hasOwnProperty",
  "0",
  "",
];

function randomValue(rng: Prng, key: string): string {
  if (key === "payload" && rng.chance(0.7)) return randomPayload(rng);
  if (key === "timestamp" && rng.chance(0.5)) {
    return rng.pick(['"2026-11-25T11:40:00.123456"', '"2026-11-25"', '"2026-W01-1T00:00Z"', '"x"']);
  }
  if (key === "seq" && rng.chance(0.5)) return rng.pick(["1", "2", "0", "-3", "1.0", "1.25"]);
  return rng.chance(0.6) ? rng.pick(STRINGS) : rng.pick(OTHERS);
}

function randomPayload(rng: Prng): string {
  const parts: string[] = [];
  const n = rng.int(5);
  if (rng.chance(0.85)) {
    parts.push(`"type":${rng.chance(0.8) ? rng.pick(STRINGS) : rng.pick(OTHERS)}`);
  }
  for (let i = 0; i < n; i++) {
    const key = rng.pick(["type", "state_key", "state_value", "__proto__", "a", "b"]);
    parts.splice(rng.int(parts.length + 1), 0, `"${key}":${rng.pick([...STRINGS, ...OTHERS])}`);
  }
  return `{${parts.join(",")}}`;
}

Deno.test("validateMessage() agrees with the zod envelope schema on random envelopes", () => {
  const seed = fuzzSeed(0xe11_0001);
  const rng = new Prng(seed);
  const seen = { accepted: 0, refused: 0 };
  for (let i = 0; i < 40_000; i++) {
    const parts: string[] = [];
    // Mostly a valid envelope, then perturbed; duplicate keys are kept (JSON.parse keeps the last).
    if (rng.chance(0.8)) {
      parts.push(
        `"event_type":${rng.chance(0.8) ? '"wallpaper"' : randomValue(rng, "event_type")}`,
      );
    }
    if (rng.chance(0.8)) {
      parts.push(
        `"payload":${rng.chance(0.8) ? '{"type":"custom","a":1}' : randomValue(rng, "payload")}`,
      );
    }
    const extra = rng.int(5);
    for (let j = 0; j < extra; j++) {
      const key = rng.pick(KEYS);
      parts.splice(rng.int(parts.length + 1), 0, `"${key}":${randomValue(rng, key)}`);
    }
    try {
      seen[compare(`{${parts.join(",")}}`)]++;
    } catch (error) {
      throw new Error(`seed ${seed}, case ${i}`, { cause: error });
    }
  }
  assert.ok(seen.accepted > 5_000 && seen.refused > 5_000, JSON.stringify(seen));
});
