/**
 * The benchmark's own parts: message layout and raw-byte checks, the RESP
 * and frame parsers, the baseline relay's routing of runs and its lossless
 * backpressure, and one flood through the client on every system that is
 * installed.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  benchBody,
  counterOf,
  isBenchBody,
  PROBE,
  publisherOf,
  seqOf,
} from "../../bench/_message.ts";
import { parseFrames, parsePushes, resp } from "../../bench/_wire.ts";
import { LineReader, runClient } from "../../bench/_proc.ts";
import { startSystem, SYSTEMS, unavailable } from "../../bench/_systems.ts";
import { encodeFrame } from "../../protocol/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("bench body: publisher, counter and seq read from the raw bytes", () => {
  const body = benchBody("bench", { p: 3, n: 123456789, t: 1.5, size: 250 });
  const parsed = JSON.parse(dec.decode(body));
  assert.equal(parsed.event_type, "bench");
  assert.equal(parsed.payload.state_value.bench_t, 1.5);
  assert.ok(Math.abs(body.byteLength - 250) <= 2, `body is ${body.byteLength} bytes`);
  assert.ok(isBenchBody(body));
  assert.equal(publisherOf(body), 3);
  assert.equal(counterOf(body), 123456789);
  assert.equal(seqOf(body), -1);
  // The daemon splices seq in as the last key.
  const text = dec.decode(body);
  const spliced = enc.encode(`${text.slice(0, -1)},"seq":4021}`);
  assert.equal(seqOf(spliced), 4021);
  assert.equal(counterOf(spliced), 123456789);
  assert.equal(publisherOf(benchBody("x", { p: PROBE, n: 0, t: 0, size: 10 })), PROBE);
  assert.equal(isBenchBody(enc.encode('{"message_id":"not-a-bench-id-at-all-no","x":1}')), false);
});

/** Feeds `stream` cut at `cut` the way the client reads: parse, carry the rest. */
function feed(
  stream: Uint8Array,
  cut: number,
  parse: (b: Uint8Array, on: (x: Uint8Array) => void) => number,
): string[] {
  const got: string[] = [];
  const on = (x: Uint8Array) => got.push(dec.decode(x));
  const first = stream.subarray(0, cut);
  const used = parse(first, on);
  const rest = new Uint8Array(stream.byteLength - used);
  rest.set(stream.subarray(used));
  assert.equal(parse(rest, on), rest.byteLength);
  return got;
}

Deno.test("RESP pushes: subscribe confirmations skipped, messages whole at every cut", () => {
  const sub = enc.encode("*3\r\n$9\r\nsubscribe\r\n$5\r\nbench\r\n:1\r\n");
  const msg = (p: string) => resp("message", "bench", p);
  const stream = new Uint8Array([...sub, ...msg("first\r\nbody"), ...msg(""), ...msg("third")]);
  for (let cut = 0; cut <= stream.byteLength; cut++) {
    assert.deepEqual(feed(stream, cut, parsePushes), ["first\r\nbody", "", "third"], `cut ${cut}`);
  }
});

Deno.test("frames: bodies whole at every cut", () => {
  const stream = new Uint8Array([
    ...encodeFrame(enc.encode("a")),
    ...encodeFrame(enc.encode("bc")),
    ...encodeFrame(enc.encode("def")),
  ]);
  for (let cut = 0; cut <= stream.byteLength; cut++) {
    assert.deepEqual(feed(stream, cut, parseFrames), ["a", "bc", "def"], `cut ${cut}`);
  }
});

async function readFrames(conn: Deno.UnixConn, count: number): Promise<string[]> {
  const got: string[] = [];
  let carry = new Uint8Array(0);
  const buf = new Uint8Array(64 * 1024);
  while (got.length < count) {
    const n = await conn.read(buf);
    if (n === null) break;
    const all = new Uint8Array(carry.byteLength + n);
    all.set(carry);
    all.set(buf.subarray(0, n), carry.byteLength);
    const used = parseFrames(all, (b) => got.push(dec.decode(b)));
    carry = all.slice(used);
  }
  return got;
}

