/**
 * The daemon's on-disk store: one SQLite file through the built-in
 * `node:sqlite` (`DatabaseSync`), in WAL mode with `synchronous=NORMAL`, so
 * a committed batch survives the daemon being killed (not a power loss).
 *
 * @module
 */

import {
  CHECKPOINT_WORKER_URL,
  type CheckpointReply,
  type CheckpointRequest,
} from "./_checkpoint_worker.ts";
import { assertOwnEntry } from "./_socket_dir.ts";
import { DatabaseSync, type StatementSync } from "node:sqlite";
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

/** The schema this version writes. Older ones get migrated in `#migrate()`. */
const SCHEMA_VERSION = 2;

/**
 * History, one row per run of consecutive messages of a type written in one
 * transaction (a read's worth), not one row per message: an insert costs
 * about 2 us, which per message was a fifth of the daemon's time. `bodies`
 * holds the routed messages' JSON in seq order, separated by U+001E (record
 * separator), a character valid JSON text cannot contain unescaped.
 */
const HISTORY_TABLE = `
CREATE TABLE history (
  event_type TEXT NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  bodies TEXT NOT NULL
);
CREATE UNIQUE INDEX history_by_seq ON history (event_type, first_seq);
CREATE TABLE history_floor (
  event_type TEXT PRIMARY KEY,
  before_seq INTEGER NOT NULL
) WITHOUT ROWID;
`;

const RECORD_SEPARATOR = "\x1e";

const SCHEMA = `
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE event_types (
  event_type TEXT PRIMARY KEY,
  message_count INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  last_event_at TEXT
) WITHOUT ROWID;
CREATE TABLE state (
  event_type TEXT NOT NULL,
  state_key TEXT NOT NULL,
  state_value TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (event_type, state_key)
) WITHOUT ROWID;
CREATE TABLE operations (
  operation_id TEXT PRIMARY KEY,
  event_type TEXT NOT NULL,
  status TEXT NOT NULL,
  operation_name TEXT,
  parameters TEXT,
  started_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  step_id TEXT,
  step_name TEXT,
  step_progress REAL,
  overall_progress REAL,
  total_steps REAL,
  current_step REAL,
  duration_seconds REAL,
  result TEXT,
  error_code TEXT,
  error_message TEXT
);
${HISTORY_TABLE}`;

const TABLES = ["meta", "event_types", "state", "operations", "history", "history_floor"];

const OPERATION_COLUMNS = [
  "operation_id",
  "event_type",
  "status",
  "operation_name",
  "parameters",
  "started_at",
  "updated_at",
  "step_id",
  "step_name",
  "step_progress",
  "overall_progress",
  "total_steps",
  "current_step",
  "duration_seconds",
  "result",
  "error_code",
  "error_message",
] as const;

/**
 * SQLite error codes that say nothing about the file itself (busy, locked,
 * out of memory, disk full): opening fails, the file is left alone.
 */
const TRANSIENT_CODES: ReadonlySet<number> = new Set([5, 6, 7, 13]);

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

