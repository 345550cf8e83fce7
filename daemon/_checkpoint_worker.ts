/**
 * The source of the worker that runs SQLite WAL checkpoints off the daemon's
 * main thread. A checkpoint copies the WAL into the database and fsyncs both,
 * which can take tens of milliseconds; on the main thread that stalled
 * routing. The worker opens its own connection on the first request, answers
 * each request (the database path) with one `PRAGMA wal_checkpoint(PASSIVE)`
 * (which never blocks the writer) as `{ ok, error? }`, and is terminated by
 * the store on close.
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
  try {
    db ??= new DatabaseSync(event.data);
    db.exec("PRAGMA busy_timeout = 5000");
    db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get();
    self.postMessage({ ok: true });
  } catch (error) {
    self.postMessage({ ok: false, error: String(error) });
  }
};
`;

/** The worker's module, as a `data:` URL. */
export const CHECKPOINT_WORKER_URL: string = `data:application/javascript;base64,${btoa(SOURCE)}`;

/** A worker's reply. */
export interface CheckpointReply {
  ok: boolean;
  error?: string;
}
