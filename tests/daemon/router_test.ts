import assert from "node:assert/strict";
import type { RoutedBatch } from "../../daemon/_pending_frames.ts";
import { MAX_NESTING_DEPTH } from "../../daemon/_router.ts";
import { isValidEventType, validateMessage } from "../../protocol/mod.ts";
import { Prng } from "../protocol/_prng.ts";
import { frameBodies, routerHarness } from "./_router_harness.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const harness = routerHarness;
const bodies = frameBodies;

function message(eventType: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    message_id: "m",
    timestamp: "2026-11-25T11:40:00.123456",
    event_type: eventType,
    payload: { type: "state_update", state_key: "k", state_value: {} },
    ...extra,
  });
}

Deno.test("Router splices seq before the closing brace and leaves every other byte as sent", () => {
  using h = harness();
  const text = ' {"message_id":"a","timestamp":"2026-01-01T00:00:00Z","event_type":"t",' +
    '"payload":{"type":"x","s":"}"} }  ';
  h.router.route(encoder.encode(text));
  h.router.route(encoder.encode(text));
  const batch = h.router.take()!;
  assert.equal(batch.frames, 2);
  assert.deepEqual(bodies(batch.types[0]!.bytes), [
    text.slice(0, text.lastIndexOf("}")) + ',"seq":1' + text.slice(text.lastIndexOf("}")),
    text.slice(0, text.lastIndexOf("}")) + ',"seq":2' + text.slice(text.lastIndexOf("}")),
  ]);
  assert.equal(h.router.take(), null);
});

Deno.test("Router fills in a missing message_id and timestamp, and replaces a sender's seq", () => {
  using h = harness();
  h.router.route(encoder.encode('{"event_type":"t","payload":{"type":"x"}}'));
  h.router.route(encoder.encode(message("t", { seq: 99 })));
  const [filled, replaced] = bodies(h.router.take()!.types[0]!.bytes).map((b) => JSON.parse(b));
  assert.match(filled.message_id, /^[0-9a-f-]{36}$/);
  assert.ok(!Number.isNaN(Date.parse(filled.timestamp)));
  assert.equal(filled.seq, 1);
  assert.equal(replaced.seq, 2);
  assert.equal(replaced.message_id, "m");
});

Deno.test("Router records a message before it hands out its frame, and groups frames per type", () => {
  using h = harness();
  h.router.route(encoder.encode(message("a")));
  h.router.route(encoder.encode(message("b")));
  h.router.route(encoder.encode(message("a")));
  // Recorded (and numbered) at once; written before take() returns.
  assert.equal(h.state.lastSeq("a"), 2);
  assert.equal(h.router.pending, 3);
  const batch = h.router.take()!;
  assert.deepEqual(batch.types.map((t) => [t.eventType, t.frames]), [["a", 2], ["b", 1]]);
  assert.deepEqual(
    bodies(batch.all()).map((b) => [JSON.parse(b).event_type, JSON.parse(b).seq]),
    [["a", 1], ["b", 1], ["a", 2]],
  );
  assert.equal(h.state.currentState("a").state.k !== undefined, true);
});

Deno.test("Router rejects and counts: too deep, routed oversized, strict payloads, refused types", () => {
  using h = harness({ maxMessageSize: 300, strictPayloads: true, maxTypes: 1 });
  const deep = `{"event_type":"t","message_id":"m","timestamp":"2026-01-01T00:00:00Z",` +
    `"payload":{"type":"x","d":${"[".repeat(MAX_NESTING_DEPTH + 1)}${
      "]".repeat(MAX_NESTING_DEPTH + 1)
    }}}`;
  h.router.route(encoder.encode(deep));
  const near = message("t", { pad: "x".repeat(300 - message("t", { pad: "" }).length) });
  assert.equal(near.length, 300);
  h.router.route(encoder.encode(near)); // fits as sent, not with ,"seq":1
  h.router.route(encoder.encode(message("t", { payload: { type: "operation_started" } })));
  h.router.route(encoder.encode(message("t")));
  h.router.route(encoder.encode(message("u")));
  h.router.route(encoder.encode(message("../x")));
  assert.deepEqual(Object.fromEntries(h.counters.badFrames), {
    too_deep: 1,
    routed_oversized: 1,
    invalid_payload: 1,
    too_many_event_types: 1,
    invalid_event_type: 1,
  });
  assert.equal(h.counters.payloadInvalid, 1);
  assert.equal(h.counters.rejectedEventTypes, 2);
  assert.equal(h.counters.messagesIn, 6);
  assert.equal(h.counters.messagesRouted, 1);
  assert.deepEqual(bodies(h.router.take()!.all()).map((b) => JSON.parse(b).seq), [1]);
});

