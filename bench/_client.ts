/**
 * The benchmark's client process: publishers and subscribers for any of the
 * systems (`bench/_wire.ts`: the daemon and the relay on raw Unix sockets,
 * Redis over RESP, NATS through its official client). Spawned by the suite
 * with one JSON argument (a {@linkcode ClientSpec}); prints JSON lines on
 * stdout: `{"event":"ready"}` once every subscriber is registered (has seen a
 * probe), then `{"event":"result", ...}`.
 *
 * Modes:
 * - `flood`: an unmeasured warm-up pass of `warmupMessages`, then a measured
 *   pass of `messages` per publisher, round-robin over `types`, pre-built and
 *   written in `batchBytes` batches as fast as the system takes them. Every
 *   subscriber checks it got every message of its type from every
 *   publisher, once, in order (and, when the daemon adds `seq`, that `seq`
 *   grows by exactly 1). Checks read the raw bytes (`bench/_message.ts`).
 * - `latency`: one publisher (a worker, `bench/_pacer.ts`) paced at `rate`
 *   messages/s for `warmupMs + durationMs`; each payload carries the wall
 *   clock at publish, each receipt is timed on the same clock. With `load`,
 *   a second worker (`bench/_load.ts`) runs large queries and bursts at the
 *   daemon meanwhile.
 * - `hold`: subscribers connect, a probe reaches all of them, `ready` is
 *   printed, and they stay connected and idle until stdin closes.
 *
 * @module
 */

import { benchBody, counterOf, isBenchBody, PROBE, publisherOf, seqOf, sleep } from "./_message.ts";
import type { PacerJob } from "./_pacer.ts";
import type { LoadJob } from "./_load.ts";
import {
  type Endpoint,
  openPublisher,
  openSubscriber,
  type Publisher,
  type Subscription,
} from "./_wire.ts";

/** What the suite asks the client to do. */
export interface ClientSpec {
  mode: "flood" | "latency" | "hold";
  endpoint: Endpoint;
  /** Event types (subjects, channels); publishers send round-robin over them. */
  types: string[];
  /** Subscribers on each type. */
  subscribersPerType: number;
  /** Publisher connections (flood). */
  publishers?: number;
  /** Measured messages per publisher (flood). */
  messages?: number;
  /** Unmeasured messages per publisher before the measured pass (flood). */
  warmupMessages?: number;
  /** Bytes per publisher write (flood). */
  batchBytes?: number;
  /** Body size in bytes, approximately. */
  size?: number;
  /** Paced rate, messages/s (latency). */
  rate?: number;
  /** Measured duration (latency). */
  durationMs?: number;
  /** Unmeasured lead-in at the same rate (latency). */
  warmupMs?: number;
  /** Queries and bursts against the daemon during a latency run. */
  load?: Omit<LoadJob, "socketDir" | "size">;
  /** Hard limit for the whole client. */
  timeoutMs?: number;
}

