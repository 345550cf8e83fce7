import assert from "node:assert/strict";
import { fuzzSeed, Prng } from "../protocol/_prng.ts";
import { frameBodies as frames, type RouterHarness, routerHarness } from "./_router_harness.ts";

const encoder = new TextEncoder();

function harness(): RouterHarness {
  return routerHarness({ maxMessageSize: 4096, logLevel: "error" });
}

/** A routed frame with the fields the router may fill in at random masked. */
function masked(text: string): string {
  return text
    .replace(/"message_id":"[0-9a-f-]{36}"/g, '"message_id":"(filled)"')
    .replace(/"timestamp":"\d{4}-\d\d-\d\dT[\d:.]+Z"(?=[,}])/g, '"timestamp":"(filled)"');
}

/** Mostly valid ASCII messages (the joined decode), some not ASCII, some broken. */
function body(rng: Prng, clean: boolean): Uint8Array {
  const fields: Record<string, unknown> = {
    event_type: rng.pick(["a", "b", "a", "../x"]),
    payload: { type: rng.pick(["state_update", "custom"]), state_key: "k", state_value: { n: 1 } },
  };
  if (rng.chance(0.8)) fields.message_id = `m${rng.int(1000)}`;
  if (rng.chance(0.8)) fields.timestamp = rng.pick(["2026-11-25T11:40:00.123456", "noon"]);
  if (rng.chance(0.05)) fields.seq = 3;
  if (clean) return encoder.encode(JSON.stringify(fields));
  if (rng.chance(0.05)) fields.path = "/home/é/w.png";
  if (rng.chance(0.03)) fields.pad = "x".repeat(4000);
  let text = JSON.stringify(fields);
  if (rng.chance(0.05)) text = text.slice(0, rng.int(text.length));
  if (rng.chance(0.05)) text = ` ${text}\n`;
  const bytes = encoder.encode(text);
  if (rng.chance(0.02)) return Uint8Array.from([0xef, 0xbb, 0xbf, ...bytes]);
  if (rng.chance(0.02)) bytes[rng.int(bytes.length)] = 0xff;
  return bytes;
}

Deno.test("Router.routeAll routes a read exactly as route() does body by body", () => {
  const seed = fuzzSeed(0x40_7e_a11);
  const rng = new Prng(seed);
  using together = harness();
  using apart = harness();
  for (let read = 0; read < 400; read++) {
    // Half the reads all ASCII and whole, so that they are decoded at once.
    const clean = rng.chance(0.5);
    const bodies = Array.from({ length: 1 + rng.int(40) }, () => body(rng, clean));
    together.router.routeAll(bodies);
    for (const b of bodies) apart.router.route(b);
    const a = together.router.take();
    const b = apart.router.take();
    assert.equal(a === null, b === null, `seed ${seed}, read ${read}`);
    if (a === null || b === null) continue;
    assert.deepEqual(frames(a.all()).map(masked), frames(b.all()).map(masked), `seed ${seed}`);
    assert.deepEqual(
      a.types.map((t) => [t.eventType, t.frames, frames(t.bytes).map(masked)]),
      b.types.map((t) => [t.eventType, t.frames, frames(t.bytes).map(masked)]),
    );
  }
  for (const key of ["messagesIn", "messagesRouted", "rejectedEventTypes"] as const) {
    assert.equal(together.counters[key], apart.counters[key], key);
  }
  assert.deepEqual(together.counters.badFrames, apart.counters.badFrames);
  assert.deepEqual(together.counters.messagesInByType, apart.counters.messagesInByType);
  assert.ok((together.counters.badFrames.get("invalid_utf8") ?? 0) > 0, "no invalid UTF-8 read");
  for (const type of ["a", "b"]) {
    assert.equal(together.state.lastSeq(type), apart.state.lastSeq(type));
    assert.deepEqual(
      together.state.historyBodies(type, { limit: 1000 }).bodies.map(masked),
      apart.state.historyBodies(type, { limit: 1000 }).bodies.map(masked),
    );
  }
});

Deno.test("Router.take writes a one-type read into one buffer that is also the firehose's", () => {
  using h = harness();
  const text = '{"event_type":"a","message_id":"m","payload":{"type":"x"}}';
  h.router.routeAll([encoder.encode(text), encoder.encode(text)]);
  const batch = h.router.take()!;
  assert.equal(batch.types.length, 1);
  assert.equal(batch.all(), batch.types[0]!.bytes);
  const [first, second] = frames(batch.all());
  assert.match(
    first!,
    /^\{"event_type":"a","message_id":"m","payload":\{"type":"x"\},"seq":1,"timestamp":"[^"]+"\}$/,
  );
  assert.match(second!, /,"seq":2,/);
});

Deno.test("Router history holds each routed message as its own string, not a view of the read", () => {
  using h = harness();
  const text = (n: number) =>
    `{"event_type":"a","message_id":"m${n}","timestamp":"2026-01-01","payload":{"type":"x"}}`;
  h.router.routeAll([encoder.encode(text(1)), encoder.encode(text(2))]);
  h.router.take();
  assert.deepEqual(h.state.historyBodies("a", { limit: 10 }).bodies, [
    text(1).slice(0, -1) + ',"seq":1}',
    text(2).slice(0, -1) + ',"seq":2}',
  ]);
});
