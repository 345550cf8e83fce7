/**
 * Shared test helpers: temp dirs and raw wire clients that use only
 * `Deno.connect` and hand-written framing, so tests do not depend on the
 * project's own client libraries; and the daemon harness of `_daemon.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { closeQuietly, sleep, writeAll } from "../transport/mod.ts";
import { MemoryStore, type Store, type StoreBatch, type StoreSnapshot } from "../daemon/_store.ts";

export { writeAll };
export {
  type ChildDaemon,
  type Running,
  spawnDaemon,
  type SpawnOptions,
  startDaemon,
  untilReady,
} from "./_daemon.ts";

/** A temp directory removed on dispose. */
export interface TmpDir extends AsyncDisposable {
  /** Absolute path. */
  path: string;
}

/** Creates a temp directory (mode 0700) that is removed on `await using`. */
export async function withTmpDir(prefix = "dotfiles-test-"): Promise<TmpDir> {
  const path = await Deno.makeTempDir({ prefix });
  await Deno.chmod(path, 0o700);
  return {
    path,
    async [Symbol.asyncDispose](): Promise<void> {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** Frames a body by hand: 4-byte big-endian length, then the bytes. */
export function rawFrame(body: string | Uint8Array): Uint8Array {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const out = new Uint8Array(4 + bytes.byteLength);
  new DataView(out.buffer).setUint32(0, bytes.byteLength, false);
  out.set(bytes, 4);
  return out;
}

/**
 * A raw client on a Unix socket: reads frames by hand, with a deadline.
 * Close it with `using`.
 */
export class RawClient implements Disposable {
  readonly conn: Deno.UnixConn;
  #buf = new Uint8Array(0);
  #off = 0;
  #closed = false;

  private constructor(conn: Deno.UnixConn) {
    this.conn = conn;
  }

  /** Connects, retrying for up to `waitMs` while the socket is missing. */
  static async connect(path: string, waitMs = 2000): Promise<RawClient> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        return new RawClient(await Deno.connect({ transport: "unix", path }));
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(20);
      }
    }
  }

  /** Sends one frame per body (objects are JSON-encoded). */
  async send(...bodies: (string | object)[]): Promise<void> {
    const frames = bodies.map((b) => rawFrame(typeof b === "string" ? b : JSON.stringify(b)));
    const total = frames.reduce((n, f) => n + f.byteLength, 0);
    const all = new Uint8Array(total);
    let off = 0;
    for (const f of frames) {
      all.set(f, off);
      off += f.byteLength;
    }
    await writeAll(this.conn, all);
  }

  async #fill(need: number, signal: AbortSignal): Promise<boolean> {
    while (this.#buf.byteLength - this.#off < need) {
      const chunk = new Uint8Array(64 * 1024);
      const n = await Promise.race([
        this.conn.read(chunk),
        new Promise<never>((_, reject) => {
          signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        }),
      ]);
      if (n === null) return false;
      const rest = this.#buf.subarray(this.#off);
      const merged = new Uint8Array(rest.byteLength + n);
      merged.set(rest);
      merged.set(chunk.subarray(0, n), rest.byteLength);
      this.#buf = merged;
      this.#off = 0;
    }
    return true;
  }

  /** Reads one frame and parses its JSON; `null` at end of stream. */
  async read(timeoutMs = 5000): Promise<Record<string, unknown> | null> {
    const signal = AbortSignal.timeout(timeoutMs);
    if (!await this.#fill(4, signal)) return null;
    const len = new DataView(this.#buf.buffer, this.#buf.byteOffset + this.#off).getUint32(
      0,
      false,
    );
    if (!await this.#fill(4 + len, signal)) return null;
    const body = this.#buf.subarray(this.#off + 4, this.#off + 4 + len);
    this.#off += 4 + len;
    return JSON.parse(new TextDecoder().decode(body));
  }

  /** Reads `n` frames. */
  async readN(n: number, timeoutMs = 5000): Promise<Record<string, unknown>[]> {
    const out = [];
    for (let i = 0; i < n; i++) {
      const m = await this.read(timeoutMs);
      if (m === null) throw new Error(`stream ended after ${i} of ${n} frames`);
      out.push(m);
    }
    return out;
  }

  /** Resolves true when the peer closes the connection within `timeoutMs`. */
  async closedByPeer(timeoutMs = 3000): Promise<boolean> {
    try {
      const signal = AbortSignal.timeout(timeoutMs);
      for (;;) {
        if (!await this.#fill(this.#buf.byteLength - this.#off + 1, signal)) return true;
      }
    } catch (err) {
      if (err instanceof DOMException && err.name === "TimeoutError") return false;
      return true; // reset by peer
    }
  }

  /** Sends a query and returns the response message. */
  async query(
    queryType: string,
    eventType = "daemon",
    parameters: Record<string, unknown> = {},
  ): Promise<Record<string, unknown>> {
    await this.send({
      message_id: crypto.randomUUID(),
      timestamp: new Date().toISOString(),
      event_type: eventType,
      payload: { type: "query_request", query_type: queryType, parameters },
    });
    const response = await this.read();
    if (response === null) throw new Error("query socket closed");
    return response;
  }

  [Symbol.dispose](): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.conn);
  }
}

/** A message as a Python manager sends it (pydantic): local time, nulls. */
export function pythonMessage(
  eventType: string,
  payload: Record<string, unknown>,
): Record<string, unknown> {
  return {
    message_id: crypto.randomUUID(),
    timestamp: "2026-11-25T11:40:00.123456",
    event_type: eventType,
    payload,
  };
}

/** A JSON object, loosely typed. */
export type Obj = Record<string, unknown>;

/** Queries `get_daemon_status` on a fresh connection and returns its counters. */
export async function counters(queryPath: string): Promise<Obj> {
  using q = await RawClient.connect(queryPath);
  const r = await q.query("get_daemon_status");
  const payload = r.payload as Obj;
  assert.equal(payload.error, undefined, `status query failed: ${payload.error}`);
  return (payload.result as Obj).counters as Obj;
}

/** Polls `check` every 10 ms until it holds or `ms` pass. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 5000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A valid progress message of `eventType`, numbered `i`. */
export function progress(eventType: string, i: number, tag = "m"): Obj {
  return {
    message_id: `${tag}-${i}`,
    timestamp: new Date().toISOString(),
    event_type: eventType,
    payload: {
      type: "operation_progress",
      operation_id: "op",
      step_id: "s",
      step_progress: i % 101,
      overall_progress: 0,
      i,
    },
  };
}

/**
 * A store whose writes throw "disk I/O error" while `failing` is set, and
 * otherwise go to a {@linkcode MemoryStore} (`inner`): a disk that fills and
 * empties again, without mounting anything.
 */
export class FailingStore implements Store {
  readonly path = "/nowhere/state.db";
  readonly inner: MemoryStore = new MemoryStore();
  failing: boolean;

  constructor(failing: boolean) {
    this.failing = failing;
  }

  load(): StoreSnapshot {
    return this.inner.load();
  }

  write(batch: StoreBatch): void {
    if (this.failing) throw new Error("disk I/O error");
    this.inner.write(batch);
  }

  close(): void {
    this.inner.close();
  }
}
