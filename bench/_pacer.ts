/**
 * A worker of the benchmark client that publishes at a steady rate. A worker
 * can block in `Atomics.wait` between messages (sub-millisecond, unlike timers)
 * without stalling the subscribers on the client's main thread. Each message
 * carries `performance.timeOrigin + performance.now()` at the moment before it
 * is written; the main thread times receipts on the same wall-clock base.
 *
 * @module
 */

import { benchFrame, writeAll } from "./_message.ts";

/** The job the client posts to the pacer. */
export interface PacerJob {
  path: string;
  types: string[];
  rate: number;
  total: number;
  size: number;
}

// deno-lint-ignore no-explicit-any
const worker = self as any;
worker.onmessage = async (event: MessageEvent<PacerJob>) => {
  const { path, types, rate, total, size } = event.data;
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const conn = await Deno.connect({ transport: "unix", path });
  let maxLateMs = 0;
  const t0 = performance.now();
  try {
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) Atomics.wait(gate, 0, 0, wait);
      else maxLateMs = Math.max(maxLateMs, -wait);
      const t = performance.timeOrigin + performance.now();
      await writeAll(conn, benchFrame(types[i % types.length]!, { p: 0, n: i, t, size }));
    }
    const ms = performance.now() - t0;
    worker.postMessage({ sent: total, achievedRate: total / (ms / 1000), maxLateMs });
  } catch (err) {
    worker.postMessage({ error: String(err) });
  } finally {
    conn.close();
  }
};
