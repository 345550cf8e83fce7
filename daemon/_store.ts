/**
 * The daemon's persistent store: one small interface, and an in-memory
 * implementation for tests and `--no-persist`. The SQLite one lives in
 * `sqlite_store.ts`.
 *
 * @module
 */

import type { OperationRecord } from "../protocol/mod.ts";

/**
 * One known event type as stored.
 *
 * @example
 * ```ts
 * import type { StoredEventType } from "./_store.ts";
 * import assert from "node:assert/strict";
 *
 * const t: StoredEventType = {
 *   event_type: "wallpaper",
 *   message_count: 3,
 *   last_seq: 3,
 *   last_event_at: "2026-11-25T10:40:00.000Z",
 * };
 * assert.equal(t.last_seq, 3);
 * ```
 */
export interface StoredEventType {
  /** The event type. */
  event_type: string;
  /** Messages routed for it, over the daemon's whole life. */
  message_count: number;
  /** The `seq` of the last routed message, 0 before the first. */
  last_seq: number;
  /** When the last message was routed (ISO-8601, UTC), or `null`. */
  last_event_at: string | null;
}

/**
 * One current-state entry: the latest `state_value` of a `(event_type, state_key)`.
 *
 * @example
 * ```ts
 * import type { StoredState } from "./_store.ts";
 * import assert from "node:assert/strict";
 *
 * const s: StoredState = {
 *   event_type: "theme",
 *   state_key: "current",
 *   state_value: { name: "dark" },
 *   updated_at: "2026-11-25T10:40:00.000Z",
 * };
 * assert.equal(s.state_key, "current");
 * ```
 */
export interface StoredState {
  /** The event type. */
  event_type: string;
  /** The key within the event type. */
  state_key: string;
  /**
   * The value as the manager sent it: a JSON object for a valid payload, but
   * any JSON value is kept when payloads are not strictly validated.
   */
  state_value: unknown;
  /** When the daemon received it (ISO-8601, UTC). */
  updated_at: string;
}

/**
 * One history entry: a routed message, serialised, with its `seq`.
 *
 * @example
 * ```ts
 * import type { StoredHistoryEntry } from "./_store.ts";
 * import assert from "node:assert/strict";
 *
 * const h: StoredHistoryEntry = { event_type: "theme", seq: 1, body: '{"seq":1}' };
 * assert.equal(JSON.parse(h.body).seq, h.seq);
 * ```
 */
export interface StoredHistoryEntry {
  /** The event type. */
  event_type: string;
  /** The message's `seq`. */
  seq: number;
  /** The routed message's JSON, including `seq`. */
  body: string;
}

/**
 * Everything a store holds, as loaded at start-up. Event types are ordered
 * by name, history by event type, then `seq`; operations by `started_at`,
 * then insertion.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "./_store.ts";
 * import assert from "node:assert/strict";
 *
 * const snapshot = new MemoryStore().load();
 * assert.deepEqual(snapshot, { eventTypes: [], state: [], operations: [], history: [] });
 * ```
 */
export interface StoreSnapshot {
  /** Known event types. */
  eventTypes: StoredEventType[];
  /** Current state entries. */
  state: StoredState[];
  /** Operations, running and finished. */
  operations: OperationRecord[];
  /** Kept history. */
  history: StoredHistoryEntry[];
}

/**
 * Drop a type's history entries whose `seq` is below `before_seq`.
 *
 * @example
 * ```ts
 * import type { HistoryPrune } from "./_store.ts";
 * import assert from "node:assert/strict";
 *
 * const p: HistoryPrune = { event_type: "theme", before_seq: 10 };
 * assert.equal(p.before_seq, 10);
 * ```
 */
export interface HistoryPrune {
  /** The event type. */
  event_type: string;
  /** Entries with a smaller `seq` are deleted. */
  before_seq: number;
}

/**
 * Changes written in one transaction. Upserts replace rows with the same
 * key; deletions and prunes run after the upserts.
 *
 * @example
 * ```ts
 * import { emptyBatch, MemoryStore } from "./_store.ts";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryStore();
 * const batch = emptyBatch();
 * batch.eventTypes.push({ event_type: "t", message_count: 1, last_seq: 1, last_event_at: null });
 * store.write(batch);
 * assert.equal(store.load().eventTypes.length, 1);
 * ```
 */
export interface StoreBatch {
  /** Event types to insert or replace. */
  eventTypes: StoredEventType[];
  /** State entries to insert or replace. */
  state: StoredState[];
  /** Operations to insert or replace, by `operation_id`. */
  operations: OperationRecord[];
  /** Operation ids to delete (retention pruning). */
  deletedOperations: string[];
  /** History entries to insert or replace, by `(event_type, seq)`. */
  history: StoredHistoryEntry[];
  /** History ranges to delete (beyond the history limit). */
  historyPrunes: HistoryPrune[];
}

