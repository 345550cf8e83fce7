/**
 * What the daemon remembers: known event types with their counts and last
 * `seq`, current state, operations and history. Kept in memory, answered
 * from memory, and written to a {@linkcode Store} in batches.
 *
 * @module
 */

import type {
  CurrentStateResult,
  EventHistoryResult,
  JsonObject,
  Message,
  OperationRecord,
  OperationStatus,
  OperationStatusResult,
  Payload,
} from "../protocol/mod.ts";
import { HistoryRing } from "./_state_ring.ts";
import {
  applyCompleted,
  applyFailed,
  applyProgress,
  applyStarted,
  blankRecord,
  normalizeRecord,
  type OperationEntry,
  STALE_ERROR_CODE,
  str,
} from "./_state_operations.ts";
import {
  emptyBatch,
  type Store,
  type StoreBatch,
  type StoredEventType,
  type StoredState,
} from "./store.ts";

const DEFAULT_HISTORY_LIMIT = 1000;
const DEFAULT_OPERATION_RETENTION = 1000;
const DEFAULT_STALE_AFTER = 30 * 60 * 1000;
const DEFAULT_FLUSH_DELAY = 100;
const DEFAULT_HISTORY_QUERY_LIMIT = 50;
/** The longest delay `setTimeout` takes without firing at once. */
const MAX_TIMER_DELAY = 2 ** 31 - 1;
const STATUSES: ReadonlySet<string> = new Set(["running", "completed", "failed"]);

/**
 * Options of {@linkcode DaemonState}.
 *
 * @example
 * ```ts
 * import { type DaemonStateOptions, MemoryStore } from "@dotfiles/daemon/daemon";
 * import assert from "node:assert/strict";
 *
 * const options: DaemonStateOptions = { store: new MemoryStore(), historyLimit: 100 };
 * assert.equal(options.historyLimit, 100);
 * ```
 */
