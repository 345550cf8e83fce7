/**
 * A worker of the benchmark client that publishes at a steady rate, over any
 * of the wires (`bench/_wire.ts`). A worker can block in `Atomics.wait`
 * between messages (sub-millisecond, unlike timers) without stalling the
 * subscribers on the client's main thread. It connects on the job message,
 * starts on `"go"`, and stamps each message with
 * `performance.timeOrigin + performance.now()` just before writing it; the
 * main thread times receipts on the same wall-clock base.
 *
 * @module
 */

import { benchBody } from "./_message.ts";
import { type Endpoint, openPublisher, type Publisher } from "./_wire.ts";

/** The job the client posts to the pacer. */
export interface PacerJob {
  endpoint: Endpoint;
  types: string[];
  rate: number;
  total: number;
  size: number;
}

async function pace(pub: Publisher, job: PacerJob): Promise<Record<string, unknown>> {
  const { types, rate, total, size } = job;
  const gate = new Int32Array(new SharedArrayBuffer(4));
  let maxLateMs = 0;
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) Atomics.wait(gate, 0, 0, wait);
    else maxLateMs = Math.max(maxLateMs, -wait);
    const type = types[i % types.length]!;
    const t = performance.timeOrigin + performance.now();
    const [batch] = pub.prepare([[type, benchBody(type, { p: 0, n: i, t, size })]], 1 << 20);
    await pub.write(batch);
  }
  await pub.drain();
  const ms = performance.now() - t0;
  return { sent: total, achievedRate: total / (ms / 1000), maxLateMs };
}

// deno-lint-ignore no-explicit-any
const worker = self as any;
let job: PacerJob | null = null;
let pub: Publisher | null = null;
let connecting: Promise<Publisher> | null = null;
worker.onmessage = async (event: MessageEvent<PacerJob | string>) => {
  try {
    if (typeof event.data !== "string") {
      job = event.data;
      connecting = openPublisher(job.endpoint);
      pub = await connecting;
      return;
    }
    if (event.data === "go" && job !== null && connecting !== null) {
      pub = await connecting;
      worker.postMessage(await pace(pub, job));
      await pub.close();
    }
  } catch (err) {
    worker.postMessage({ error: String(err) });
  }
};
