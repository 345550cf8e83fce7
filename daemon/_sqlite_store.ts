/**
 * The daemon's on-disk store: one SQLite file through the built-in
 * `node:sqlite` (`DatabaseSync`), in WAL mode with `synchronous=NORMAL`, so
 * a committed batch survives the daemon being killed (not a power loss).
 * Opening it safely is `_sqlite_schema.ts`, the seqs saved while it cannot
 * write are `_seq_marks.ts`, its checkpoints `_checkpoint_worker.ts`.
 *
 * @module
 */

import { Checkpointer } from "./_checkpoint_worker.ts";
import { SEQ_MARKS_SUFFIX, SeqMarks } from "./_seq_marks.ts";
import {
  BUSY_TIMEOUT_MS,
  openSafely,
  OPERATION_COLUMNS,
  RECORD_SEPARATOR,
  type Statements,
} from "./_sqlite_schema.ts";
import { errorText } from "./_state_operations.ts";
import type { DatabaseSync } from "node:sqlite";
import type { JsonObject, OperationRecord } from "../protocol/mod.ts";
import {
  type Store,
  type StoreBatch,
  type StoredEventType,
  type StoredHistoryEntry,
  type StoredState,
  type StoreHealth,
  type StoreSnapshot,
  StoreWriteError,
} from "./_store.ts";

/**
 * Options of {@linkcode SqliteStore.open}.
 *
 * @example
 * ```ts
 * import type { SqliteStoreOptions } from "./_sqlite_store.ts";
 * import assert from "node:assert/strict";
 *
 * const warnings: string[] = [];
 * const options: SqliteStoreOptions = { onWarning: (text) => warnings.push(text) };
 * assert.equal(typeof options.onWarning, "function");
 * ```
 */
export interface SqliteStoreOptions {
  /** Gets a line worth logging, such as a corrupt file moved aside. */
  onWarning?: (text: string) => void;
}

