/**
 * The benchmark's client process: publishers and subscribers on raw Unix
 * sockets, framed with the protocol's `encodeFrame`/`FrameDecoder`, never the
 * daemon's or the client libraries' code. Spawned by `bench/run.ts` with one
 * JSON argument (a {@linkcode ClientSpec}); prints JSON lines on stdout:
 * `{"event":"ready"}` once every subscriber is registered (seen a probe),
 * then `{"event":"result", ...}`.
 *
 * Modes:
 * - `flood`: each publisher sends `messages` frames as fast as the relay reads
 *   them, round-robin over `types`; every subscriber checks it got every
 *   message of its type from every publisher, once, in order (and, when the
 *   relay adds `seq`, that `seq` grows by exactly 1).
 * - `latency`: one publisher paced at `rate` messages/s for `durationMs`;
 *   each payload carries `performance.now()` at publish, each receipt is
 *   timed on the same clock (same process, separate connections).
 * - `hold`: subscribers connect, a probe reaches all of them, `ready` is
 *   printed, and they stay connected and idle until stdin closes.
 *
 * @module
 */

import { FrameDecoder } from "../protocol/mod.ts";
import { benchFrame, numberAfter, writeAll } from "./_message.ts";
import type { PacerJob } from "./_pacer.ts";

/** What the harness asks the client to do. */
export interface ClientSpec {
  mode: "flood" | "latency" | "hold";
  socketDir: string;
  /** Event types; publishers send round-robin over them. */
  types: string[];
  /** Subscribers on each type's socket. */
  subscribersPerType: number;
  /** Publisher connections (flood). */
  publishers?: number;
  /** Messages per publisher (flood, hold). */
  messages?: number;
  /** Body size in bytes, approximately. */
  size?: number;
  /** Paced rate, messages/s (latency). */
  rate?: number;
  /** Measured duration (latency). */
  durationMs?: number;
  /** Unmeasured lead-in at the same rate (latency). */
  warmupMs?: number;
  /** Hard limit for the whole client. */
  timeoutMs?: number;
}

const textDecoder = new TextDecoder();
const spec: ClientSpec = JSON.parse(Deno.args[0] ?? "{}");
const {
  socketDir,
  types,
  subscribersPerType,
  publishers: publisherCount = 1,
  messages = 1000,
  size = 250,
  rate = 5000,
  durationMs = 2000,
  warmupMs = 500,
  timeoutMs = 60_000,
} = spec;
const deadline = performance.now() + timeoutMs;

