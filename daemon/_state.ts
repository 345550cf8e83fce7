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
  OperationStatus,
  OperationStatusResult,
} from "../protocol/mod.ts";
import { MAX_TIMER_DELAY, OperationTable } from "./_state_operation_table.ts";
import { errorText } from "./_state_operations.ts";
import { EventTypeTable, type StateRefusal } from "./_state_types.ts";
import { WriteBehind } from "./_state_write_behind.ts";
import type { Store, StoredEventType, StoreHealth } from "./_store.ts";

const DEFAULT_HISTORY_BYTES = 8 * 1024 * 1024;
const DEFAULT_MAX_STATE_VALUE = 256 * 1024;
const DEFAULT_MAX_STATE_BYTES = 4 * 1024 * 1024;
const DEFAULT_HISTORY_LIMIT = 1000;
const DEFAULT_OPERATION_RETENTION = 1000;
const DEFAULT_STALE_AFTER = 30 * 60 * 1000;
const DEFAULT_FLUSH_DELAY = 100;

/**
 * Options of {@linkcode DaemonState}.
 *
 * @example
 * ```ts
 * import { type DaemonStateOptions } from "./_state.ts";
 * import { MemoryStore } from "./_store.ts";
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
  /**
   * History bodies' total length per event type; the oldest are dropped
   * past it (the newest is always kept).
   *
   * @default {8388608}
   */
  historyBytes?: number;
  /**
   * A state value's size at most (the routed `state_update`'s length, or
   * the value's own JSON when that is over); larger ones are refused.
   *
   * @default {262144}
   */
  maxStateValueSize?: number;
  /**
   * State values' total size per event type; an update past it is refused.
   *
   * @default {4194304}
   */
  maxStateBytes?: number;
  /** Gets a line worth logging, such as the store working again. */
  onWarning?: (text: string) => void;
  /**
   * Gets a line for every failed store write, as long as they fail (the
   * daemon logs it at error level, rate-limited).
   *
   * @default {onWarning}
   */
  onStoreError?: (text: string) => void;
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
 * import type { HistoryOptions } from "./_state.ts";
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
 * import type { OperationFilter } from "./_state.ts";
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
 * import type { RawHistoryResult } from "./_state.ts";
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
 * import { DaemonState } from "./_state.ts";
 * import { MemoryStore } from "./_store.ts";
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
  /** Stored history entries removed because they were not JSON objects (a damaged state.db). */
  history_entries_invalid: number;
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
 * import { DaemonState } from "./_state.ts";
 * import { MemoryStore } from "./_store.ts";
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
  #types: EventTypeTable;
  #operations: OperationTable;
  #writes: WriteBehind;
  #now: () => number;
  #closed = false;

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
    this.#now = now;
    this.#types = new EventTypeTable({
      historyLimit,
      historyBytes: options.historyBytes ?? DEFAULT_HISTORY_BYTES,
      maxStateValueSize: options.maxStateValueSize ?? DEFAULT_MAX_STATE_VALUE,
      maxStateBytes: options.maxStateBytes ?? DEFAULT_MAX_STATE_BYTES,
      onInvalidHistory: (eventType, count) =>
        onWarning(
          `Cannot answer with ${count} stored history entr${
            count === 1 ? "y" : "ies"
          } of '${eventType}': expected JSON objects, received damaged text; removed`,
        ),
    });
    this.#operations = new OperationTable({
      retention: operationRetention,
      staleAfter,
      now,
      onStale,
      onWarning,
      onChange: () => this.#writes.schedule(),
    });
    this.#writes = new WriteBehind({
      store,
      delay: flushDelay,
      sources: [this.#types, this.#operations],
      onWarning,
      onStoreError: options.onStoreError ?? onWarning,
      now,
    });
    let snapshot;
    try {
      snapshot = store.load();
    } catch (error) {
      onWarning(`Cannot load the stored state, starting empty: ${errorText(error)}`);
      return;
    }
    this.#types.load(snapshot);
    this.#writes.cover(this.#types.known());
    this.#operations.load(snapshot.operations);
    if (this.#writes.pending) this.#writes.schedule();
  }

  // ---------------------------------------------------------------- queries

  /**
   * Every known event type, so that their sockets come back at start-up.
   *
   * @returns One entry per type, in the order the types became known.
   *
   * @example
   * ```ts
   * import { DaemonState } from "./_state.ts";
   * import { MemoryStore } from "./_store.ts";
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
    return this.#types.known();
  }

  /**
   * One event type's counts.
   *
   * @param eventType The event type.
   * @returns Its entry, or `undefined` when the type is unknown.
   *
   * @example
   * ```ts
   * import { DaemonState } from "./_state.ts";
   * import { MemoryStore } from "./_store.ts";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore() });
   * assert.equal(state.eventType("nope"), undefined);
   * ```
   */
  eventType(eventType: string): StoredEventType | undefined {
    return this.#types.get(eventType);
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
   * import { DaemonState } from "./_state.ts";
   * import { MemoryStore } from "./_store.ts";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore() });
   * state.ensureEventType("theme");
   * assert.equal(state.lastSeq("theme"), 0);
   * assert.equal(state.knownEventTypes().length, 1);
   * ```
   */
  ensureEventType(eventType: string): void {
    if (!this.#closed && this.#types.ensure(eventType)) this.#writes.schedule();
  }

  /**
   * The `seq` of the last message recorded for a type.
   *
   * @param eventType The event type.
   * @returns The last `seq`, 0 when the type is unknown.
   *
   * @example
   * ```ts
   * import { DaemonState } from "./_state.ts";
   * import { MemoryStore } from "./_store.ts";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore() });
   * assert.equal(state.lastSeq("theme"), 0);
   * ```
   */
  lastSeq(eventType: string): number {
    return this.#types.lastSeq(eventType);
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
   * import { DaemonState } from "./_state.ts";
   * import { MemoryStore } from "./_store.ts";
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
    return this.#types.currentState(eventType, stateKey);
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
   * import { DaemonState } from "./_state.ts";
   * import { MemoryStore } from "./_store.ts";
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
    return this.#operations.list(eventType, filter);
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
   * import { DaemonState } from "./_state.ts";
   * import { MemoryStore } from "./_store.ts";
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
   * import { DaemonState } from "./_state.ts";
   * import { MemoryStore } from "./_store.ts";
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
    // While seqs are unsafe, what they numbered is not shown: after a crash
    // those seqs could be handed out again.
    if (!this.#writes.seqsUnsafe) return this.#types.historyBodies(eventType, options);
    return this.#types.historyBodies(eventType, {
      ...options,
      upTo: this.#writes.covered(eventType),
    });
  }

  /**
   * A type's last `seq` as monitors may see it: while seqs are unsafe (see
   * {@linkcode DaemonState.seqsUnsafe}), the last one written or saved.
   *
   * @param eventType The event type.
   * @param lastSeq Its last `seq` in memory.
   * @returns The `seq` to show.
   * @example
   * ```ts
   * import { DaemonState } from "./_state.ts";
   * import { MemoryStore } from "./_store.ts";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore() });
   * assert.equal(state.visibleSeq("t", 7), 7);
   * ```
   */
  visibleSeq(eventType: string, lastSeq: number): number {
    return this.#writes.seqsUnsafe ? Math.min(lastSeq, this.#writes.covered(eventType)) : lastSeq;
  }

  /**
   * Counters for `get_daemon_status`.
   *
   * @returns A fresh object.
   *
   * @example
   * ```ts
   * import { DaemonState } from "./_state.ts";
   * import { MemoryStore } from "./_store.ts";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore() });
   * assert.equal(state.counters().store_writes, 0);
   * ```
   */
  counters(): DaemonStateCounters {
    return { ...this.#types.counts(), ...this.#operations.counts(), ...this.#writes.counts() };
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
   * import { DaemonState } from "./_state.ts";
   * import { MemoryStore } from "./_store.ts";
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
    const ms = this.#now();
    this.#types.record(message, body, ms);
    const payload = message.payload;
    switch (payload?.type) {
      case "operation_started":
      case "operation_progress":
      case "operation_completed":
      case "operation_failed":
        this.#operations.apply(message.event_type, payload, ms);
        break;
    }
    if (!this.#writes.scheduled) this.#writes.schedule();
  }

  // ------------------------------------------------------------------ flush

  /**
   * Writes every pending change now, in one transaction. A failed write is
   * reported through `onStoreError` (every time) and retried with the next
   * batch, or after a second; the state in memory is unaffected.
   *
   * @returns Whether every seq recorded so far is safe from reuse: written,
   * or saved by the store beside a failed write. The daemon broadcasts only
   * then.
   *
   * @example
   * ```ts
   * import { DaemonState } from "./_state.ts";
   * import { MemoryStore } from "./_store.ts";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryStore();
   * using state = new DaemonState({ store });
   * state.ensureEventType("theme");
   * state.flush();
   * assert.equal(store.load().eventTypes[0]?.event_type, "theme");
   * ```
   */
  flush(): boolean {
    return this.#writes.flush();
  }

  /**
   * True while a failed write could save neither state nor seqs: the daemon
   * then routes nothing (a seq it broadcast could be reused after a
   * restart). A retry runs every second while this lasts.
   *
   * @example
   * ```ts
   * import { DaemonState } from "./_state.ts";
   * import { MemoryStore } from "./_store.ts";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore() });
   * assert.equal(state.seqsUnsafe, false);
   * ```
   */
  get seqsUnsafe(): boolean {
    return this.#writes.seqsUnsafe;
  }

  /**
   * Whether a `state_update` fits the state bounds: `null`, or why not.
   *
   * @param eventType The event type.
   * @param stateKey The key.
   * @param value The state value.
   * @param routedLength The routed message's length (see `maxStateValueSize`).
   * @returns `null`, or the reason and a log line.
   * @example
   * ```ts
   * import { DaemonState } from "./_state.ts";
   * import { MemoryStore } from "./_store.ts";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore(), maxStateValueSize: 10 });
   * assert.equal(state.admitState("t", "k", "x".repeat(20), 30)?.reason, "state_value_too_large");
   * assert.equal(state.admitState("t", "k", "x", 10), null);
   * ```
   */
  admitState(
    eventType: string,
    stateKey: string,
    value: unknown,
    routedLength: number,
  ): StateRefusal | null {
    return this.#types.admitState(eventType, stateKey, value, routedLength);
  }

  /**
   * How the store's writes are going, for `get_daemon_status`.
   *
   * @returns A fresh object.
   * @example
   * ```ts
   * import { DaemonState } from "./_state.ts";
   * import { MemoryStore } from "./_store.ts";
   * import assert from "node:assert/strict";
   *
   * using state = new DaemonState({ store: new MemoryStore() });
   * assert.equal(state.storeHealth().ok, true);
   * ```
   */
  storeHealth(): StoreHealth {
    return this.#writes.health();
  }

  // ------------------------------------------------------------------ close

  /**
   * Writes pending changes, stops the timers and closes the store.
   * Idempotent.
   *
   * @example
   * ```ts
   * import { DaemonState } from "./_state.ts";
   * import { MemoryStore } from "./_store.ts";
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
    this.#writes.close();
    this.#closed = true;
    this.#operations.close();
  }

  /** Same as {@linkcode DaemonState.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