/**
 * A {@linkcode Store} in one SQLite file. A file that is not a database,
 * fails `PRAGMA quick_check`, or holds another schema is renamed aside
 * (`state.db.corrupt-<timestamp>`, with its `-wal`) with a warning, and a
 * fresh database is created, so the daemon still comes up. Needs only
 * `--allow-read` and `--allow-write` on the file's directory.
 *
 * @example Write, close, open again
 * ```ts
 * import { SqliteStore } from "./_sqlite_store.ts";
 * import { emptyBatch } from "./_store.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const path = `${dir}/state.db`;
 * {
 *   using store = SqliteStore.open(path);
 *   const batch = emptyBatch();
 *   batch.eventTypes.push({ event_type: "theme", message_count: 1, last_seq: 1, last_event_at: null });
 *   batch.history.push({ event_type: "theme", seq: 1, body: '{"seq":1}' });
 *   store.write(batch);
 * }
 * {
 *   using store = SqliteStore.open(path);
 *   const snapshot = store.load();
 *   assert.equal(snapshot.eventTypes[0]?.last_seq, 1);
 *   assert.equal(snapshot.history[0]?.body, '{"seq":1}');
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class SqliteStore implements Store, Disposable {
  #path: string;
  #db: DatabaseSync;
  #statements: Statements;
  #closed = false;
  #checkpointer: Checkpointer;
  #onWarning: (text: string) => void;
  #marks: SeqMarks;
  /** The current run of failed writes, or `null` while writes work. */
  #failing: { since: number; count: number; error: string; nextTry: number } | null = null;
  #seqsSaved = true;

  private constructor(
    path: string,
    db: DatabaseSync,
    statements: Statements,
    marks: SeqMarks,
    onWarning: (text: string) => void,
  ) {
    this.#onWarning = onWarning;
    this.#path = path;
    this.#db = db;
    this.#statements = statements;
    this.#marks = marks;
    this.#checkpointer = new Checkpointer(path, db, onWarning);
  }

  /**
   * Opens (or creates, mode 0600) the database at `path`, creating its
   * directory (mode 0700) when missing. A corrupt, unreadable or foreign
   * file is moved aside and replaced by a fresh database.
   *
   * @param path The database file.
   * @param options `onWarning` gets the line about a file moved aside.
   * @returns The open store.
   * @throws {Error} When even a fresh database cannot be created there, or
   * the file is busy (another process holds a lock on it).
   *
   * @example Recovering from a garbage file
   * ```ts
   * import { SqliteStore } from "./_sqlite_store.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/state.db`, "not a database ".repeat(100));
   * const warnings: string[] = [];
   * {
   *   using store = SqliteStore.open(`${dir}/state.db`, { onWarning: (w) => warnings.push(w) });
   *   assert.deepEqual(store.load().eventTypes, []);
   * }
   * assert.equal(warnings.length, 1);
   * const names = [...Deno.readDirSync(dir)].map((e) => e.name);
   * assert.ok(names.some((name) => name.startsWith("state.db.corrupt-")));
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteStore {
    const { onWarning = () => {} } = options;
    const opened = openSafely(path, onWarning);
    let marks: SeqMarks;
    try {
      marks = SeqMarks.open(`${path}${SEQ_MARKS_SUFFIX}`, onWarning);
    } catch (error) {
      opened.db.close();
      throw error;
    }
    return new SqliteStore(path, opened.db, opened.statements, marks, onWarning);
  }

  /** The database file. */
  get path(): string {
    return this.#path;
  }

  /**
   * Reads everything: history by event type and `seq`, operations by
   * `started_at`, then insertion. A row whose JSON cannot be parsed is left
   * out.
   *
   * @returns The snapshot.
   * @throws {TypeError} When the store is closed.
   *
   * @example
   * ```ts
   * import { SqliteStore } from "./_sqlite_store.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * {
   *   using store = SqliteStore.open(`${dir}/state.db`);
   *   assert.deepEqual(store.load(), { eventTypes: [], state: [], operations: [], history: [] });
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  load(): StoreSnapshot {
    this.#assertOpen("load");
    const db = this.#db;
    const eventTypes = db.prepare(
      "SELECT event_type, message_count, last_seq, last_event_at FROM event_types ORDER BY event_type",
    ).all() as unknown as StoredEventType[];
    const state: StoredState[] = [];
    for (
      const row of db.prepare(
        "SELECT event_type, state_key, state_value, updated_at FROM state ORDER BY event_type, state_key",
      ).all()
    ) {
      const value = parseJson(row.state_value);
      if (value === undefined) continue;
      state.push({
        event_type: String(row.event_type),
        state_key: String(row.state_key),
        state_value: value,
        updated_at: String(row.updated_at),
      });
    }
    const operations: OperationRecord[] = [];
    for (
      const row of db.prepare(
        `SELECT ${OPERATION_COLUMNS.join(", ")} FROM operations ORDER BY started_at, rowid`,
      ).all()
    ) {
      const parameters = row.parameters === null ? null : parseJson(row.parameters);
      const result = row.result === null ? null : parseJson(row.result);
      operations.push({
        ...(row as unknown as OperationRecord),
        parameters: (parameters ?? null) as JsonObject | null,
        result: (result ?? null) as JsonObject | null,
      });
    }
    const history: StoredHistoryEntry[] = [];
    // Pruning drops whole runs; entries below a type's floor were pruned too.
    const floors = new Map(
      db.prepare("SELECT event_type, before_seq FROM history_floor").all()
        .map((row) => [String(row.event_type), Number(row.before_seq)]),
    );
    const rows = db.prepare(
      "SELECT event_type, first_seq, last_seq, bodies FROM history ORDER BY event_type, first_seq",
    ).all();
    for (const row of rows) {
      const eventType = String(row.event_type);
      const first = Number(row.first_seq);
      const bodies = row.first_seq === row.last_seq
        ? [String(row.bodies)]
        : String(row.bodies).split(RECORD_SEPARATOR);
      const floor = floors.get(eventType) ?? 0;
      bodies.forEach((body, i) => {
        if (first + i >= floor) history.push({ event_type: eventType, seq: first + i, body });
      });
    }
    const types = eventTypes.map((t) => ({ ...t }));
    this.#applyMarks(types);
    return { eventTypes: types, state, operations, history };
  }

  /**
   * Applies a batch in one transaction (rolled back when any part fails).
   *
   * @param batch The changes.
   * @throws {TypeError} When the store is closed.
   * @throws {Error} The SQLite error when the transaction failed.
   *
   * @example
   * ```ts
   * import { SqliteStore } from "./_sqlite_store.ts";
   * import { emptyBatch } from "./_store.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * {
   *   using store = SqliteStore.open(`${dir}/state.db`);
   *   const batch = emptyBatch();
   *   batch.state.push({ event_type: "t", state_key: "k", state_value: { on: true }, updated_at: "x" });
   *   store.write(batch);
   *   assert.deepEqual(store.load().state[0]?.state_value, { on: true });
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  write(batch: StoreBatch): void {
    this.#assertOpen("write to");
    const failing = this.#failing;
    if (failing !== null && performance.now() < failing.nextTry) {
      // Backing off: do not hammer a full disk, but keep the seqs safe.
      failing.count++;
      this.#failed(batch, failing.error, null);
    }
    try {
      this.#transaction(batch);
    } catch (error) {
      this.#failed(batch, errorText(error), error);
    }
    this.#failing = null;
    this.#seqsSaved = true;
    // Marks the database now covers are not needed any more.
    if (this.#marks.size > 0) this.#marks.forget(batch.eventTypes);
  }

  /** Records a failed write, saves the batch's seqs beside the database, and throws. */
  #failed(batch: StoreBatch, text: string, cause: unknown): never {
    const now = performance.now();
    let failing = this.#failing;
    if (failing === null) {
      failing = this.#failing = { since: now, count: 0, error: text, nextTry: now };
    }
    if (cause !== null) {
      failing.count++;
      failing.error = text;
      // Only a disk that refuses writes is left alone for a while.
      const backoff = !isDiskError(cause) ? 0 : Math.min(
        MAX_RETRY_MS,
        MIN_RETRY_MS * 2 ** Math.min(10, Math.floor(failing.count / 10)),
      );
      failing.nextTry = now + backoff;
    }
    let saved = false;
    let why = "";
    try {
      this.#marks.save(batch.eventTypes);
      saved = true;
    } catch (error) {
      why = `; cannot save the seqs in ${this.#marks.path} either: ${errorText(error)}`;
    }
    this.#seqsSaved = saved;
    throw new StoreWriteError(
      `Cannot write state to ${this.#path}: ${text}${why}`,
      cause === null ? { seqsSaved: saved } : { cause, seqsSaved: saved },
    );
  }

  /**
   * How writes are going: while they fail, since when, how many, the last
   * error, and whether the seqs handed out are saved beside the database.
   *
   * @returns A fresh object.
   * @example
   * ```ts
   * import { SqliteStore } from "./_sqlite_store.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * {
   *   using store = SqliteStore.open(`${dir}/state.db`);
   *   assert.equal(store.health().ok, true);
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  health(): StoreHealth {
    const failing = this.#failing;
    return {
      ok: failing === null,
      error: failing?.error ?? null,
      failing_since: failing === null
        ? null
        : new Date(Date.now() - (performance.now() - failing.since)).toISOString(),
      failed_writes: failing?.count ?? 0,
      seqs_saved: this.#seqsSaved,
    };
  }

  /** Raises each type's `last_seq` to its saved mark, adding types only marks know. */
  #applyMarks(types: StoredEventType[]): void {
    if (this.#marks.size === 0) return;
    const byName = new Map(types.map((t) => [t.event_type, t]));
    const raised: string[] = [];
    for (const [name, seq] of this.#marks.entries()) {
      const stored = byName.get(name);
      if (stored !== undefined && stored.last_seq >= seq) continue;
      raised.push(`${name} from ${stored?.last_seq ?? 0} to ${seq}`);
      if (stored !== undefined) stored.last_seq = seq;
      else types.push({ event_type: name, message_count: 0, last_seq: seq, last_event_at: null });
    }
    types.sort((a, b) => a.event_type < b.event_type ? -1 : a.event_type > b.event_type ? 1 : 0);
    if (raised.length > 0) {
      this.#onWarning(
        `Resuming past seqs handed out while the store could not write (their messages were not stored): ${
          raised.slice(0, 10).join(", ")
        }${raised.length > 10 ? ` and ${raised.length - 10} more types` : ""}`,
      );
    }
  }

  /**
   * `BEGIN IMMEDIATE`, waiting for the checkpoint worker's `TRUNCATE` (it
   * holds the write lock for about 3 ms) in steps of 0.2 ms. SQLite's own
   * busy handler sleeps 1, 2, 5, 10 … ms between tries, which made a 3 ms
   * hold an 8 ms stall of the routing thread.
   */
  #begin(): void {
    const db = this.#db;
    const s = this.#statements;
    s.busyNow.run();
    try {
      const deadline = performance.now() + BUSY_TIMEOUT_MS;
      for (;;) {
        try {
          db.exec("BEGIN IMMEDIATE");
          return;
        } catch (error) {
          if (!isBusy(error) || performance.now() > deadline) throw error;
          Atomics.wait(PAUSE, 0, 0, BUSY_STEP_MS);
        }
      }
    } finally {
      s.busyWait.run();
    }
  }

  #transaction(batch: StoreBatch): void {
    const db = this.#db;
    const s = this.#statements;
    this.#begin();
    try {
      for (const t of batch.eventTypes) {
        s.upsertType.run(t.event_type, t.message_count, t.last_seq, t.last_event_at);
      }
      for (const st of batch.state) {
        s.upsertState.run(
          st.event_type,
          st.state_key,
          JSON.stringify(st.state_value) ?? "null",
          st.updated_at,
        );
      }
      for (const op of batch.operations) {
        s.upsertOperation.run(
          op.operation_id,
          op.event_type,
          op.status,
          op.operation_name,
          op.parameters === null ? null : JSON.stringify(op.parameters),
          op.started_at,
          op.updated_at,
          op.step_id,
          op.step_name,
          op.step_progress,
          op.overall_progress,
          op.total_steps,
          op.current_step,
          op.duration_seconds,
          op.result === null ? null : JSON.stringify(op.result),
          op.error_code,
          op.error_message,
        );
      }
      for (const id of batch.deletedOperations) s.deleteOperation.run(id);
      // One row per run of consecutive seqs of a type (see HISTORY_TABLE).
      const history = batch.history;
      for (let i = 0; i < history.length;) {
        const first = history[i]!;
        let j = i + 1;
        if (!first.body.includes(RECORD_SEPARATOR)) {
          while (
            j < history.length && history[j]!.event_type === first.event_type &&
            history[j]!.seq === history[j - 1]!.seq + 1 &&
            !history[j]!.body.includes(RECORD_SEPARATOR)
          ) j++;
        }
        const bodies = j === i + 1
          ? first.body
          : history.slice(i, j).map((h) => h.body).join(RECORD_SEPARATOR);
        s.insertHistory.run(first.event_type, first.seq, history[j - 1]!.seq, bodies);
        i = j;
      }
      for (const p of batch.historyPrunes) {
        s.pruneHistory.run(p.event_type, p.before_seq);
        s.upsertFloor.run(p.event_type, p.before_seq);
      }
      db.exec("COMMIT");
      this.#checkpointer.committed();
    } catch (error) {
      try {
        if (db.isTransaction) db.exec("ROLLBACK");
      } catch {
        // The original error says more.
      }
      throw error;
    }
  }

  /**
   * WAL checkpoints completed in the background since open. Commits do not
   * checkpoint (that would fsync on the daemon's thread); every 1000 writes,
   * or as soon as the WAL reaches 4 MiB, a worker thread does (and empties
   * the WAL in the second case).
   *
   * @returns The count.
   * @example
   * ```ts
   * import { SqliteStore } from "./_sqlite_store.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * using store = SqliteStore.open(`${dir}/state.db`);
   * assert.equal(store.checkpoints, 0);
   * store.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  get checkpoints(): number {
    return this.#checkpointer.count;
  }

  /**
   * Closes the database (checkpointing the WAL). Idempotent.
   *
   * @example
   * ```ts
   * import { SqliteStore } from "./_sqlite_store.ts";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * const store = SqliteStore.open(`${dir}/state.db`);
   * store.close();
   * store.close();
   * assert.throws(() => store.load(), TypeError);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#checkpointer.close();
    this.#marks.close();
    try {
      this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch {
      // Closing checkpoints too, as far as it can.
    }
    this.#db.close();
  }

  /** Same as {@linkcode SqliteStore.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #assertOpen(action: string): void {
    if (this.#closed) {
      throw new TypeError(`Cannot ${action} the store: it is closed`);
    }
  }
}

/** While writes fail, the database is tried again after this, doubling every 10 failures... */
const MIN_RETRY_MS = 50;
/** ...up to this. */
const MAX_RETRY_MS = 1000;

/** The writer's step while another connection holds the write lock, ms. */
const BUSY_STEP_MS = 0.2;
/** What `Atomics.wait` waits on (nothing ever wakes it: a sleep). */
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/** SQLite's primary result code of an error, when `node:sqlite` gave one (statement errors do). */
function primaryCode(error: unknown): number | null {
  if (typeof error !== "object" || error === null) return null;
  const code = (error as { errcode?: unknown }).errcode;
  return typeof code === "number" ? code & 0xff : null;
}

/** `SQLITE_BUSY`: `exec` errors carry only SQLite's message, statement errors its code. */
function isBusy(error: unknown): boolean {
  const code = primaryCode(error);
  if (code !== null) return code === 5;
  return (error as { message?: unknown } | null)?.message === "database is locked";
}

/** SQLite's read-only, I/O error and disk full codes. */
const DISK_CODES: ReadonlySet<number> = new Set([8, 10, 13]);

function isDiskError(error: unknown): boolean {
  const code = primaryCode(error);
  return code !== null && DISK_CODES.has(code);
}

function parseJson(text: unknown): unknown {
  if (typeof text !== "string") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
