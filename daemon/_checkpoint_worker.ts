/**
 * The source of the worker that runs SQLite WAL checkpoints off the daemon's
 * main thread. A checkpoint copies the WAL into the database and fsyncs both,
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
 * It is loaded from a `data:` URL rather than a file so that it needs no read
 * permission beyond the database's (the daemon's sandbox reads only its two
 * directories) and nothing extra to include in `deno compile`.
 *
 * @module
 */

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
export const CHECKPOINT_WORKER_URL: string = `data:application/javascript;base64,${btoa(SOURCE)}`;

/** A request to the worker. */
export interface CheckpointRequest {
  /** The database file. */
  path: string;
  /** Whether to empty the WAL after the passive checkpoint. */
  truncate: boolean;
}

/** A worker's reply. */
export interface CheckpointReply {
  ok: boolean;
  /** Whether the WAL was emptied. */
  truncated: boolean;
  error?: string;
}