export interface DaemonStateOptions {
  /** Where state is loaded from and written to. */
  store: Store;
  /**
   * Routed messages kept per event type (0 keeps none).
   *
   * @default {1000}
   */
  historyLimit?: number;
  /**
   * Finished operations kept; the oldest finished are pruned first. Running
   * operations are always kept.
   *
   * @default {1000}
   */
  operationRetention?: number;
  /**
   * Milliseconds without an update after which a running operation is
   * marked failed with `error_code` `STALE`. `Infinity` never does.
   *
   * @default {1800000}
   */
  staleAfter?: number;
  /**
   * Milliseconds between the first unwritten change and the transaction
   * that writes it and everything after it.
   *
   * @default {100}
   */
  flushDelay?: number;
  /**
   * Gets the synthesized `operation_failed` (error_code `STALE`, no `seq`)
   * of an operation that went stale. The daemon routes it, which calls
   * {@linkcode DaemonState.record}. If the operation is still running when
   * this returns, it is marked failed without being routed.
   */
  onStale?: (message: Message) => void;
  /** Gets a line worth logging, such as a failed store write. */
  onWarning?: (text: string) => void;
  /**
   * The clock, in ms since the epoch.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/**
 * Options of {@linkcode DaemonState.history}.
 *
 * @example
 * ```ts
 * import type { HistoryOptions } from "@dotfiles/daemon/daemon";
 * import assert from "node:assert/strict";
 *
 * const options: HistoryOptions = { limit: 10, afterSeq: 41 };
 * assert.equal(options.afterSeq, 41);
 * ```
 */
export interface HistoryOptions {
  /**
   * At most this many events (a positive integer).
   *
   * @default {50}
   */
  limit?: number;
  /** Only events whose `seq` is greater (an integer >= 0); without it, the last `limit` events. */
  afterSeq?: number;
}

/**
 * Filter of {@linkcode DaemonState.operations}.
 *
 * @example
 * ```ts
 * import type { OperationFilter } from "@dotfiles/daemon/daemon";
 * import assert from "node:assert/strict";
 *
 * const filter: OperationFilter = { status: "running" };
 * assert.equal(filter.status, "running");
 * ```
 */
export interface OperationFilter {
  /** Only this operation, whatever its event type. */
  operationId?: string;
  /** Only operations with this status. */
  status?: OperationStatus;
}

/**
 * History as serialised bodies, for replaying to a monitor without parsing
 * and serialising each message again. Same fields as `EventHistoryResult`,
 * with `bodies` instead of `events`.
 *
 * @example
 * ```ts
 * import type { RawHistoryResult } from "@dotfiles/daemon/daemon";
 * import assert from "node:assert/strict";
 *
 * const r: RawHistoryResult = { bodies: [], truncated: false, oldest_seq: null, last_seq: 0 };
 * assert.equal(r.bodies.length, 0);
 * ```
 */
export interface RawHistoryResult {
  /** The routed messages' JSON, oldest first. */
  bodies: string[];
  /** True when events after `afterSeq` are no longer kept. */
  truncated: boolean;
  /** The oldest `seq` still kept, or `null` when none is. */
  oldest_seq: number | null;
  /** The type's last `seq` (0 before the first message). */
  last_seq: number;
}

/**
 * Counters for `get_daemon_status`.
 *
 * @example
 * ```ts
 * import { DaemonState, MemoryStore } from "@dotfiles/daemon/daemon";
 * import assert from "node:assert/strict";
 *
 * using state = new DaemonState({ store: new MemoryStore() });
 * assert.equal(state.counters().operations_running, 0);
 * ```
 */
export interface DaemonStateCounters {
  /** Event types known. */
  event_types: number;
  /** History entries kept, over all types. */
  history_entries: number;
  /** Current-state entries, over all types. */
  state_entries: number;
  /** Operations running now. */
  operations_running: number;
  /** Finished operations kept. */
  operations_finished: number;
  /** Operations marked `STALE` since start-up. */
  operations_stale: number;
  /** Finished operations pruned since start-up. */
  operations_pruned: number;
  /** Transactions written since start-up. */
  store_writes: number;
  /** Transactions that failed since start-up. */
  store_write_failures: number;
}

/** One event type in memory. */
interface TypeEntry {
  event_type: string;
  message_count: number;
  last_seq: number;
  lastEventMs: number | null;
  ring: HistoryRing;
  state: Map<string, StoredState>;
  /** The newest history `seq` written to the store. */
  flushedSeq: number;
  /** The ring dropped entries the store may still hold. */
  pruneNeeded: boolean;
  /** State keys changed since the last write. */
  dirtyKeys: Set<string>;
}

/**
 * The daemon's state: event types, current state, operations and history,
 * loaded from a {@linkcode Store} at construction, answered from memory,
 * and written back in one transaction per burst (`flushDelay` after its
 * first change). No timer runs while nothing is pending: the flush timer
 * exists only while changes are unwritten, the stale timer only while
 * operations run.
 *
 * @example An operation's life, then a restart
 * ```ts
 * import { DaemonState, MemoryStore } from "@dotfiles/daemon/daemon";
 * import { MessageBuilder } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryStore();
 * {
 *   using state = new DaemonState({ store });
 *   let seq = 0;
 *   for (
 *     const message of [
 *       MessageBuilder.operationStarted({ eventType: "backup", operationId: "b1", operationName: "Backup" }),
 *       MessageBuilder.operationCompleted({ eventType: "backup", operationId: "b1", durationSeconds: 3 }),
 *     ]
 *   ) {
 *     const routed = { ...message, seq: ++seq };
 *     state.record(routed, JSON.stringify(routed));
 *   }
 *   assert.equal(state.operations("backup").operations[0]?.status, "completed");
 * }
 * using again = new DaemonState({ store });
 * assert.equal(again.lastSeq("backup"), 2);
 * assert.equal(again.operations("*", { operationId: "b1" }).operations[0]?.duration_seconds, 3);
 * assert.deepEqual(again.history("backup", { afterSeq: 1 }).events.map((e) => e.seq), [2]);
 * ```
 */
export class DaemonState implements Disposable {
  #store: Store;
  #historyLimit: number;
  #retention: number;
  #staleAfter: number;
  #flushDelay: number;
  #onStale: ((message: Message) => void) | undefined;
  #onWarning: (text: string) => void;
  #now: () => number;

  #types = new Map<string, TypeEntry>();
  #operations = new Map<string, OperationEntry>();
  /** Running operations, least recently updated first. */
  #running = new Map<string, OperationEntry>();
  /** Finished operations, earliest finished first. */
  #finished = new Map<string, OperationEntry>();
  #order = 0;

  #dirtyTypes = new Set<TypeEntry>();
  #dirtyOperations = new Set<OperationEntry>();
  #deletedOperations = new Set<string>();

  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #staleTimer: ReturnType<typeof setTimeout> | undefined;
  #failing = false;
  #closed = false;