/**
 * Thrown by {@linkcode Store.write} when the transaction failed. When
 * `seqsSaved` is true, the highest `seq` of every event type in the batch
 * was saved where the next start reads it, so none of those seqs is handed
 * out again after a restart even though the batch itself is lost; the
 * daemon may then broadcast what it recorded. When false it must not.
 *
 * @example
 * ```ts
 * import { StoreWriteError } from "./_store.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new StoreWriteError("Cannot write: disk full", { seqsSaved: true });
 * assert.ok(error.seqsSaved);
 * assert.equal(error.name, "StoreWriteError");
 * ```
 */
export class StoreWriteError extends Error {
  /** Whether the batch's seqs were saved outside the failed transaction. */
  readonly seqsSaved: boolean;

  /**
   * Creates the error.
   *
   * @param message The error message.
   * @param options `seqsSaved` and an optional cause.
   */
  constructor(message: string, options: ErrorOptions & { seqsSaved: boolean }) {
    super(message, options);
    this.name = "StoreWriteError";
    this.seqsSaved = options.seqsSaved;
  }
}

/**
 * How a store's writes are going, for `get_daemon_status`.
 *
 * @example
 * ```ts
 * import type { StoreHealth } from "./_store.ts";
 * import assert from "node:assert/strict";
 *
 * const h: StoreHealth = { ok: true, error: null, failing_since: null, failed_writes: 0, seqs_saved: true };
 * assert.ok(h.ok);
 * ```
 */
export interface StoreHealth {
  /** False while writes fail. */
  ok: boolean;
  /** The last write's error while failing, else `null`. */
  error: string | null;
  /** When the current run of failures began (ISO-8601, UTC), else `null`. */
  failing_since: string | null;
  /** Writes failed in the current run of failures (0 while ok). */
  failed_writes: number;
  /** Whether the seqs handed out are all saved (written, or kept beside the store while failing). */
  seqs_saved: boolean;
}

/**
 * Where the daemon keeps its state between runs.
 *
 * @example A store in a function signature
 * ```ts
 * import { MemoryStore, type Store } from "./_store.ts";
 * import assert from "node:assert/strict";
 *
 * function describe(store: Store): string {
 *   return store.path ?? "in memory";
 * }
 * assert.equal(describe(new MemoryStore()), "in memory");
 * ```
 */
export interface Store {
  /** The database file, or `null` for a store that keeps nothing on disk. */
  readonly path: string | null;
  /** Reads everything the store holds. */
  load(): StoreSnapshot;
  /**
   * Applies a batch in one transaction; throws when it could not (a
   * {@linkcode StoreWriteError} says whether the batch's seqs were saved
   * anyway; any other error means they were not).
   */
  write(batch: StoreBatch): void;
  /** How writes are going; a store without it is taken to be always ok. */
  health?(): StoreHealth;
  /** Releases the store; idempotent. */
  close(): void;
}

/**
 * Returns a batch with nothing in it.
 *
 * @returns A new, empty {@linkcode StoreBatch}.
 *
 * @example
 * ```ts
 * import { emptyBatch, isEmptyBatch } from "./_store.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isEmptyBatch(emptyBatch()));
 * ```
 */
export function emptyBatch(): StoreBatch {
  return {
    eventTypes: [],
    state: [],
    operations: [],
    deletedOperations: [],
    history: [],
    historyPrunes: [],
  };
}

/**
 * Tells whether a batch holds no change.
 *
 * @param batch The batch.
 * @returns `true` when every list is empty.
 *
 * @example
 * ```ts
 * import { emptyBatch, isEmptyBatch } from "./_store.ts";
 * import assert from "node:assert/strict";
 *
 * const batch = emptyBatch();
 * batch.deletedOperations.push("op-1");
 * assert.equal(isEmptyBatch(batch), false);
 * ```
 */
export function isEmptyBatch(batch: StoreBatch): boolean {
  return batch.eventTypes.length === 0 && batch.state.length === 0 &&
    batch.operations.length === 0 && batch.deletedOperations.length === 0 &&
    batch.history.length === 0 && batch.historyPrunes.length === 0;
}