Deno.test("Router numbers a stale operation's synthesized message after the type's last seq", () => {
  using h = harness();
  h.router.route(encoder.encode(message("t")));
  assert.equal(
    h.router.routeStale({
      message_id: "s",
      timestamp: "2026-01-01T00:00:00Z",
      event_type: "t",
      payload: { type: "operation_failed", operation_id: "op", error_code: "STALE" },
    }),
    true,
  );
  assert.equal(h.counters.staleOperations, 1);
  assert.deepEqual(bodies(h.router.take()!.all()).map((b) => JSON.parse(b).seq), [1, 2]);
  assert.ok(h.logs.some((line) => line.startsWith("WARN operation marked stale")));
});

const SEEDS = ["t", "a.b", "x", "../x", "", "é"];
const PIECES = [
  '"',
  "}",
  "{",
  "[",
  "]",
  ",",
  ":",
  "\\",
  "\\u00",
  "null",
  "1e999",
  "\u2028",
  "\xff",
];

/** A body made by mutating a valid message, or random bytes. */
function fuzzBody(random: () => number): Uint8Array {
  const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)]!;
  if (random() < 0.05) {
    return Uint8Array.from({ length: Math.floor(random() * 64) }, () => random() * 256);
  }
  const fields: Record<string, unknown> = {
    event_type: pick(SEEDS),
    payload: { type: pick(["state_update", "operation_progress", "x"]), state_key: "k" },
  };
  if (random() < 0.7) fields.message_id = random() < 0.9 ? `m${random()}` : 7;
  if (random() < 0.7) fields.timestamp = random() < 0.9 ? "2026-11-25T11:40:00" : "noon";
  if (random() < 0.05) fields.seq = 5;
  if (random() < 0.1) fields.extra = { nested: [1, "}", { s: '"}' }] };
  let text = JSON.stringify(fields);
  if (random() < 0.1) text = " " + text + "\n";
  if (random() < 0.3) {
    const at = Math.floor(random() * text.length);
    const cut = random() < 0.5 ? 1 : 0;
    text = text.slice(0, at) + pick(PIECES) + text.slice(at + cut);
  }
  const bytes = encoder.encode(text);
  if (random() < 0.02) bytes[Math.floor(random() * bytes.length)] = 0xc3;
  return bytes;
}

/** What the router should do with a body, decided from JSON.parse and the validator alone. */
function expected(body: Uint8Array, maxMessageSize: number): "route" | "reject" {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    return "reject";
  }
  const checked = validateMessage(value);
  if (!checked.ok || !isValidEventType(checked.message.event_type)) return "reject";
  const raw = value as Record<string, unknown>;
  const added = ',"seq":9'.length + (raw.message_id === undefined ? 52 : 0) +
    (raw.timestamp === undefined ? 40 : 0);
  // Only bodies well away from the limit are judged here.
  return body.byteLength + added < maxMessageSize ? "route" : "reject";
}

Deno.test("Router, fuzzed: every body is routed or counted once, routed bytes are the sender's plus seq, seq has no gap", () => {
  const seed = Number(Deno.env.get("ROUTER_FUZZ_SEED") ?? Date.now() % 1_000_000);
  const prng = new Prng(seed);
  const random = () => prng.next();
  using h = harness();
  const lastSeq = new Map<string, number>();
  const n = 5000;
  let routedExpected = 0;
  for (let read = 0; read < n / 50; read++) {
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 50; i++) {
      const body = fuzzBody(random);
      if (expected(body, 1024 * 1024) === "route") {
        routedExpected++;
        sent.push(body);
      }
      h.router.route(body);
    }
    const batch: RoutedBatch | null = h.router.take();
    const out = batch === null ? [] : bodies(batch.all());
    assert.equal(out.length, sent.length, `seed ${seed}: routed count`);
    out.forEach((text, i) => {
      const original = decoder.decode(sent[i]!);
      const routed = JSON.parse(text);
      const type = routed.event_type;
      const seq = (lastSeq.get(type) ?? 0) + 1;
      lastSeq.set(type, seq);
      assert.equal(routed.seq, seq, `seed ${seed}: seq of ${type}`);
      if (!original.includes('"seq"')) {
        // The sender's bytes, with only the added fields before the last brace.
        const close = original.lastIndexOf("}");
        assert.equal(text.slice(0, close), original.slice(0, close), `seed ${seed}`);
        assert.equal(text.slice(text.length - (original.length - close)), original.slice(close));
      }
      assert.deepEqual(
        { ...JSON.parse(original), seq: undefined, message_id: undefined, timestamp: undefined },
        { ...routed, seq: undefined, message_id: undefined, timestamp: undefined },
      );
    });
    if (batch !== null) {
      for (const t of batch.types) {
        assert.ok(bodies(t.bytes).every((b) => JSON.parse(b).event_type === t.eventType));
      }
    }
  }
  const rejected = [...h.counters.badFrames.values()].reduce((a, b) => a + b, 0);
  assert.equal(h.counters.messagesIn, n);
  assert.equal(h.counters.messagesRouted, routedExpected, `seed ${seed}`);
  assert.equal(h.counters.messagesRouted + rejected, n, `seed ${seed}: counted once each`);
  for (const [type, seq] of lastSeq) assert.equal(h.state.lastSeq(type), seq);
});
