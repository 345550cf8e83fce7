/**
 * The event-type table of the daemon's state: per type its counts, last
 * `seq`, current state and history ring, and which of that is not yet
 * written to the store.
 *
 * @module
 */

import type { CurrentStateResult, JsonObject, Message, Payload } from "../protocol/mod.ts";
import { HistoryRing } from "./_state_ring.ts";
import { isoTime, str } from "./_state_operations.ts";
import type { StoreBatch, StoredEventType, StoredState, StoreSnapshot } from "./_store.ts";

/** The `get_event_history` query's default `limit`. */
const DEFAULT_HISTORY_QUERY_LIMIT = 50;

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
  /** The ring's `dropped` and `droppedBytes` when the store was last pruned to it. */
  pruned: { entries: number; bytes: number };
  /** State keys changed since the last write. */
  dirtyKeys: Set<string>;
  /** Each state key's size (see {@linkcode stateSize}). */
  stateSizes: Map<string, number>;
  /** The sizes' sum. */
  stateBytes: number;
}

/** The bounds of {@linkcode EventTypeTable}. */
export interface EventTypeLimits {
  /** Messages kept as history per type (0 keeps none). */
  historyLimit: number;
  /** History bodies' total length per type. */
  historyBytes: number;
  /** A state value's size at most. */
  maxStateValueSize: number;
  /** State values' total size per type. */
  maxStateBytes: number;
  /** Told of stored history bodies that are not JSON objects, each time some are removed. */
  onInvalidHistory?: (eventType: string, count: number) => void;
}

/** Whether a stored history body is a JSON object's text (what the router stored). */
function isObjectText(body: string): boolean {
  try {
    const value: unknown = JSON.parse(body);
    return value !== null && typeof value === "object" && !Array.isArray(value);
  } catch {
    return false;
  }
}

/** Why a `state_update` is refused: the `bad_frames` reason and the log line. */
export interface StateRefusal {
  reason: "state_value_too_large" | "state_bytes_exceeded";
  message: string;
}

/**
 * A state value's size: the length of the routed `state_update` that set
 * it (its JSON text, an upper bound that costs nothing), or of the value's
 * own JSON when the message is over `max`.
 */
export function stateSize(value: unknown, routedLength: number, max: number): number {
  if (routedLength <= max) return routedLength;
  return (JSON.stringify(value) ?? "").length;
}

/** Options of a history read: see `DaemonState.historyBodies`. */
export interface HistoryRange {
  /** At most this many events. */
  limit?: number;
  /** Only events whose `seq` is greater. */
  afterSeq?: number;
  /** Only events whose `seq` is at most this (the last one reported is clipped too). */
  upTo?: number;
}

/** History as serialised bodies, with the history's bounds. */
export interface HistoryBodies {
  /** The routed messages' JSON, oldest first. */
  bodies: string[];
  /** True when events after `afterSeq` are no longer kept. */
  truncated: boolean;
  /** The oldest `seq` still kept, or `null` when none is. */
  oldest_seq: number | null;
  /** The type's last `seq` (0 before the first message). */
  last_seq: number;
}

/** Known event types, their state and history. */
export class EventTypeTable {
  #limits: EventTypeLimits;
  #types = new Map<string, TypeEntry>();
  #dirty = new Set<TypeEntry>();
  #invalidHistory = 0;

  /** @param limits History count and bytes, state value size and state bytes per type. */
  constructor(limits: EventTypeLimits) {
    this.#limits = limits;
  }

  /**
   * Whether a `state_update` setting the key to `value` (its routed JSON
   * `routedLength` long, see {@linkcode stateSize}) fits the bounds:
   * `null`, or why not.
   */
  admitState(
    eventType: string,
    key: string,
    value: unknown,
    routedLength: number,
  ): StateRefusal | null {
    const { maxStateValueSize, maxStateBytes } = this.#limits;
    const size = stateSize(value, routedLength, maxStateValueSize);
    if (size > maxStateValueSize) {
      return {
        reason: "state_value_too_large",
        message: `state_value is ${size} bytes, over the maximum of ${maxStateValueSize}`,
      };
    }
    const entry = this.#types.get(eventType);
    const total = (entry?.stateBytes ?? 0) - (entry?.stateSizes.get(key) ?? 0) + size;
    if (total > maxStateBytes) {
      return {
        reason: "state_bytes_exceeded",
        message:
          `the event type's state would hold ${total} bytes, over the maximum of ${maxStateBytes}`,
      };
    }
    return null;
  }