/**
 * A store that keeps what was written in memory: a `DaemonState` created
 * again on the same instance sees it, as after a restart. Serves tests and
 * `--no-persist`. It keeps the batch's objects as they are, so a writer must
 * not mutate them afterwards (`DaemonState` never does).
 *
 * @example Restart on the same store
 * ```ts
 * import { emptyBatch, MemoryStore } from "./_store.ts";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryStore();
 * const batch = emptyBatch();
 * batch.history.push({ event_type: "t", seq: 1, body: '{"seq":1}' });
 * batch.history.push({ event_type: "t", seq: 2, body: '{"seq":2}' });
 * batch.historyPrunes.push({ event_type: "t", before_seq: 2 });
 * store.write(batch);
 * assert.deepEqual(store.load().history.map((h) => h.seq), [2]);
 * assert.equal(store.path, null);
 * ```
 */
export class MemoryStore implements Store {
  #eventTypes = new Map<string, StoredEventType>();
  #state = new Map<string, StoredState>();
  #operations = new Map<string, OperationRecord>();
  #history = new Map<string, Map<number, StoredHistoryEntry>>();
  #writes = 0;
  #closed = false;

  /** Always `null`: nothing is on disk. */
  get path(): null {
    return null;
  }

  /**
   * The number of batches written so far (for tests).
   *
   * @returns The count.
   *
   * @example
   * ```ts
   * import { emptyBatch, MemoryStore } from "./_store.ts";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryStore();
   * store.write(emptyBatch());
   * assert.equal(store.writes, 1);
   * ```
   */
  get writes(): number {
    return this.#writes;
  }

  /**
   * Reads everything written so far.
   *
   * @returns Fresh arrays; operations in `started_at`, then insertion order.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "./_store.ts";
   * import assert from "node:assert/strict";
   *
   * assert.deepEqual(new MemoryStore().load().operations, []);
   * ```
   */
  load(): StoreSnapshot {
    this.#closed = false;
    const history: StoredHistoryEntry[] = [];
    for (const type of [...this.#history.keys()].sort()) {
      const entries = [...this.#history.get(type)!.values()].sort((a, b) => a.seq - b.seq);
      for (const entry of entries) history.push({ ...entry });
    }
    const operations = [...this.#operations.values()].map((op, i) => ({ op, i }))
      .sort((a, b) =>
        a.op.started_at < b.op.started_at ? -1 : a.op.started_at > b.op.started_at ? 1 : a.i - b.i
      )
      .map(({ op }) => ({ ...op }));
    return {
      eventTypes: [...this.#eventTypes.values()]
        .sort((a, b) => a.event_type < b.event_type ? -1 : a.event_type > b.event_type ? 1 : 0)
        .map((t) => ({ ...t })),
      state: [...this.#state.values()].map((s) => ({ ...s })),
      operations,
      history,
    };
  }

  /**
   * Applies a batch.
   *
   * @param batch The changes.
   *
   * @example
   * ```ts
   * import { emptyBatch, MemoryStore } from "./_store.ts";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryStore();
   * const batch = emptyBatch();
   * batch.state.push({ event_type: "t", state_key: "k", state_value: { a: 1 }, updated_at: "x" });
   * store.write(batch);
   * assert.deepEqual(store.load().state[0]?.state_value, { a: 1 });
   * ```
   */
  write(batch: StoreBatch): void {
    this.#writes++;
    for (const t of batch.eventTypes) this.#eventTypes.set(t.event_type, t);
    for (const s of batch.state) this.#state.set(`${s.event_type}\0${s.state_key}`, s);
    for (const op of batch.operations) {
      // Keep insertion order across upserts, as SQLite keeps the rowid.
      this.#operations.set(op.operation_id, op);
    }
    for (const id of batch.deletedOperations) this.#operations.delete(id);
    for (const h of batch.history) {
      let entries = this.#history.get(h.event_type);
      if (entries === undefined) this.#history.set(h.event_type, entries = new Map());
      entries.set(h.seq, h);
    }
    for (const prune of batch.historyPrunes) {
      const entries = this.#history.get(prune.event_type);
      if (entries === undefined) continue;
      // Entries are kept in insertion order, which is `seq` order for
      // DaemonState's batches: stop at the first one to keep.
      for (const seq of entries.keys()) {
        if (seq >= prune.before_seq) break;
        entries.delete(seq);
      }
    }
  }

  /**
   * Marks the store closed. What it holds stays: `load()` and `write()` keep
   * working, so a test can "restart" a `DaemonState` on the same instance.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "./_store.ts";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryStore();
   * store.close();
   * store.close();
   * assert.ok(store.closed);
   * assert.deepEqual(store.load().history, []);
   * assert.equal(store.closed, false);
   * ```
   */
  close(): void {
    this.#closed = true;
  }

  /**
   * Whether `close()` was called since the last `load()` (for tests).
   *
   * @returns `true` after `close()`, `false` again after `load()`.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "./_store.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new MemoryStore().closed, false);
   * ```
   */
  get closed(): boolean {
    return this.#closed;
  }
}