  #staleCount = 0;
  #prunedCount = 0;
  #writeCount = 0;
  #writeFailures = 0;

  /**
   * Loads the store's snapshot (synchronously).
   *
   * @param options The store, limits and callbacks.
   * @throws {RangeError} When a limit or delay is out of range.
   */
  constructor(options: DaemonStateOptions) {
    const {
      store,
      historyLimit = DEFAULT_HISTORY_LIMIT,
      operationRetention = DEFAULT_OPERATION_RETENTION,
      staleAfter = DEFAULT_STALE_AFTER,
      flushDelay = DEFAULT_FLUSH_DELAY,
      onStale,
      onWarning = () => {},
      now = Date.now,
    } = options;
    if (!Number.isInteger(historyLimit) || historyLimit < 0) {
      throw new RangeError(
        `Cannot create state: historyLimit must be an integer >= 0, received ${historyLimit}`,
      );
    }
    if (!Number.isInteger(operationRetention) || operationRetention < 0) {
      throw new RangeError(
        `Cannot create state: operationRetention must be an integer >= 0, received ${operationRetention}`,
      );
    }
    if (!(staleAfter > 0)) {
      throw new RangeError(
        `Cannot create state: staleAfter must be a positive number, received ${staleAfter}`,
      );
    }
    if (!(flushDelay >= 0 && flushDelay <= MAX_TIMER_DELAY)) {
      throw new RangeError(
        `Cannot create state: flushDelay must be a number of ms >= 0, received ${flushDelay}`,
      );
    }
    this.#store = store;
    this.#historyLimit = historyLimit;
    this.#retention = operationRetention;
    this.#staleAfter = staleAfter;
    this.#flushDelay = flushDelay;
    this.#onStale = onStale;
    this.#onWarning = onWarning;
    this.#now = now;
    this.#load();
  }

  // ---------------------------------------------------------------- loading

  #load(): void {
    let snapshot;
    try {
      snapshot = this.#store.load();
    } catch (error) {
      this.#onWarning(`Cannot load the stored state, starting empty: ${errorText(error)}`);
      return;
    }
    for (const stored of snapshot.eventTypes) {
      const entry = this.#typeEntry(stored.event_type);
      entry.message_count = stored.message_count;
      entry.last_seq = stored.last_seq;
      entry.flushedSeq = stored.last_seq;
      const ms = stored.last_event_at === null ? NaN : Date.parse(stored.last_event_at);
      entry.lastEventMs = Number.isNaN(ms) ? null : ms;
    }
    // Stored types need no write; types found only below (state or history
    // without a row) stay marked, so that their row gets written.
    this.#dirtyTypes.clear();
    for (const stored of snapshot.state) {
      this.#typeEntry(stored.event_type).state.set(stored.state_key, stored);
    }
    for (const stored of snapshot.history) {
      const entry = this.#typeEntry(stored.event_type);
      if (entry.ring.push(stored.seq, stored.body)) entry.pruneNeeded = true;
      if (stored.seq > entry.last_seq) entry.last_seq = stored.seq;
      if (stored.seq > entry.flushedSeq) entry.flushedSeq = stored.seq;
    }
    for (const entry of this.#types.values()) {
      if (entry.pruneNeeded) this.#dirtyTypes.add(entry);
    }
    const running: OperationEntry[] = [];
    const finished: OperationEntry[] = [];
    for (const raw of snapshot.operations) {
      const record = normalizeRecord(raw);
      if (record === null) continue;
      const startedMs = Date.parse(record.started_at);
      const updatedMs = Date.parse(record.updated_at);
      const entry: OperationEntry = {
        record,
        startedMs: Number.isNaN(startedMs) ? 0 : startedMs,
        updatedMs: Number.isNaN(updatedMs) ? 0 : updatedMs,
        order: ++this.#order,
      };
      this.#operations.set(record.operation_id, entry);
      (record.status === "running" ? running : finished).push(entry);
    }
    const byUpdate = (a: OperationEntry, b: OperationEntry): number =>
      a.updatedMs - b.updatedMs || a.order - b.order;
    for (const entry of running.sort(byUpdate)) {
      this.#running.set(entry.record.operation_id, entry);
    }
    for (const entry of finished.sort(byUpdate)) {
      this.#finished.set(entry.record.operation_id, entry);
    }
    this.#pruneFinished();
    this.#armStale();
    if (this.#hasPending()) this.#scheduleFlush();
  }