function emit(event: string, data: Record<string, unknown> = {}): void {
  // deno-lint-ignore no-console
  console.log(JSON.stringify({ event, ...data }));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function connect(path: string, waitMs = 10_000): Promise<Deno.UnixConn> {
  const until = performance.now() + waitMs;
  for (;;) {
    try {
      return await Deno.connect({ transport: "unix", path });
    } catch (err) {
      if (performance.now() > until) throw err;
      await sleep(10);
    }
  }
}

function body(type: string, p: number, n: number, t: number, probe = false): Uint8Array {
  return benchFrame(type, { p, n, t, size, probe });
}

/** One subscriber connection and its checks. */
class Sub {
  readonly type: string;
  readonly conn: Deno.UnixConn;
  received = 0;
  probes = 0;
  disorder = 0;
  seqGaps = 0;
  lastSeq = -1;
  lastN: number[] = [];
  latencies: number[] | null = null;
  warmupN = 0;
  ended = false;

  constructor(type: string, conn: Deno.UnixConn) {
    this.type = type;
    this.conn = conn;
  }

  onBody(bytes: Uint8Array): void {
    const now = performance.timeOrigin + performance.now();
    const text = textDecoder.decode(bytes);
    const seq = numberAfter(text, '"seq":');
    if (!Number.isNaN(seq)) {
      if (this.lastSeq >= 0 && seq !== this.lastSeq + 1) this.seqGaps++;
      this.lastSeq = seq;
    }
    if (text.includes('"bench_probe"')) {
      this.probes++;
      return;
    }
    const p = numberAfter(text, '"bench_p":');
    const n = numberAfter(text, '"bench_n":');
    const last = this.lastN[p] ?? -1;
    if (!(n > last)) this.disorder++;
    this.lastN[p] = n;
    this.received++;
    if (this.latencies !== null && n >= this.warmupN) {
      this.latencies.push(now - numberAfter(text, '"bench_t":'));
    }
    progress();
  }

  async run(): Promise<void> {
    const frames = new FrameDecoder(16 * 1024 * 1024);
    const buf = new Uint8Array(64 * 1024);
    const onBody = (b: Uint8Array) => this.onBody(b);
    try {
      for (;;) {
        const n = await this.conn.read(buf);
        if (n === null) break;
        frames.push(buf.subarray(0, n), onBody);
      }
    } catch {
      // reset or closed by us
    }
    this.ended = true;
    onProgress?.();
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

let expectedTotal = Infinity;
let receivedTotal = 0;
let doneAt = 0;
let onProgress: (() => void) | null = null;
function progress(): void {
  receivedTotal++;
  if (receivedTotal >= expectedTotal && doneAt === 0) doneAt = performance.now();
  onProgress?.();
}

const subs: Sub[] = [];
const pubs: Deno.UnixConn[] = [];
const readers: Promise<void>[] = [];

/** Sends probes until every subscriber has seen one (it is registered). */
async function sync(probeConn: Deno.UnixConn): Promise<void> {
  let round = 0;
  while (subs.some((s) => s.probes === 0)) {
    if (performance.now() > deadline) throw new Error("subscribers never all registered");
    const frames = types.map((t) => body(t, 0, round, 0, true));
    for (const f of frames) await writeAll(probeConn, f);
    round++;
    const until = performance.now() + 200;
    while (subs.some((s) => s.probes === 0) && performance.now() < until) await sleep(5);
  }
}

async function openAll(): Promise<void> {
  for (const type of types) {
    const path = `${socketDir}/${type}_events.sock`;
    for (let i = 0; i < subscribersPerType; i++) {
      const sub = new Sub(type, await connect(path));
      subs.push(sub);
      readers.push(sub.run());
    }
  }
}

function waitDone(): Promise<boolean> {
  return new Promise((resolve) => {
    const check = () => {
      if (receivedTotal >= expectedTotal || subs.every((s) => s.ended)) {
        clearTimeout(timer);
        onProgress = null;
        resolve(receivedTotal >= expectedTotal);
      }
    };
    const timer = setTimeout(() => {
      onProgress = null;
      resolve(false);
    }, Math.max(0, deadline - performance.now()));
    onProgress = check;
    check();
  });
}

function summary(): Record<string, unknown> {
  return {
    subscribers: subs.length,
    received: subs.reduce((n, s) => n + s.received, 0),
    minReceived: Math.min(...subs.map((s) => s.received)),
    disorder: subs.reduce((n, s) => n + s.disorder, 0),
    seqGaps: subs.reduce((n, s) => n + s.seqGaps, 0),
    seqSeen: subs.some((s) => s.lastSeq >= 0),
    ended: subs.filter((s) => s.ended).length,
  };
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function flood(): Promise<void> {
  // Messages of publisher p: k = 0..messages-1, type types[k % types.length].
  const perType = types.map((_, i) =>
    Math.floor(messages / types.length) + (i < messages % types.length ? 1 : 0)
  );
  const expectedPerSub = subs.map((s) => publisherCount * perType[types.indexOf(s.type)]!);
  const batches: Uint8Array[][] = [];
  for (let p = 0; p < publisherCount; p++) {
    const chunks: Uint8Array[] = [];
    let pending: Uint8Array[] = [];
    let bytes = 0;
    for (let k = 0; k < messages; k++) {
      const f = body(types[k % types.length]!, p, k, 0);
      pending.push(f);
      bytes += f.byteLength;
      if (bytes >= 32 * 1024 || k === messages - 1) {
        const chunk = new Uint8Array(bytes);
        let off = 0;
        for (const x of pending) {
          chunk.set(x, off);
          off += x.byteLength;
        }
        chunks.push(chunk);
        pending = [];
        bytes = 0;
      }
    }
    batches.push(chunks);
  }
  receivedTotal = 0;
  expectedTotal = expectedPerSub.reduce((a, b) => a + b, 0);
  const t0 = performance.now();
  let publishedAt = 0;
  await Promise.all(pubs.map(async (conn, p) => {
    for (const chunk of batches[p]!) await writeAll(conn, chunk);
    publishedAt = Math.max(publishedAt, performance.now());
  }));
  const complete = await waitDone();
  const end = complete ? doneAt : performance.now();
  const elapsedMs = end - t0;
  const s = summary();
  const missing = subs.reduce((n, sub, i) => n + Math.max(0, expectedPerSub[i]! - sub.received), 0);
  emit("result", {
    ...s,
    complete,
    expected: expectedTotal,
    missing,
    ok: complete && missing === 0 && s.disorder === 0 && s.seqGaps === 0,
    elapsedMs,
    publishMs: publishedAt - t0,
    published: publisherCount * messages,
    deliveredPerSec: (s.received as number) / (elapsedMs / 1000),
    publishedPerSec: (publisherCount * messages) / (elapsedMs / 1000),
  });
}

async function latency(): Promise<void> {
  const warmupN = Math.round((rate * warmupMs) / 1000);
  const total = warmupN + Math.round((rate * durationMs) / 1000);
  for (const s of subs) {
    s.latencies = [];
    s.warmupN = warmupN;
  }
  receivedTotal = 0;
  expectedTotal = total * subs.length;
  const pacer = new Worker(new URL("./_pacer.ts", import.meta.url).href, { type: "module" });
  let paced: Record<string, unknown>;
  try {
    const report = new Promise<Record<string, unknown>>((resolve) => {
      pacer.onmessage = (e) => resolve(e.data);
      pacer.onerror = (e) => {
        e.preventDefault();
        resolve({ error: String(e.message) });
      };
    });
    const job: PacerJob = { path: `${socketDir}/command.sock`, types, rate, total, size };
    pacer.postMessage(job);
    paced = await report;
  } finally {
    pacer.terminate();
  }
  const complete = await waitDone();
  const all = subs.flatMap((s) => s.latencies ?? []).sort((a, b) => a - b);
  const s = summary();
  emit("result", {
    ...s,
    ...paced,
    complete,
    expected: expectedTotal,
    ok: complete && s.disorder === 0 && s.seqGaps === 0 && paced.error === undefined,
    samples: all.length,
    minMs: all[0] ?? NaN,
    p50Ms: percentile(all, 0.5),
    p99Ms: percentile(all, 0.99),
    maxMs: all.length ? all[all.length - 1] : NaN,
    meanMs: all.reduce((a, b) => a + b, 0) / Math.max(1, all.length),
  });
}

async function hold(): Promise<void> {
  emit("ready", summary());
  // Idle until the harness closes our stdin (or it goes away).
  const buf = new Uint8Array(256);
  try {
    while ((await Deno.stdin.read(buf)) !== null) {
      // any input: keep holding until EOF
    }
  } catch {
    // stdin gone
  }
  emit("result", { ...summary(), ok: subs.every((s) => !s.ended) });
}

async function main(): Promise<void> {
  const command = `${socketDir}/command.sock`;
  const count = spec.mode === "flood" ? publisherCount : 1;
  for (let i = 0; i < count; i++) pubs.push(await connect(command));
  // A first probe per type makes every type's socket exist (the daemon
  // creates it on the first message); subscribers connect with retries, then
  // probes prove that the relay has registered every one of them.
  for (const t of types) await writeAll(pubs[0]!, body(t, 0, 0, 0, true));
  await openAll();
  await sync(pubs[0]!);
  if (spec.mode !== "hold") emit("ready", summary());
  if (spec.mode === "flood") await flood();
  else if (spec.mode === "latency") await latency();
  else await hold();
}

const hardStop = setTimeout(() => {
  emit("result", { ...summary(), ok: false, error: "client timeout" });
  Deno.exit(3);
}, timeoutMs + 5000);
try {
  await main();
} catch (err) {
  emit("result", { ...summary(), ok: false, error: String(err) });
} finally {
  clearTimeout(hardStop);
  for (const s of subs) s.close();
  for (const p of pubs) {
    try {
      p.close();
    } catch {
      // already closed
    }
  }
  await Promise.race([Promise.all(readers), sleep(2000)]);
}
