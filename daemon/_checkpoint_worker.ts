/**
 * Runs SQLite WAL checkpoints off the daemon's main thread. A checkpoint
 * copies the WAL into the database and fsyncs both, which can take tens of
 * milliseconds; on the main thread that stalled routing. This worker opens
 * its own connection on the first request, answers each request with one
 * `PRAGMA wal_checkpoint(PASSIVE)` (which never blocks the writer), and is
 * terminated by the store on close.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";

/** A request: the database path. The reply: `{ ok, error? }`. */
export interface CheckpointReply {
  ok: boolean;
  error?: string;
}

let db: DatabaseSync | null = null;

self.onmessage = (event: MessageEvent<string>) => {
  try {
    db ??= new DatabaseSync(event.data);
    db.exec("PRAGMA busy_timeout = 5000");
    db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get();
    self.postMessage({ ok: true } satisfies CheckpointReply);
  } catch (error) {
    self.postMessage({ ok: false, error: String(error) } satisfies CheckpointReply);
  }
};