  #typeEntry(eventType: string): TypeEntry {
    let entry = this.#types.get(eventType);
    if (entry === undefined) {
      entry = {
        event_type: eventType,
        message_count: 0,
        last_seq: 0,
        lastEventMs: null,
        ring: new HistoryRing(this.#historyLimit),
        state: new Map(),
        flushedSeq: 0,
        pruneNeeded: false,
        dirtyKeys: new Set(),
      };
      this.#types.set(eventType, entry);
      this.#dirtyTypes.add(entry);
    }
    return entry;
  }

  // ---------------------------------------------------------------- queries

  /**
   * Every known event type, so that their sockets come back at start-up.
   *
   * @returns One entry per type, in the order the types became known.
   *
   * @example
   * ```ts
   * import { DaemonState, MemoryStore } from "@dotfiles/daemon/daemon";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore() });
   * state.ensureEventType("theme");
   * assert.deepEqual(state.knownEventTypes(), [
   *   { event_type: "theme", message_count: 0, last_seq: 0, last_event_at: null },
   * ]);
   * ```
   */
  knownEventTypes(): StoredEventType[] {
    const result: StoredEventType[] = [];
    for (const entry of this.#types.values()) result.push(storedType(entry));
    return result;
  }

  /**
   * One event type's counts.
   *
   * @param eventType The event type.
   * @returns Its entry, or `undefined` when the type is unknown.
   *
   * @example
   * ```ts
   * import { DaemonState, MemoryStore } from "@dotfiles/daemon/daemon";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore() });
   * assert.equal(state.eventType("nope"), undefined);
   * ```
   */
  eventType(eventType: string): StoredEventType | undefined {
    const entry = this.#types.get(eventType);
    return entry === undefined ? undefined : storedType(entry);
  }

  /**
   * Registers an event type with no message yet (e.g. from `--event-types`),
   * so that it is listed and kept across restarts. Does nothing for a known
   * type.
   *
   * @param eventType The event type.
   *
   * @example
   * ```ts
   * import { DaemonState, MemoryStore } from "@dotfiles/daemon/daemon";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore() });
   * state.ensureEventType("theme");
   * assert.equal(state.lastSeq("theme"), 0);
   * assert.equal(state.knownEventTypes().length, 1);
   * ```
   */
  ensureEventType(eventType: string): void {
    if (this.#closed || this.#types.has(eventType)) return;
    this.#typeEntry(eventType);
    this.#scheduleFlush();
  }

  /**
   * The `seq` of the last message recorded for a type.
   *
   * @param eventType The event type.
   * @returns The last `seq`, 0 when the type is unknown.
   *
   * @example
   * ```ts
   * import { DaemonState, MemoryStore } from "@dotfiles/daemon/daemon";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore() });
   * assert.equal(state.lastSeq("theme"), 0);
   * ```
   */
  lastSeq(eventType: string): number {
    return this.#types.get(eventType)?.last_seq ?? 0;
  }

  /**
   * The current state of a type (`{KEY: VALUE}`), or of every type with
   * event type `"*"` (`{TYPE: {KEY: VALUE}}`, types without state left out).
   *
   * @param eventType The event type, or `"*"`.
   * @param stateKey Only this key.
   * @returns The `get_current_state` result; `{ state: {} }` when nothing matches.
   *
   * @example
   * ```ts
   * import { DaemonState, MemoryStore } from "@dotfiles/daemon/daemon";
   * import { MessageBuilder } from "@dotfiles/daemon/protocol";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore() });
   * const message = {
   *   ...MessageBuilder.stateUpdate({ eventType: "theme", stateKey: "current", stateValue: { name: "dark" } }),
   *   seq: 1,
   * };
   * state.record(message, JSON.stringify(message));
   * assert.deepEqual(state.currentState("theme"), { state: { current: { name: "dark" } } });
   * assert.deepEqual(state.currentState("*", "current"), { state: { theme: { current: { name: "dark" } } } });
   * assert.deepEqual(state.currentState("theme", "other"), { state: {} });
   * ```
   */
  currentState(eventType: string, stateKey?: string): CurrentStateResult {
    if (eventType === "*") {
      const state: JsonObject = {};
      for (const entry of this.#types.values()) {
        const values = stateOf(entry, stateKey);
        if (values !== null) state[entry.event_type] = values;
      }
      return { state };
    }
    const entry = this.#types.get(eventType);
    return { state: (entry === undefined ? null : stateOf(entry, stateKey)) ?? {} };
  }

  /**
   * Operations of a type (or of every type with `"*"`), newest first (by
   * `started_at`, then by when the daemon first saw them). With
   * `operationId`, that operation whatever its type, or none.
   *
   * @param eventType The event type, or `"*"`.
   * @param filter Operation id and status filters.
   * @returns The `get_operation_status` result; copies of the records.
   * @throws {RangeError} When `status` is not a known status.
   *
   * @example
   * ```ts
   * import { DaemonState, MemoryStore } from "@dotfiles/daemon/daemon";
   * import { MessageBuilder } from "@dotfiles/daemon/protocol";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore() });
   * const message = {
   *   ...MessageBuilder.operationStarted({ eventType: "backup", operationId: "b1", operationName: "Backup" }),
   *   seq: 1,
   * };
   * state.record(message, JSON.stringify(message));
   * const [op] = state.operations("backup", { status: "running" }).operations;
   * assert.equal(op?.operation_name, "Backup");
   * assert.equal(op?.result, null);
   * assert.deepEqual(state.operations("*", { operationId: "nope" }), { operations: [] });
   * ```
   */
  operations(eventType: string, filter: OperationFilter = {}): OperationStatusResult {
    const { operationId, status } = filter;
    if (status !== undefined && !STATUSES.has(status)) {
      throw new RangeError(
        `Cannot list operations: status must be running, completed or failed, received "${status}"`,
      );
    }
    if (operationId !== undefined) {
      const entry = this.#operations.get(operationId);
      const match = entry !== undefined && (status === undefined || entry.record.status === status);
      return { operations: match ? [{ ...entry.record }] : [] };
    }
    const list: OperationEntry[] = [];
    for (const entry of this.#operations.values()) {
      if (
        (eventType === "*" || entry.record.event_type === eventType) &&
        (status === undefined || entry.record.status === status)
      ) list.push(entry);
    }
    list.sort((a, b) => b.startedMs - a.startedMs || b.order - a.order);
    return { operations: list.map((entry) => ({ ...entry.record })) };
  }

  /**
   * A type's kept history, oldest first. Without `afterSeq`: the last
   * `limit` events. With it: the first `limit` events whose `seq` is
   * greater, and `truncated: true` when some of the events right after
   * `afterSeq` are no longer kept.
   *
   * @param eventType The event type.
   * @param options `limit` (default 50) and `afterSeq`.
   * @returns The `get_event_history` result.
   * @throws {RangeError} When `limit` is not a positive integer or `afterSeq`
   * not an integer >= 0.
   *
   * @example Catching up after seq 1
   * ```ts
   * import { DaemonState, MemoryStore } from "@dotfiles/daemon/daemon";
   * import { MessageBuilder } from "@dotfiles/daemon/protocol";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore(), historyLimit: 2 });
   * for (let seq = 1; seq <= 3; seq++) {
   *   const message = {
   *     ...MessageBuilder.stateUpdate({ eventType: "t", stateKey: "k", stateValue: { seq } }),
   *     seq,
   *   };
   *   state.record(message, JSON.stringify(message));
   * }
   * const result = state.history("t", { afterSeq: 0 });
   * assert.deepEqual(result.events.map((e) => e.seq), [2, 3]);
   * assert.equal(result.truncated, true);
   * assert.equal(result.oldest_seq, 2);
   * assert.equal(result.last_seq, 3);
   * ```
   */
  history(eventType: string, options: HistoryOptions = {}): EventHistoryResult {
    const { bodies, truncated, oldest_seq, last_seq } = this.historyBodies(eventType, options);
    const events: JsonObject[] = bodies.map((body) => JSON.parse(body));
    return { events, truncated, oldest_seq, last_seq };
  }

  /**
   * Same as {@linkcode DaemonState.history}, with the serialised bodies.
   *
   * @param eventType The event type.
   * @param options `limit` (default 50) and `afterSeq`.
   * @returns The bodies and the history's bounds.
   * @throws {RangeError} As `history()`.
   *
   * @example
   * ```ts
   * import { DaemonState, MemoryStore } from "@dotfiles/daemon/daemon";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore() });
   * assert.deepEqual(state.historyBodies("t", { afterSeq: 5 }), {
   *   bodies: [],
   *   truncated: false,
   *   oldest_seq: null,
   *   last_seq: 0,
   * });
   * ```
   */
  historyBodies(eventType: string, options: HistoryOptions = {}): RawHistoryResult {
    const { limit = DEFAULT_HISTORY_QUERY_LIMIT, afterSeq } = options;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(
        `Cannot read history: limit must be a positive integer, received ${limit}`,
      );
    }
    if (afterSeq !== undefined && (!Number.isInteger(afterSeq) || afterSeq < 0)) {
      throw new RangeError(
        `Cannot read history: afterSeq must be an integer >= 0, received ${afterSeq}`,
      );
    }
    const entry = this.#types.get(eventType);
    if (entry === undefined) {
      return { bodies: [], truncated: false, oldest_seq: null, last_seq: 0 };
    }
    const ring = entry.ring;
    const oldest = ring.oldestSeq;
    let from: number;
    let to: number;
    let truncated = false;
    if (afterSeq === undefined) {
      to = ring.size;
      from = Math.max(0, to - limit);
    } else {
      from = ring.indexAfter(afterSeq);
      to = Math.min(ring.size, from + limit);
      truncated = afterSeq < entry.last_seq && (oldest === null || oldest > afterSeq + 1);
    }
    const bodies: string[] = [];
    for (let i = from; i < to; i++) bodies.push(ring.bodyAt(i));
    return { bodies, truncated, oldest_seq: oldest, last_seq: entry.last_seq };
  }

  /**
   * Counters for `get_daemon_status`.
   *
   * @returns A fresh object.
   *
   * @example
   * ```ts
   * import { DaemonState, MemoryStore } from "@dotfiles/daemon/daemon";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore() });
   * assert.equal(state.counters().store_writes, 0);
   * ```
   */
  counters(): DaemonStateCounters {
    let history = 0;
    let states = 0;
    for (const entry of this.#types.values()) {
      history += entry.ring.size;
      states += entry.state.size;
    }
    return {
      event_types: this.#types.size,
      history_entries: history,
      state_entries: states,
      operations_running: this.#running.size,
      operations_finished: this.#finished.size,
      operations_stale: this.#staleCount,
      operations_pruned: this.#prunedCount,
      store_writes: this.#writeCount,
      store_write_failures: this.#writeFailures,
    };
  }

  // -------------------------------------------------------------- recording

  /**
   * Records a routed message: counts, last `seq` and time, history, current
   * state (`state_update`) and operations (`operation_*`, by
   * `operation_id`). Tolerates payloads with missing or mistyped fields.
   * Does no I/O: the change is written by the next batch. Does nothing after
   * `close()`.
   *
   * @param message The routed message, with `seq` (the type's last `seq` + 1
   * is assumed when it has none).
   * @param body The routed message's JSON, kept as history.
   *
   * @example
   * ```ts
   * import { DaemonState, MemoryStore } from "@dotfiles/daemon/daemon";
   * import { MessageBuilder } from "@dotfiles/daemon/protocol";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore() });
   * const message = {
   *   ...MessageBuilder.stateUpdate({ eventType: "theme", stateKey: "current", stateValue: {} }),
   *   seq: state.lastSeq("theme") + 1,
   * };
   * state.record(message, JSON.stringify(message));
   * assert.equal(state.lastSeq("theme"), 1);
   * ```
   */
  record(message: Message, body: string): void {
    if (this.#closed) return;
    const entry = this.#types.get(message.event_type) ?? this.#typeEntry(message.event_type);
    const ms = this.#now();
    const seq = typeof message.seq === "number" ? message.seq : entry.last_seq + 1;
    entry.message_count++;
    entry.last_seq = seq;
    entry.lastEventMs = ms;
    if (entry.ring.push(seq, body)) entry.pruneNeeded = true;
    this.#dirtyTypes.add(entry);
    const payload = message.payload;
    if (payload !== null && typeof payload === "object") {
      switch (payload.type) {
        case "state_update":
          this.#applyState(entry, payload, ms);
          break;
        case "operation_started":
        case "operation_progress":
        case "operation_completed":
        case "operation_failed":
          this.#applyOperation(entry.event_type, payload, ms);
          break;
      }
    }
    if (this.#flushTimer === undefined) this.#scheduleFlush();
  }

  #applyState(entry: TypeEntry, payload: Payload, ms: number): void {
    const key = str(payload.state_key);
    if (key === null || payload.state_value === undefined) return;
    entry.state.set(key, {
      event_type: entry.event_type,
      state_key: key,
      state_value: payload.state_value,
      updated_at: isoTime(ms),
    });
    entry.dirtyKeys.add(key);
  }

  #applyOperation(eventType: string, payload: Payload, ms: number): void {
    const id = str(payload.operation_id);
    if (id === null || id === "") return;
    const iso = isoTime(ms);
    let entry = this.#operations.get(id);
    const restart = payload.type === "operation_started" &&
      (entry === undefined || entry.record.status !== "running");
    if (entry === undefined || restart) {
      // A new operation, or an id reused after its operation finished.
      entry = { record: blankRecord(id, eventType, iso), startedMs: ms, updatedMs: ms, order: 0 };
      entry.order = ++this.#order;
      this.#operations.set(id, entry);
      this.#deletedOperations.delete(id);
    }
    const record = entry.record;
    switch (payload.type) {
      case "operation_started":
        applyStarted(record, payload);
        break;
      case "operation_progress":
        applyProgress(record, payload);
        break;
      case "operation_completed":
        applyCompleted(record, payload);
        break;
      default:
        applyFailed(record, payload);
    }
    record.updated_at = iso;
    entry.updatedMs = ms;
    this.#dirtyOperations.add(entry);
    if (record.status === "running") {
      this.#finished.delete(id);
      this.#running.delete(id);
      this.#running.set(id, entry);
      if (this.#staleTimer === undefined) this.#armStale();
    } else {
      if (this.#running.delete(id) && this.#running.size === 0) this.#clearStaleTimer();
      this.#finished.delete(id);
      this.#finished.set(id, entry);
      if (this.#finished.size > this.#retention) this.#pruneFinished();
    }
  }

  #pruneFinished(): void {
    for (const [id, entry] of this.#finished) {
      if (this.#finished.size <= this.#retention) break;
      this.#finished.delete(id);
      this.#operations.delete(id);
      this.#dirtyOperations.delete(entry);
      this.#deletedOperations.add(id);
      this.#prunedCount++;
    }
  }

  // ------------------------------------------------------------------ stale

  #armStale(): void {
    if (this.#closed || this.#staleTimer !== undefined) return;
    const first = this.#running.values().next();
    if (first.done || this.#staleAfter === Infinity) return;
    const delay = first.value.updatedMs + this.#staleAfter - this.#now();
    this.#staleTimer = setTimeout(
      () => this.#checkStale(),
      Math.min(MAX_TIMER_DELAY, Math.max(0, delay)),
    );
  }

  #clearStaleTimer(): void {
    if (this.#staleTimer !== undefined) {
      clearTimeout(this.#staleTimer);
      this.#staleTimer = undefined;
    }
  }

  #checkStale(): void {
    this.#staleTimer = undefined;
    if (this.#closed) return;
    const now = this.#now();
    const stale: OperationEntry[] = [];
    for (const entry of this.#running.values()) {
      if (entry.updatedMs + this.#staleAfter > now) break;
      stale.push(entry);
    }
    for (const entry of stale) {
      const record = entry.record;
      if (record.status !== "running" || this.#operations.get(record.operation_id) !== entry) {
        continue;
      }
      this.#staleCount++;
      const message = this.#staleMessage(record, now);
      if (this.#onStale !== undefined) {
        try {
          this.#onStale(message);
        } catch (error) {
          this.#onWarning(
            `Cannot route the STALE failure of operation "${record.operation_id}": ${
              errorText(error)
            }`,
          );
        }
      }
      if (this.#closed) return;
      if (record.status === "running" && this.#operations.get(record.operation_id) === entry) {
        this.#applyOperation(record.event_type, message.payload, now);
        if (this.#flushTimer === undefined) this.#scheduleFlush();
      }
    }
    this.#armStale();
  }

  #staleMessage(record: OperationRecord, now: number): Message {
    const payload: Payload = {
      type: "operation_failed",
      operation_id: record.operation_id,
      error_code: STALE_ERROR_CODE,
      error_message: `No update for ${
        formatSeconds(this.#staleAfter)
      }: the operation's manager has probably stopped`,
    };
    if (record.step_id !== null) payload.step_id = record.step_id;
    return {
      message_id: crypto.randomUUID(),
      timestamp: new Date(now).toISOString(),
      event_type: record.event_type,
      payload,
    };
  }

  // ------------------------------------------------------------------ flush

  #scheduleFlush(): void {
    if (this.#closed || this.#flushTimer !== undefined) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.flush();
    }, this.#flushDelay);
  }

  #hasPending(): boolean {
    return this.#dirtyTypes.size > 0 || this.#dirtyOperations.size > 0 ||
      this.#deletedOperations.size > 0;
  }

  /**
   * Writes every pending change now, in one transaction. A failed write is
   * reported through `onWarning` (once per run of failures) and retried
   * with the next batch; the state in memory is unaffected.
   *
   * @example
   * ```ts
   * import { DaemonState, MemoryStore } from "@dotfiles/daemon/daemon";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryStore();
   * using state = new DaemonState({ store });
   * state.ensureEventType("theme");
   * state.flush();
   * assert.equal(store.load().eventTypes[0]?.event_type, "theme");
   * ```
   */
  flush(): void {
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    if (!this.#hasPending()) return;
    const batch = this.#buildBatch();
    try {
      this.#store.write(batch);
    } catch (error) {
      this.#writeFailures++;
      if (!this.#failing) {
        this.#failing = true;
        this.#onWarning(
          `Cannot write state to the store, keeping it in memory: ${errorText(error)}`,
        );
      }
      return;
    }
    if (this.#failing) {
      this.#failing = false;
      this.#onWarning("Writing state to the store works again");
    }
    this.#writeCount++;
    for (const entry of this.#dirtyTypes) {
      entry.flushedSeq = entry.ring.newestSeq ?? entry.last_seq;
      entry.pruneNeeded = false;
      entry.dirtyKeys.clear();
    }
    this.#dirtyTypes.clear();
    this.#dirtyOperations.clear();
    this.#deletedOperations.clear();
  }

  #buildBatch(): StoreBatch {
    const batch = emptyBatch();
    for (const entry of this.#dirtyTypes) {
      batch.eventTypes.push(storedType(entry));
      for (const key of entry.dirtyKeys) {
        const stored = entry.state.get(key);
        if (stored !== undefined) batch.state.push(stored);
      }
      const ring = entry.ring;
      for (let i = ring.indexAfter(entry.flushedSeq); i < ring.size; i++) {
        batch.history.push({
          event_type: entry.event_type,
          seq: ring.seqAt(i),
          body: ring.bodyAt(i),
        });
      }
      if (entry.pruneNeeded) {
        batch.historyPrunes.push({
          event_type: entry.event_type,
          before_seq: ring.oldestSeq ?? entry.last_seq + 1,
        });
      }
    }
    for (const entry of this.#dirtyOperations) batch.operations.push({ ...entry.record });
    for (const id of this.#deletedOperations) batch.deletedOperations.push(id);
    return batch;
  }

  // ------------------------------------------------------------------ close

  /**
   * Writes pending changes, stops the timers and closes the store.
   * Idempotent.
   *
   * @example
   * ```ts
   * import { DaemonState, MemoryStore } from "@dotfiles/daemon/daemon";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryStore();
   * const state = new DaemonState({ store });
   * state.ensureEventType("theme");
   * state.close();
   * state.close();
   * assert.ok(store.closed);
   * assert.equal(store.load().eventTypes.length, 1);
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#clearStaleTimer();
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    try {
      this.#store.close();
    } catch (error) {
      this.#onWarning(`Cannot close the store: ${errorText(error)}`);
    }
  }

  /** Same as {@linkcode DaemonState.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function storedType(entry: TypeEntry): StoredEventType {
  return {
    event_type: entry.event_type,
    message_count: entry.message_count,
    last_seq: entry.last_seq,
    last_event_at: entry.lastEventMs === null ? null : new Date(entry.lastEventMs).toISOString(),
  };
}

function stateOf(entry: TypeEntry, stateKey: string | undefined): JsonObject | null {
  if (stateKey !== undefined) {
    const stored = entry.state.get(stateKey);
    return stored === undefined ? null : { [stateKey]: stored.state_value };
  }
  if (entry.state.size === 0) return null;
  const values: JsonObject = {};
  for (const [key, stored] of entry.state) values[key] = stored.state_value;
  return values;
}

function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(3)} s`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

let lastIsoMs = NaN;
let lastIso = "";

/** `new Date(ms).toISOString()`, cached for the last millisecond: messages of a burst share it. */
function isoTime(ms: number): string {
  if (ms !== lastIsoMs) {
    lastIso = new Date(ms).toISOString();
    lastIsoMs = ms;
  }
  return lastIso;
}
