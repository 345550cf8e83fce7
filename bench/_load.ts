/**
 * A worker of the benchmark client that loads the daemon while a paced
 * latency run measures routing (the "routing stall" row): it fills one type's
 * history and many types' state, posts `{ready}`, then until `"stop"` runs the
 * largest queries back to back on `query.sock` (the whole history of a type,
 * every type's state) and, every `burstEveryMs`, writes a 64 KiB burst of
 * messages to a type nobody subscribes to (one large store commit, with
 * history pruning once it is full). Its final message reports what it did.
 *
 * @module
 */

import { encodeFrame } from "../protocol/mod.ts";
import { benchBody, sleep, writeAll } from "./_message.ts";

/** The job the client posts to the load worker. */
export interface LoadJob {
  socketDir: string;
  size: number;
  /** Ask queries (the daemon); false: bursts only (the relay has no query.sock). */
  queries: boolean;
  /** Messages written to the history type before the run. */
  historyMessages: number;
  /** Types given one state each before the run. */
  stateTypes: number;
  /** ms between bursts. */
  burstEveryMs: number;
  /** Messages per burst. */
  burstMessages: number;
}

const HISTORY_TYPE = "bench_bulk";

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

function frames(type: string, count: number, size: number, from: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    parts.push(encodeFrame(benchBody(type, { p: 1, n: from + i, t: 0, size })));
  }
  return concat(parts);
}

/** A query connection: one request, one response frame, in order. */
class Queries {
  #conn: Deno.UnixConn;
  #buf: Uint8Array = new Uint8Array(0);
  #read = new Uint8Array(256 * 1024);

  constructor(conn: Deno.UnixConn) {
    this.#conn = conn;
  }

  async ask(
    eventType: string,
    queryType: string,
    parameters: Record<string, unknown>,
  ): Promise<{ bytes: number; result: Record<string, unknown> }> {
    const request = {
      message_id: crypto.randomUUID(),
      timestamp: new Date().toISOString(),
      event_type: eventType,
      payload: { type: "query_request", query_type: queryType, parameters },
    };
    await writeAll(this.#conn, encodeFrame(request));
    for (;;) {
      if (this.#buf.byteLength >= 4) {
        const len = new DataView(this.#buf.buffer, this.#buf.byteOffset).getUint32(0, false);
        if (this.#buf.byteLength >= 4 + len) {
          const body = this.#buf.subarray(4, 4 + len);
          this.#buf = this.#buf.slice(4 + len);
          const response = JSON.parse(new TextDecoder().decode(body));
          const result = response?.payload?.result ?? {};
          if (response?.payload?.error) {
            throw new Error(`Cannot load the daemon: query failed: ${response.payload.error}`);
          }
          return { bytes: len, result };
        }
      }
      const n = await this.#conn.read(this.#read);
      if (n === null) throw new Error("Cannot load the daemon: query.sock closed");
      this.#buf = concat([this.#buf, this.#read.subarray(0, n)]);
    }
  }

  close(): void {
    this.#conn.close();
  }
}

async function run(job: LoadJob, stopped: Promise<void>): Promise<Record<string, unknown>> {
  const pub = await Deno.connect({ transport: "unix", path: `${job.socketDir}/command.sock` });
  let queries: Queries | null = null;
  try {
    let n = 0;
    for (let left = job.historyMessages; left > 0; left -= 256) {
      await writeAll(pub, frames(HISTORY_TYPE, Math.min(256, left), job.size, n));
      n += Math.min(256, left);
    }
    for (let t = 0; t < job.stateTypes; t++) {
      await writeAll(pub, frames(`bench_state${String(t).padStart(3, "0")}`, 1, job.size, 0));
    }
    if (job.queries) {
      queries = new Queries(
        await Deno.connect({ transport: "unix", path: `${job.socketDir}/query.sock` }),
      );
      // Wait until the prefill is routed and stored.
      for (let i = 0;; i++) {
        const { result } = await queries.ask(HISTORY_TYPE, "get_event_history", { limit: 1 });
        if (Number(result.last_seq) >= job.historyMessages) break;
        if (i > 500) throw new Error("Cannot load the daemon: prefill never stored");
        await sleep(10);
      }
    }
    worker.postMessage({ ready: true });
    let stop = false;
    stopped.then(() => (stop = true));
    let asked = 0;
    let maxQueryMs = 0;
    let maxBytes = 0;
    let bursts = 0;
    const burster = (async () => {
      while (!stop) {
        await Promise.race([sleep(job.burstEveryMs), stopped]);
        if (stop) break;
        await writeAll(pub, frames(HISTORY_TYPE, job.burstMessages, job.size, n));
        n += job.burstMessages;
        bursts++;
      }
    })();
    const asker = (async () => {
      while (!stop && queries !== null) {
        for (
          const [type, q, params] of [
            [HISTORY_TYPE, "get_event_history", { limit: job.historyMessages }],
            ["*", "get_current_state", {}],
          ] as const
        ) {
          const t0 = performance.now();
          const { bytes } = await queries.ask(type, q, params);
          maxQueryMs = Math.max(maxQueryMs, performance.now() - t0);
          maxBytes = Math.max(maxBytes, bytes);
          asked++;
        }
      }
    })();
    await Promise.all([burster, asker]);
    return { queries: asked, maxQueryMs, maxResponseBytes: maxBytes, bursts };
  } finally {
    queries?.close();
    pub.close();
  }
}

// deno-lint-ignore no-explicit-any
const worker = self as any;
let markStopped: () => void = () => {};
const stopped = new Promise<void>((resolve) => (markStopped = resolve));
worker.onmessage = async (event: MessageEvent<LoadJob | string>) => {
  if (event.data === "stop") {
    markStopped();
    return;
  }
  try {
    worker.postMessage(await run(event.data as LoadJob, stopped));
  } catch (err) {
    worker.postMessage({ error: String(err) });
  }
};