  /** Takes the types, state and history of a store's snapshot. */
  load(snapshot: StoreSnapshot): void {
    for (const stored of snapshot.eventTypes) {
      const entry = this.#entry(stored.event_type);
      entry.message_count = stored.message_count;
      entry.last_seq = stored.last_seq;
      entry.flushedSeq = stored.last_seq;
      const ms = stored.last_event_at === null ? NaN : Date.parse(stored.last_event_at);
      entry.lastEventMs = Number.isNaN(ms) ? null : ms;
    }
    // Stored types need no write; types found only below (state or history
    // without a row) stay marked, so that their row gets written.
    this.#dirty.clear();
    for (const stored of snapshot.state) {
      const entry = this.#entry(stored.event_type);
      entry.state.set(stored.state_key, stored);
      setSize(entry, stored.state_key, (JSON.stringify(stored.state_value) ?? "").length);
    }
    for (const stored of snapshot.history) {
      const entry = this.#entry(stored.event_type);
      entry.ring.pushStored(stored.seq, stored.body);
      if (stored.seq > entry.last_seq) entry.last_seq = stored.seq;
      if (stored.seq > entry.flushedSeq) entry.flushedSeq = stored.seq;
    }
    for (const entry of this.#types.values()) {
      if (pruneDue(entry)) this.#dirty.add(entry);
    }
  }

  #entry(eventType: string): TypeEntry {
    let entry = this.#types.get(eventType);
    if (entry === undefined) {
      entry = {
        event_type: eventType,
        message_count: 0,
        last_seq: 0,
        lastEventMs: null,
        ring: new HistoryRing(this.#limits.historyLimit, this.#limits.historyBytes),
        state: new Map(),
        flushedSeq: 0,
        pruned: { entries: 0, bytes: 0 },
        dirtyKeys: new Set(),
        stateSizes: new Map(),
        stateBytes: 0,
      };
      this.#types.set(eventType, entry);
      this.#dirty.add(entry);
    }
    return entry;
  }

  /** Whether the type is known. */
  has(eventType: string): boolean {
    return this.#types.has(eventType);
  }

