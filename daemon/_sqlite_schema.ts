/**
 * Opening the SQLite store safely: the schema and its migration, the checks
 * that refuse a planted link or a file of another owner, and moving a
 * corrupt or foreign database aside for a fresh one.
 *
 * @module
 */

import { WAL_TRUNCATE_BYTES } from "./_checkpoint_worker.ts";
import { assertOwnEntry } from "./_socket_dir.ts";
import { errorText } from "./_state_operations.ts";
import { DatabaseSync, type StatementSync } from "node:sqlite";

/** The schema this version writes. Older ones get migrated in `ensureSchema()`. */
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

/** Between the bodies of a history run (see `HISTORY_TABLE`). */
export const RECORD_SEPARATOR = "\x1e";

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

/** The `operations` table's columns, in `OperationRecord` order. */
export const OPERATION_COLUMNS = [
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

/** Prepared statements, made once per open database. */
export interface Statements {
  upsertType: StatementSync;
  upsertState: StatementSync;
  upsertOperation: StatementSync;
  deleteOperation: StatementSync;
  insertHistory: StatementSync;
  upsertFloor: StatementSync;
  pruneHistory: StatementSync;
  /** `PRAGMA busy_timeout = 0`, and back to the default (see `SqliteStore`'s `#begin`). */
  busyNow: StatementSync;
  busyWait: StatementSync;
}

/**
 * Opens (or creates) the database at `path`, after {@linkcode prepareFile}'s
 * checks. A file that cannot be opened, fails `quick_check` or holds another
 * schema is moved aside (`onWarning` says where) and a fresh one is created;
 * a busy, locked or full one is not touched, and the error is thrown.
 *
 * @example
 * ```ts
 * import { openSafely } from "./_sqlite_schema.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/state.db`, "not a database ".repeat(100));
 * const warnings: string[] = [];
 * const { db } = openSafely(`${dir}/state.db`, (w) => warnings.push(w));
 * db.close();
 * assert.equal(warnings.length, 1);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function openSafely(
  path: string,
  onWarning: (text: string) => void,
): { db: DatabaseSync; statements: Statements } {
  prepareFile(path);
  try {
    return openDatabase(path);
  } catch (error) {
    if (isTransient(error)) throw error;
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    moveAside(path, aside);
    onWarning(
      `Cannot use the state database ${path}: ${errorText(error)}; ` +
        `moved it to ${aside} and started a fresh one`,
    );
    prepareFile(path);
    return openDatabase(path);
  }
}

/** How long a statement waits for a lock another connection holds (the checkpoint worker's). */
export const BUSY_TIMEOUT_MS = 5000;

/** Opens and checks; throws (with the database closed) when anything is wrong. */
function openDatabase(path: string): { db: DatabaseSync; statements: Statements } {
  const db = new DatabaseSync(path);
  try {
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
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

/** Creates the schema in an empty database, or checks (and migrates) an existing one. */
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
    busyNow: db.prepare("PRAGMA busy_timeout = 0"),
    busyWait: db.prepare(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`),
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

function isTransient(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const code = (error as { errcode?: unknown }).errcode;
  return typeof code === "number" && TRANSIENT_CODES.has(code & 0xff);
}
