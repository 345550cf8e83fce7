/**
 * The daemon's on-disk store: one SQLite file through the built-in
 * `node:sqlite` (`DatabaseSync`), in WAL mode with `synchronous=NORMAL`, so
 * a committed batch survives the daemon being killed (not a power loss).
 *
 * @module
 */

import { CHECKPOINT_WORKER_URL, type CheckpointReply } from "./_checkpoint_worker.ts";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { JsonObject, OperationRecord } from "../protocol/mod.ts";
import type {
  Store,
  StoreBatch,
  StoredEventType,
  StoredHistoryEntry,
  StoredState,
  StoreSnapshot,
} from "./store.ts";

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
 * import type { SqliteStoreOptions } from "@dotfiles/daemon/daemon";
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
 * import { emptyBatch, SqliteStore } from "@dotfiles/daemon/daemon";
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

  private constructor(
    path: string,
    db: DatabaseSync,
    statements: Statements,
    onWarning: (text: string) => void,
  ) {
    this.#onWarning = onWarning;
    this.#path = path;
    this.#db = db;
    this.#statements = statements;
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
   * import { SqliteStore } from "@dotfiles/daemon/daemon";
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
    return new SqliteStore(path, opened.db, opened.statements, onWarning);
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
   * import { SqliteStore } from "@dotfiles/daemon/daemon";
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
    return {
      eventTypes: eventTypes.map((t) => ({ ...t })),
      state,
      operations,
      history,
    };
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
   * import { emptyBatch, SqliteStore } from "@dotfiles/daemon/daemon";
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
      if (++this.#writesSinceCheckpoint >= CHECKPOINT_EVERY_WRITES) this.#checkpoint();
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
   * checkpoint (that would fsync on the daemon's thread); every 1000 writes
   * a worker thread does.
   *
   * @returns The count.
   * @example
   * ```ts
   * import { SqliteStore } from "@dotfiles/daemon/daemon";
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
   * import { SqliteStore } from "@dotfiles/daemon/daemon";
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
  #checkpoint(): void {
    if (this.#checkpointing) return;
    this.#writesSinceCheckpoint = 0;
    if (this.#checkpointer === null && !this.#inlineCheckpoints) this.#startCheckpointer();
    if (this.#checkpointer === null) {
      this.#db.exec("PRAGMA wal_checkpoint(PASSIVE)");
      return;
    }
    this.#checkpointing = true;
    this.#checkpointer.postMessage(this.#path);
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

/** Transactions between two background WAL checkpoints. */
const CHECKPOINT_EVERY_WRITES = 1000;

/** Opens and checks; throws (with the database closed) when anything is wrong. */
function openDatabase(path: string): { db: DatabaseSync; statements: Statements } {
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA wal_autocheckpoint = 0");
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

/** Creates the directory (0700) and an empty file (0600) when missing. */
function prepareFile(path: string): void {
  const slash = path.lastIndexOf("/");
  if (slash > 0) Deno.mkdirSync(path.slice(0, slash), { recursive: true, mode: 0o700 });
  try {
    Deno.openSync(path, { createNew: true, write: true, mode: 0o600 }).close();
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
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