const textDecoder = new TextDecoder();
const spec: ClientSpec = JSON.parse(Deno.args[0] ?? "{}");
const {
  endpoint,
  types,
  subscribersPerType,
  publishers: publisherCount = 1,
  messages = 1000,
  warmupMessages = 0,
  batchBytes = 64 * 1024,
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

/** One subscriber and its checks. */
class Sub {
  readonly type: string;
  handle: Subscription | null = null;
  received = 0;
  expected = 0;
  probes = 0;
  disorder = 0;
  seqGaps = 0;
  malformed = 0;
  lastSeq = -1;
  lastN: number[] = [];
  latencies: number[] | null = null;
  warmupN = 0;
  ended = false;

  constructor(type: string) {
    this.type = type;
  }

  onBody(b: Uint8Array): void {
    if (!isBenchBody(b)) {
      this.malformed++;
      return;
    }
    const seq = seqOf(b);
    if (seq >= 0) {
      if (this.lastSeq >= 0 && seq !== this.lastSeq + 1) this.seqGaps++;
      this.lastSeq = seq;
    }
    const p = publisherOf(b);
    if (p === PROBE) {
      this.probes++;
      return;
    }
    const n = counterOf(b);
    if (!(n > (this.lastN[p] ?? -1))) this.disorder++;
    this.lastN[p] = n;
    this.received++;
    if (this.latencies !== null && n >= this.warmupN) {
      const now = performance.timeOrigin + performance.now();
      const text = textDecoder.decode(b);
      const i = text.indexOf('"bench_t":');
      this.latencies.push(now - parseFloat(text.slice(i + 10, i + 40)));
    }
    if (this.received === this.expected) progress();
  }
}

let doneAt = 0;
let onProgress: (() => void) | null = null;
let subsDone = 0;
function progress(): void {
  subsDone++;
  if (subsDone === subs.length && doneAt === 0) doneAt = performance.now();
  onProgress?.();
}

const subs: Sub[] = [];
const pubs: Publisher[] = [];

function probeBatch(pub: Publisher, round: number): unknown[] {
  return pub.prepare(
    types.map((t) => [t, benchBody(t, { p: PROBE, n: round, t: 0, size })]),
    batchBytes,
  );
}

/** Sends probes until every subscriber has seen one (it is registered). */
async function sync(pub: Publisher): Promise<void> {
  let round = 0;
  while (subs.some((s) => s.probes === 0)) {
    if (performance.now() > deadline) throw new Error("subscribers never all registered");
    for (const b of probeBatch(pub, round)) await pub.write(b);
    await pub.drain();
    round++;
    const until = performance.now() + 200;
    while (subs.some((s) => s.probes === 0) && performance.now() < until) await sleep(5);
  }
}

async function openAll(): Promise<void> {
  for (const type of types) {
    for (let i = 0; i < subscribersPerType; i++) {
      const sub = new Sub(type);
      subs.push(sub);
      sub.handle = await openSubscriber(endpoint, type, (b) => sub.onBody(b));
      sub.handle.ended.then(() => {
        sub.ended = true;
        onProgress?.();
      });
    }
  }
}

function waitDone(): Promise<boolean> {
  return new Promise((resolve) => {
    const check = () => {
      if (doneAt !== 0 || subs.every((s) => s.ended)) {
        clearTimeout(timer);
        onProgress = null;
        resolve(doneAt !== 0);
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
    missing: subs.reduce((n, s) => n + Math.max(0, s.expected - s.received), 0),
    disorder: subs.reduce((n, s) => n + s.disorder, 0),
    seqGaps: subs.reduce((n, s) => n + s.seqGaps, 0),
    malformed: subs.reduce((n, s) => n + s.malformed, 0),
    seqSeen: subs.some((s) => s.lastSeq >= 0),
    ended: subs.filter((s) => s.ended).length,
  };
}

function clean(s: Record<string, unknown>): boolean {
  return s.missing === 0 && s.disorder === 0 && s.seqGaps === 0 && s.malformed === 0;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** One flood pass of `count` messages per publisher, counters from `first`. */
async function floodPass(first: number, count: number): Promise<Record<string, unknown>> {
  const batches = pubs.map((pub, p) => {
    const list: [string, Uint8Array][] = [];
    for (let k = first; k < first + count; k++) {
      const type = types[k % types.length]!;
      list.push([type, benchBody(type, { p, n: k, t: 0, size })]);
    }
    return pub.prepare(list, batchBytes);
  });
  for (const s of subs) {
    let perPub = 0;
    for (let k = first; k < first + count; k++) if (types[k % types.length] === s.type) perPub++;
    s.expected += perPub * publisherCount;
  }
  doneAt = 0;
  subsDone = subs.filter((s) => s.received >= s.expected).length;
  const t0 = performance.now();
  let publishedAt = 0;
  await Promise.all(pubs.map(async (pub, p) => {
    for (const b of batches[p]!) await pub.write(b);
    await pub.drain();
    publishedAt = Math.max(publishedAt, performance.now());
  }));
  const complete = await waitDone();
  const end = complete ? doneAt : performance.now();
  const elapsedMs = end - t0;
  const s = summary();
  const delivered = subs.reduce((n, sub) => n + sub.expected, 0) -
    subs.reduce((n, sub) => n + Math.max(0, sub.expected - sub.received), 0);
  return {
    ...s,
    complete,
    ok: complete && clean(s),
    elapsedMs,
    publishMs: publishedAt - t0,
    published: publisherCount * count,
    batches: batches[0]!.length,
    deliveredPerSec: (delivered - (first === 0 ? 0 : warmDelivered)) / (elapsedMs / 1000),
    publishedPerSec: (publisherCount * count) / (elapsedMs / 1000),
  };
}
let warmDelivered = 0;

async function flood(): Promise<void> {
  if (warmupMessages > 0) {
    const warm = await floodPass(0, warmupMessages);
    if (warm.ok !== true) {
      emit("result", { ...warm, ok: false, error: "warm-up pass did not deliver everything" });
      return;
    }
    warmDelivered = subs.reduce((n, s) => n + s.received, 0);
  }
  const result = await floodPass(warmupMessages, messages);
  emit("result", { ...result, expected: subs.reduce((n, s) => n + s.expected, 0) - warmDelivered });
}

/** A worker and the messages it posts, in order. */
function runWorker(url: URL, job: unknown): {
  next(): Promise<Record<string, unknown>>;
  post(message: string): void;
  terminate(): void;
} {
  const worker = new Worker(url.href, { type: "module" });
  const queue: Record<string, unknown>[] = [];
  let waiting: ((m: Record<string, unknown>) => void) | null = null;
  const deliver = (m: Record<string, unknown>) => {
    if (waiting !== null) {
      const w = waiting;
      waiting = null;
      w(m);
    } else queue.push(m);
  };
  worker.onmessage = (e) => deliver(e.data);
  worker.onerror = (e) => {
    e.preventDefault();
    deliver({ error: String(e.message) });
  };
  worker.postMessage(job);
  return {
    next: () =>
      queue.length > 0
        ? Promise.resolve(queue.shift()!)
        : new Promise((resolve) => (waiting = resolve)),
    post: (message) => worker.postMessage(message),
    terminate: () => worker.terminate(),
  };
}

async function latency(): Promise<void> {
  const warmupN = Math.round((rate * warmupMs) / 1000);
  const total = warmupN + Math.round((rate * durationMs) / 1000);
  for (const s of subs) {
    s.latencies = [];
    s.warmupN = warmupN;
    s.expected = total;
  }
  doneAt = 0;
  subsDone = 0;
  const load = spec.load
    ? runWorker(
      new URL("./_load.ts", import.meta.url),
      {
        ...spec.load,
        socketDir: endpoint.address,
        size,
      } satisfies LoadJob,
    )
    : null;
  const pacer = runWorker(
    new URL("./_pacer.ts", import.meta.url),
    {
      endpoint,
      types,
      rate,
      total,
      size,
    } satisfies PacerJob,
  );
  try {
    // The load worker reports once its prefill is done, then runs until stopped.
    const ready = load ? await load.next() : {};
    if (ready.error !== undefined) {
      emit("result", { ...summary(), ok: false, error: `load: ${ready.error}` });
      return;
    }
    pacer.post("go");
    const paced = await pacer.next();
    const complete = await waitDone();
    let loadResult: Record<string, unknown> | undefined;
    if (load !== null) {
      load.post("stop");
      loadResult = await load.next();
    }
    const all = subs.flatMap((s) => s.latencies ?? []).sort((a, b) => a - b);
    const s = summary();
    emit("result", {
      ...s,
      ...paced,
      load: loadResult,
      complete,
      ok: complete && clean(s) && paced.error === undefined &&
        (loadResult === undefined || loadResult.error === undefined),
      samples: all.length,
      minMs: all[0] ?? NaN,
      p50Ms: percentile(all, 0.5),
      p99Ms: percentile(all, 0.99),
      p999Ms: percentile(all, 0.999),
      maxMs: all.length ? all[all.length - 1] : NaN,
      over5Ms: all.filter((x) => x > 5).length,
      meanMs: all.reduce((a, b) => a + b, 0) / Math.max(1, all.length),
    });
  } finally {
    pacer.terminate();
    load?.terminate();
  }
}

async function hold(): Promise<void> {
  emit("ready", summary());
  // Idle until the suite closes our stdin (or goes away).
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
  const count = spec.mode === "flood" ? publisherCount : 1;
  for (let i = 0; i < count; i++) pubs.push(await openPublisher(endpoint));
  // A first probe per type makes every type's socket exist (the daemon
  // creates it on the first message); subscribers connect with retries, then
  // probes prove that the system has registered every one of them.
  for (const b of probeBatch(pubs[0]!, 0)) await pubs[0]!.write(b);
  await pubs[0]!.drain();
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
  await Promise.race([
    Promise.all([
      ...subs.map((s) => s.handle?.close()),
      ...pubs.map((p) => p.close().catch(() => {})),
    ]),
    sleep(2000),
  ]);
}
Deno.exit(0);