  /** Registers a type with no message yet; `false` when it was known. */
  ensure(eventType: string): boolean {
    if (this.#types.has(eventType)) return false;
    this.#entry(eventType);
    return true;
  }

  /** Every known type, in the order they became known. */
  known(): StoredEventType[] {
    const result: StoredEventType[] = [];
    for (const entry of this.#types.values()) result.push(storedType(entry));
    return result;
  }

  /** One type's counts, or `undefined`. */
  get(eventType: string): StoredEventType | undefined {
    const entry = this.#types.get(eventType);
    return entry === undefined ? undefined : storedType(entry);
  }

  /** The type's last `seq`, 0 when unknown. */
  lastSeq(eventType: string): number {
    return this.#types.get(eventType)?.last_seq ?? 0;
  }

  /** Counts a routed message, keeps it as history, and applies a `state_update`. */
  record(message: Message, body: string, ms: number): void {
    const entry = this.#types.get(message.event_type) ?? this.#entry(message.event_type);
    const seq = typeof message.seq === "number" ? message.seq : entry.last_seq + 1;
    entry.message_count++;
    entry.last_seq = seq;
    entry.lastEventMs = ms;
    entry.ring.push(seq, body);
    this.#dirty.add(entry);
    const payload = message.payload;
    if (payload?.type === "state_update") {
      applyState(entry, payload, ms, body.length, this.#limits.maxStateValueSize);
    }
  }

  /** The `get_current_state` result of a type, or of every type with `"*"`. */
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

  /** A type's kept history; see `DaemonState.historyBodies`. */
  historyBodies(eventType: string, options: HistoryRange = {}): HistoryBodies {
    const { limit = DEFAULT_HISTORY_QUERY_LIMIT, afterSeq, upTo } = options;
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
    // Bodies read back from the store are answered verbatim: check them once.
    const invalid = ring.check(isObjectText);
    if (invalid > 0) {
      this.#invalidHistory += invalid;
      this.#limits.onInvalidHistory?.(eventType, invalid);
    }
    const oldest = ring.oldestSeq;
    const end = upTo === undefined ? ring.size : ring.indexAfter(upTo);
    const lastSeq = upTo === undefined ? entry.last_seq : Math.min(entry.last_seq, upTo);
    let from: number;
    let to: number;
    let truncated = false;
    if (afterSeq === undefined) {
      to = end;
      from = Math.max(0, to - limit);
    } else {
      from = Math.min(end, ring.indexAfter(afterSeq));
      to = Math.min(end, from + limit);
      truncated = afterSeq < lastSeq && (oldest === null || oldest > afterSeq + 1);
    }
    const bodies: string[] = [];
    for (let i = from; i < to; i++) bodies.push(ring.bodyAt(i));
    return { bodies, truncated, oldest_seq: oldest, last_seq: lastSeq };
  }

  /** Types, history entries and state entries kept; stored history bodies removed as invalid. */
  counts(): {
    event_types: number;
    history_entries: number;
    state_entries: number;
    history_entries_invalid: number;
  } {
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
      history_entries_invalid: this.#invalidHistory,
    };
  }

  /** Whether something is not yet written. */
  get pending(): boolean {
    return this.#dirty.size > 0;
  }

  /** Adds what is not yet written to a batch. */
  addTo(batch: StoreBatch): void {
    for (const entry of this.#dirty) {
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
      if (pruneDue(entry)) {
        batch.historyPrunes.push({
          event_type: entry.event_type,
          before_seq: ring.oldestSeq ?? entry.last_seq + 1,
        });
      }
    }
  }

  /** The batch {@linkcode EventTypeTable.addTo} filled was written. */
  written(): void {
    for (const entry of this.#dirty) {
      entry.flushedSeq = entry.ring.newestSeq ?? entry.last_seq;
      // Nothing is recorded between addTo and written: a prune due now was in the batch.
      if (pruneDue(entry)) {
        entry.pruned = { entries: entry.ring.dropped, bytes: entry.ring.droppedBytes };
      }
      entry.dirtyKeys.clear();
    }
    this.#dirty.clear();
  }
}

/**
 * History the ring dropped is deleted from the store in bulk, not with
 * every write: once 64 entries or 256 KiB are due. A prune in every
 * transaction wrote two more pages to the WAL each time (about 20 KiB per
 * one-message commit instead of 12), which filled the WAL twice as fast
 * and doubled the checkpoints that hold the writer. Until then the store
 * keeps a few more messages than the ring; loading drops them again.
 */
const PRUNE_EVERY_ENTRIES = 64;
/** See {@linkcode PRUNE_EVERY_ENTRIES}. */
const PRUNE_EVERY_BYTES = 256 * 1024;

function pruneDue(entry: TypeEntry): boolean {
  const { ring, pruned } = entry;
  return ring.dropped - pruned.entries >= PRUNE_EVERY_ENTRIES ||
    ring.droppedBytes - pruned.bytes >= PRUNE_EVERY_BYTES;
}

function setSize(entry: TypeEntry, key: string, size: number): void {
  entry.stateBytes += size - (entry.stateSizes.get(key) ?? 0);
  entry.stateSizes.set(key, size);
}

function applyState(
  entry: TypeEntry,
  payload: Payload,
  ms: number,
  routedLength: number,
  max: number,
): void {
  const key = str(payload.state_key);
  if (key === null || payload.state_value === undefined) return;
  setSize(entry, key, stateSize(payload.state_value, routedLength, max));
  entry.state.set(key, {
    event_type: entry.event_type,
    state_key: key,
    state_value: payload.state_value,
    updated_at: isoTime(ms),
  });
  entry.dirtyKeys.add(key);
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