async function connectRetry(path: string): Promise<Deno.UnixConn> {
  for (let i = 0;; i++) {
    try {
      return await Deno.connect({ transport: "unix", path });
    } catch (err) {
      if (i > 200) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

Deno.test("relay: runs of frames routed by type, bytes as sent, in order, split frames too", async () => {
  const relay = await startSystem("relay", { extraArgs: ["--event-types", "a,b"] });
  const pub = await Deno.connect({ transport: "unix", path: `${relay.socketDir}/command.sock` });
  const a = await connectRetry(`${relay.socketDir}/a_events.sock`);
  const b = await connectRetry(`${relay.socketDir}/b_events.sock`);
  const all = await connectRetry(`${relay.socketDir}/events.sock`);
  try {
    await new Promise((r) => setTimeout(r, 100)); // accepted
    const bodies = [
      '{"event_type":"a","n":1}',
      '{"event_type":"a","n":2}',
      '{"n":3,"event_type": "b"}',
      '{"no_type":true}',
      '{"event_type":"a","n":4}',
      '{"event_type":"b","n":5}',
      '{"event_type":"b","n":6}',
    ];
    const bytes = new Uint8Array(bodies.flatMap((x) => [...encodeFrame(enc.encode(x))]));
    await pub.write(bytes.subarray(0, bytes.byteLength - 7));
    await new Promise((r) => setTimeout(r, 50));
    await pub.write(bytes.subarray(bytes.byteLength - 7));
    assert.deepEqual(await readFrames(a, 3), [bodies[0], bodies[1], bodies[4]]);
    assert.deepEqual(await readFrames(b, 3), [bodies[2], bodies[5], bodies[6]]);
    assert.deepEqual(await readFrames(all, 6), bodies.filter((x) => x.includes("event_type")));
  } finally {
    for (const c of [pub, a, b, all]) c.close();
    await relay.kill();
  }
});

Deno.test("relay: a stalled subscriber pauses the publisher and loses nothing", async () => {
  const relay = await startSystem("relay", { extraArgs: ["--event-types", "slow"] });
  const sub = await connectRetry(`${relay.socketDir}/slow_events.sock`);
  const pub = await Deno.connect({ transport: "unix", path: `${relay.socketDir}/command.sock` });
  try {
    await new Promise((r) => setTimeout(r, 100));
    const count = 64 * 1024; // 16 MiB of 256-byte bodies: far above the 4 MiB mark
    const frames = new Uint8Array(count * 260);
    let off = 0;
    for (let n = 0; n < count; n++) {
      const f = encodeFrame(benchBody("slow", { p: 0, n, t: 0, size: 256 }));
      frames.set(f, off);
      off += f.byteLength;
    }
    let written = 0;
    const writing = (async () => {
      while (written < off) written += await pub.write(frames.subarray(written, off));
    })();
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(written < off, `the publisher wrote all ${off} bytes to a stalled subscriber`);
    let next = 0;
    let carry = new Uint8Array(0);
    const buf = new Uint8Array(256 * 1024);
    while (next < count) {
      const n = await sub.read(buf);
      assert.notEqual(n, null);
      const all = new Uint8Array(carry.byteLength + n!);
      all.set(carry);
      all.set(buf.subarray(0, n!), carry.byteLength);
      const used = parseFrames(all, (b) => {
        assert.equal(counterOf(b), next);
        next++;
      });
      carry = all.slice(used);
    }
    await writing;
    assert.equal(next, count);
  } finally {
    pub.close();
    sub.close();
    await relay.kill();
  }
});

for (const kind of SYSTEMS) {
  const why = await unavailable(kind);
  Deno.test({
    name: `client: a flood on ${kind} reaches every subscriber, once, in order`,
    ignore: why !== null,
    async fn(): Promise<void> {
      const s = await startSystem(kind);
      try {
        const r = await runClient({
          mode: "flood",
          endpoint: s.endpoint,
          types: ["bench", "other"],
          subscribersPerType: 3,
          publishers: 2,
          messages: 3000,
          warmupMessages: 500,
        }, 30_000);
        assert.equal(r.ok, true, JSON.stringify(r));
        assert.equal(r.received, 2 * 3500 * 3);
        assert.equal(r.seqSeen, kind === "daemon");
      } finally {
        await s.kill();
      }
    },
  });
}

Deno.test("watch row: the watcher's lines are counted as lines however the pipe joins or splits them", async () => {
  // Three lines written in a burst often reach the bench as one read: the row
  // counted reads and waited 15 s for a third that had already come.
  const chunks = ['{"text":"idle"}\n', '{"a":1}\n{"b":2}\n{"c":', "3}\n"];
  const lines = new LineReader(ReadableStream.from(chunks));
  assert.equal(await lines.next(), '{"text":"idle"}');
  assert.deepEqual(
    [await lines.next(), await lines.next(), await lines.next()],
    ['{"a":1}', '{"b":2}', '{"c":3}'],
  );
  await assert.rejects(lines.next(), /the output ended/);
  await lines.cancel();
});
