/**
 * The SQLite store's WAL checkpoints, run by a worker off the daemon's main
 * thread. A checkpoint copies the WAL into the database and fsyncs both,
 * which can take tens of milliseconds; on the main thread that stalled
 * routing. The worker opens its own connection on the first request and
 * answers each request (`{ path, truncate }`) as `{ ok, truncated, error? }`.
 * The store terminates it on close.
 *
 * Every request runs a `PASSIVE` checkpoint, which never blocks the writer.
 * That alone never shrinks the WAL under a steady flood: SQLite only starts
 * the WAL over when a write begins with every frame already copied, and the
 * daemon writes more frames while the checkpoint runs, so the file grew
 * without bound (195 MB after 480k messages). With `truncate`, a
 * `TRUNCATE` checkpoint follows: it waits for the writer to finish its
 * transaction, holds the write lock while it copies only the frames written
 * since the `PASSIVE` one, and empties the file. The daemon's next commit
 * waits for that (a few milliseconds) instead of for a whole checkpoint.
 *
 * The worker is loaded from a `data:` URL rather than a file so that it needs no read
 * permission beyond the database's (the daemon's sandbox reads only its two
 * directories) and nothing extra to include in `deno compile`.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";

/** Transactions between two background WAL checkpoints. */
export const CHECKPOINT_EVERY_WRITES = 1000;
/**
 * A WAL this big gets a checkpoint that empties it, at once; it is also the
 * `journal_size_limit`, so a WAL started over while idle is cut back to it.
 */
export const WAL_TRUNCATE_BYTES = 4 * 1024 * 1024;

const SOURCE = `
import { DatabaseSync } from "node:sqlite";
let db = null;
self.onmessage = (event) => {
  const { path, truncate } = event.data;
  try {
    db ??= new DatabaseSync(path);
    db.exec("PRAGMA busy_timeout = 1000");
    db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get();
    let truncated = false;
    if (truncate) {
      // busy is 1 when the writer kept the lock past the timeout: tried again next time.
      truncated = db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get().busy === 0;
    }
    self.postMessage({ ok: true, truncated });
  } catch (error) {
    self.postMessage({ ok: false, truncated: false, error: String(error) });
  }
};
`;

/** The worker's module, as a `data:` URL. */
const CHECKPOINT_WORKER_URL: string = `data:application/javascript;base64,${btoa(SOURCE)}`;

/** A request to the worker. */
interface CheckpointRequest {
  /** The database file. */
  path: string;
  /** Whether to empty the WAL after the passive checkpoint. */
  truncate: boolean;
}

/** A worker's reply. */
interface CheckpointReply {
  ok: boolean;
  /** Whether the WAL was emptied. */
  truncated: boolean;
  error?: string;
}

/**
 * Asks the worker for a checkpoint when one is due after a commit, one at a
 * time. Automatic checkpoints are off on the store's connection: they fsync,
 * and on the main thread that stalled every message behind them. Where a
 * worker cannot be started, checkpoints run inline instead.
 *
 * @example
 * ```ts
 * import { Checkpointer } from "./_checkpoint_worker.ts";
 * import { DatabaseSync } from "node:sqlite";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const db = new DatabaseSync(`${dir}/state.db`);
 * db.exec("PRAGMA journal_mode = WAL");
 * const checkpointer = new Checkpointer(`${dir}/state.db`, db, () => {});
 * for (let i = 0; i < 1000; i++) checkpointer.committed();
 * while (checkpointer.count === 0) await new Promise((resolve) => setTimeout(resolve, 10));
 * assert.equal(checkpointer.count, 1);
 * checkpointer.close();
 * db.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class Checkpointer {
  #path: string;
  #db: DatabaseSync;
  #onWarning: (text: string) => void;
  #worker: Worker | null = null;
  #running = false;
  #inline = false;
  #count = 0;
  #writesSince = 0;

  /** Starts the worker at once: loading it takes tens of milliseconds. */
  constructor(path: string, db: DatabaseSync, onWarning: (text: string) => void) {
    this.#path = path;
    this.#db = db;
    this.#onWarning = onWarning;
    this.#start();
  }

  /** Checkpoints the worker completed. */
  get count(): number {
    return this.#count;
  }

  /** Called after each commit: every 1000, or once the WAL reaches its bound, checkpoints. */
  committed(): void {
    this.#writesSince++;
    if (this.#running) return;
    if (this.#walBytes() >= WAL_TRUNCATE_BYTES) this.#checkpoint(true);
    else if (this.#writesSince >= CHECKPOINT_EVERY_WRITES) this.#checkpoint(false);
  }

  /** Terminates the worker (the store's close checkpoints on its own connection). */
  close(): void {
    this.#worker?.terminate();
    this.#worker = null;
  }

  /** The WAL's size, 0 while it has none. */
  #walBytes(): number {
    try {
      return Deno.statSync(`${this.#path}-wal`).size;
    } catch {
      return 0;
    }
  }

  #checkpoint(truncate: boolean): void {
    this.#writesSince = 0;
    if (this.#worker === null && !this.#inline) this.#start();
    if (this.#worker === null) {
      this.#db.exec(`PRAGMA wal_checkpoint(${truncate ? "TRUNCATE" : "PASSIVE"})`);
      return;
    }
    this.#running = true;
    const request: CheckpointRequest = { path: this.#path, truncate };
    this.#worker.postMessage(request);
  }

  #start(): void {
    if (this.#worker !== null) return;
    try {
      this.#worker = new Worker(CHECKPOINT_WORKER_URL, { type: "module" });
    } catch (error) {
      this.#inline = true;
      this.#onWarning(`Cannot start the checkpoint worker, checkpointing inline: ${error}`);
      return;
    }
    this.#worker.onmessage = (event: MessageEvent<CheckpointReply>) => {
      this.#running = false;
      if (event.data.ok) this.#count++;
      else this.#onWarning(`WAL checkpoint failed: ${event.data.error}`);
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#running = false;
      this.close();
      this.#inline = true;
      this.#onWarning(`Checkpoint worker failed, checkpointing inline: ${event.message}`);
    };
  }
}