/** Prepared statements, made once per open database. */
interface Statements {
  upsertType: StatementSync;
  upsertState: StatementSync;
  upsertOperation: StatementSync;
  deleteOperation: StatementSync;
  insertHistory: StatementSync;
  upsertFloor: StatementSync;
  pruneHistory: StatementSync;
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
  #writesSinceCheckpoint = 0;
  #checkpointer: Worker | null = null;
  #checkpointing = false;
  #checkpoints = 0;
  #inlineCheckpoints = false;
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
    this.#startCheckpointer();
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
    prepareFile(path);
    let opened;
    try {
      opened = openDatabase(path);
    } catch (error) {
      if (isTransient(error)) throw error;
      const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`;
      moveAside(path, aside);
      onWarning(
        `Cannot use the state database ${path}: ${errorText(error)}; ` +
          `moved it to ${aside} and started a fresh one`,
      );
      prepareFile(path);
      opened = openDatabase(path);
    }
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

  #transaction(batch: StoreBatch): void {
    const db = this.#db;
    const s = this.#statements;
    db.exec("BEGIN IMMEDIATE");
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
      this.#writesSinceCheckpoint++;
      if (!this.#checkpointing) {
        const wal = this.#walBytes();
        if (wal >= WAL_TRUNCATE_BYTES) this.#checkpoint(true);
        else if (this.#writesSinceCheckpoint >= CHECKPOINT_EVERY_WRITES) this.#checkpoint(false);
      }
    } catch (error) {
      try {
        if (db.isTransaction) db.exec("ROLLBACK");
      } catch {
        // The original error says more.
      }
      throw error;
    }
  }

  /** The WAL's size, 0 while it has none. */
  #walBytes(): number {
    try {
      return Deno.statSync(`${this.#path}-wal`).size;
    } catch {
      return 0;
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
    return this.#checkpoints;
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
    this.#checkpointer?.terminate();
    this.#checkpointer = null;
    this.#marks.close();
    try {
      this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch {
      // Closing checkpoints too, as far as it can.
    }
    this.#db.close();
  }

  /**
   * Asks the worker for a checkpoint unless one is running. Automatic
   * checkpoints are off on this connection: they fsync, and on the main
   * thread that stalled every message behind them. Where a worker cannot be
   * started, the checkpoint runs here instead.
   */
  #checkpoint(truncate: boolean): void {
    if (this.#checkpointing) return;
    this.#writesSinceCheckpoint = 0;
    if (this.#checkpointer === null && !this.#inlineCheckpoints) this.#startCheckpointer();
    if (this.#checkpointer === null) {
      this.#db.exec(`PRAGMA wal_checkpoint(${truncate ? "TRUNCATE" : "PASSIVE"})`);
      return;
    }
    this.#checkpointing = true;
    const request: CheckpointRequest = { path: this.#path, truncate };
    this.#checkpointer.postMessage(request);
  }

  /** Starts the worker; loading it takes tens of milliseconds, so this runs at open. */
  #startCheckpointer(): void {
    if (this.#checkpointer === null) {
      try {
        this.#checkpointer = new Worker(CHECKPOINT_WORKER_URL, { type: "module" });
      } catch (error) {
        this.#inlineCheckpoints = true;
        this.#onWarning(`Cannot start the checkpoint worker, checkpointing inline: ${error}`);
        return;
      }
      this.#checkpointer.onmessage = (event: MessageEvent<CheckpointReply>) => {
        this.#checkpointing = false;
        if (event.data.ok) this.#checkpoints++;
        else this.#onWarning(`WAL checkpoint failed: ${event.data.error}`);
      };
      this.#checkpointer.onerror = (event) => {
        event.preventDefault();
        this.#checkpointing = false;
        this.#checkpointer?.terminate();
        this.#checkpointer = null;
        this.#inlineCheckpoints = true;
        this.#onWarning(`Checkpoint worker failed, checkpointing inline: ${event.message}`);
      };
    }
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

/** Beside `state.db`: the highest seq per type handed out while the database could not be written. */
const SEQ_MARKS_SUFFIX = "-seq";
/** The marks file's size, written at open so later writes overwrite in place (no new blocks). */
const SEQ_MARKS_BYTES = 64 * 1024;
/** While writes fail, the database is tried again after this, doubling every 10 failures... */
const MIN_RETRY_MS = 50;
/** ...up to this. */
const MAX_RETRY_MS = 1000;

/**
 * The seq marks: a small file of `{"event_type": seq}` beside the
 * database, written only while the database cannot be, before anything is
 * broadcast. It is filled to 64 KiB with spaces when created, so each write
 * overwrites blocks the file already has: on a full disk (ext4, tmpfs) that
 * still succeeds where SQLite, which needs new pages, fails. A start reads
 * it and resumes each type past its mark, so a seq a monitor may have seen
 * is never handed out again; once the database has caught up, the marks are
 * cleared.
 */
class SeqMarks {
  readonly path: string;
  #file: Deno.FsFile;
  #marks: Map<string, number>;
  /** Bytes of content last written: a shorter write pads over the rest. */
  #written: number;
  #encoder = new TextEncoder();

  private constructor(
    path: string,
    file: Deno.FsFile,
    marks: Map<string, number>,
    written: number,
  ) {
    this.path = path;
    this.#file = file;
    this.#marks = marks;
    this.#written = written;
  }

  static open(path: string, onWarning: (text: string) => void): SeqMarks {
    const file = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o600 });
    try {
      const size = file.statSync().size;
      const bytes = new Uint8Array(size);
      let read = 0;
      while (read < size) {
        const n = file.readSync(bytes.subarray(read));
        if (n === null) break;
        read += n;
      }
      const text = new TextDecoder().decode(bytes.subarray(0, read)).trim();
      const marks = new Map<string, number>();
      if (text !== "") {
        try {
          const parsed = JSON.parse(text);
          for (const [name, seq] of Object.entries(parsed as Record<string, unknown>)) {
            if (Number.isSafeInteger(seq) && (seq as number) > 0) marks.set(name, seq as number);
          }
        } catch (error) {
          onWarning(`Cannot read the seq marks in ${path}, ignoring them: ${errorText(error)}`);
        }
      }
      if (size < SEQ_MARKS_BYTES) {
        try {
          file.seekSync(size, Deno.SeekMode.Start);
          writeAllSync(file, new Uint8Array(SEQ_MARKS_BYTES - size).fill(0x20));
          file.syncDataSync();
        } catch (error) {
          onWarning(`Cannot reserve space for the seq marks in ${path}: ${errorText(error)}`);
        }
      }
      return new SeqMarks(path, file, marks, new TextEncoder().encode(text).byteLength);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  get size(): number {
    return this.#marks.size;
  }

  entries(): IterableIterator<[string, number]> {
    return this.#marks.entries();
  }

  /** Raises the marks to the types' `last_seq` and writes them; throws when the write fails. */
  save(types: StoredEventType[]): void {
    let changed = false;
    for (const t of types) {
      if ((this.#marks.get(t.event_type) ?? 0) < t.last_seq) {
        this.#marks.set(t.event_type, t.last_seq);
        changed = true;
      }
    }
    if (changed) this.#write();
  }

  /** Drops the marks that `types`, just written to the database, cover. */
  forget(types: StoredEventType[]): void {
    let changed = false;
    for (const t of types) {
      const mark = this.#marks.get(t.event_type);
      if (mark !== undefined && mark <= t.last_seq) {
        this.#marks.delete(t.event_type);
        changed = true;
      }
    }
    if (!changed) return;
    try {
      this.#write();
    } catch {
      // A stale mark only makes a restart skip a few seqs; never reuse them.
    }
  }

  #write(): void {
    const content = this.#encoder.encode(JSON.stringify(Object.fromEntries(this.#marks)));
    const bytes = new Uint8Array(Math.max(content.byteLength, this.#written)).fill(0x20);
    bytes.set(content);
    this.#file.seekSync(0, Deno.SeekMode.Start);
    writeAllSync(this.#file, bytes);
    this.#written = content.byteLength;
  }

  close(): void {
    try {
      this.#file.close();
    } catch {
      // already closed
    }
  }
}

function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.byteLength) offset += file.writeSync(bytes.subarray(offset));
}

/** Transactions between two background WAL checkpoints. */
const CHECKPOINT_EVERY_WRITES = 1000;
/**
 * A WAL this big gets a checkpoint that empties it, at once; it is also the
 * `journal_size_limit`, so a WAL started over while idle is cut back to it.
 */
const WAL_TRUNCATE_BYTES = 4 * 1024 * 1024;

/** Opens and checks; throws (with the database closed) when anything is wrong. */
function openDatabase(path: string): { db: DatabaseSync; statements: Statements } {
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA wal_autocheckpoint = 0");
    db.exec(`PRAGMA journal_size_limit = ${WAL_TRUNCATE_BYTES}`);
    const check = db.prepare("PRAGMA quick_check").all().map((row) => row.quick_check);
    if (check.length !== 1 || check[0] !== "ok") {
      throw new Error(`quick_check reported ${JSON.stringify(check.slice(0, 3))}`);
    }
    ensureSchema(db);
    return { db, statements: prepareStatements(db) };
  } catch (error) {
    try {
      db.close();
    } catch {
      // Already unusable.
    }
    throw error;
  }
}

/** Creates the schema in an empty database, or checks (and migrates) an existing one. */
/** Version 1 kept one history row per message. */
function migrateFrom1(db: DatabaseSync): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec("ALTER TABLE history RENAME TO history_v1");
    db.exec(HISTORY_TABLE);
    db.exec(
      `INSERT INTO history (event_type, first_seq, last_seq, bodies)
       SELECT event_type, seq, seq, body FROM history_v1`,
    );
    db.exec("DROP TABLE history_v1");
    db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(
      String(SCHEMA_VERSION),
    );
    db.exec("COMMIT");
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

function ensureSchema(db: DatabaseSync): void {
  const tables = new Set(
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()
      .map((row) => String(row.name)),
  );
  if (tables.size === 0) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(SCHEMA);
      db.prepare("INSERT INTO meta (key, value) VALUES (?, ?), (?, ?)").run(
        "schema_version",
        String(SCHEMA_VERSION),
        "created_at",
        new Date().toISOString(),
      );
      db.exec("COMMIT");
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw error;
    }
    return;
  }
  if (!tables.has("meta")) {
    throw new Error(
      `unknown schema: expected the tables ${TABLES.join(", ")}, received ${
        [...tables].join(", ")
      }`,
    );
  }
  const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get();
  const version = Number(row?.value);
  if (!Number.isInteger(version) || version < 1 || version > SCHEMA_VERSION) {
    throw new Error(
      `unknown schema version: expected 1 to ${SCHEMA_VERSION}, received ${
        JSON.stringify(row?.value ?? null)
      }`,
    );
  }
  if (version === 1) {
    migrateFrom1(db);
    tables.add("history_floor");
  }
  const missing = TABLES.filter((name) => !tables.has(name));
  if (missing.length > 0) {
    throw new Error(`incomplete schema: missing the tables ${missing.join(", ")}`);
  }
}

function prepareStatements(db: DatabaseSync): Statements {
  const placeholders = OPERATION_COLUMNS.map(() => "?").join(", ");
  const updates = OPERATION_COLUMNS.slice(1).map((c) => `${c} = excluded.${c}`).join(", ");
  return {
    upsertType: db.prepare(
      `INSERT INTO event_types (event_type, message_count, last_seq, last_event_at)
       VALUES (?, ?, ?, ?)
       ON CONFLICT (event_type) DO UPDATE SET message_count = excluded.message_count,
         last_seq = excluded.last_seq, last_event_at = excluded.last_event_at`,
    ),
    upsertState: db.prepare(
      `INSERT INTO state (event_type, state_key, state_value, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (event_type, state_key) DO UPDATE SET state_value = excluded.state_value,
         updated_at = excluded.updated_at`,
    ),
    // An upsert, not INSERT OR REPLACE: the rowid (insertion order) stays.
    upsertOperation: db.prepare(
      `INSERT INTO operations (${OPERATION_COLUMNS.join(", ")}) VALUES (${placeholders})
       ON CONFLICT (operation_id) DO UPDATE SET ${updates}`,
    ),
    deleteOperation: db.prepare("DELETE FROM operations WHERE operation_id = ?"),
    // seq is never handed out twice, so a row is never rewritten.
    insertHistory: db.prepare(
      "INSERT OR IGNORE INTO history (event_type, first_seq, last_seq, bodies) VALUES (?, ?, ?, ?)",
    ),
    upsertFloor: db.prepare(
      `INSERT INTO history_floor (event_type, before_seq) VALUES (?, ?)
       ON CONFLICT (event_type) DO UPDATE SET before_seq = excluded.before_seq`,
    ),
    // A run is dropped once all of it is below the floor; load skips the rest.
    // first_seq is indexed: the range holds only the old runs (and the one
    // straddling the floor, which last_seq keeps). Filtering on last_seq
    // alone scanned every run of the type in every transaction.
    pruneHistory: db.prepare(
      "DELETE FROM history WHERE event_type = ?1 AND first_seq < ?2 AND last_seq < ?2",
    ),
  };
}

/** Beside the database, SQLite opens these by name (and follows links to them). */
const SIDE_FILES = ["-wal", "-shm", "-journal", "-seq"];

/**
 * Creates the directory (0700) and an empty file (0600) when missing, and
 * refuses a database, WAL, shared-memory or journal path that is a link or
 * not a plain file of the directory's owner: SQLite would follow a planted
 * link and write the database, and its `-wal` and `-shm`, beside the target.
 */
function prepareFile(path: string): void {
  const slash = path.lastIndexOf("/");
  const dir = slash > 0 ? path.slice(0, slash) : ".";
  if (slash > 0) Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const uid = Deno.statSync(dir).uid;
  for (const suffix of ["", ...SIDE_FILES]) assertOwnEntry(`${path}${suffix}`, "file", uid);
  try {
    // createNew (O_EXCL) never follows a link.
    Deno.openSync(path, { createNew: true, write: true, mode: 0o600 }).close();
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  assertOwnEntry(path, "file", uid);
}

/** Renames the file and its WAL aside, and removes its shared-memory index. */
function moveAside(path: string, aside: string): void {
  Deno.renameSync(path, aside);
  try {
    Deno.renameSync(`${path}-wal`, `${aside}-wal`);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  try {
    Deno.removeSync(`${path}-shm`);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** SQLite's read-only, I/O error and disk full codes. */
const DISK_CODES: ReadonlySet<number> = new Set([8, 10, 13]);

function isDiskError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const code = (error as { errcode?: unknown }).errcode;
  return typeof code === "number" && DISK_CODES.has(code & 0xff);
}

function isTransient(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const code = (error as { errcode?: unknown }).errcode;
  return typeof code === "number" && TRANSIENT_CODES.has(code & 0xff);
}

function parseJson(text: unknown): unknown {
  if (typeof text !== "string") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
