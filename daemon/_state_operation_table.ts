/**
 * The operation table of the daemon's state: every operation by id, the
 * running ones in order of their last update (for the stale deadline), the
 * finished ones in the order they finished (for pruning), and the stale
 * timer, which runs only while an operation runs.
 *
 * @module
 */

import type {
  Message,
  OperationRecord,
  OperationStatus,
  OperationStatusResult,
  Payload,
} from "../protocol/mod.ts";
import {
  applyCompleted,
  applyFailed,
  applyProgress,
  applyStarted,
  blankRecord,
  errorText,
  isoTime,
  normalizeRecord,
  type OperationEntry,
  STALE_ERROR_CODE,
  str,
} from "./_state_operations.ts";
import type { StoreBatch } from "./_store.ts";

/** The longest delay `setTimeout` takes without firing at once. */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;
const STATUSES: ReadonlySet<string> = new Set(["running", "completed", "failed"]);

/** Filter of {@linkcode OperationTable.list}. */
export interface OperationQuery {
  /** Only this operation, whatever its event type. */
  operationId?: string;
  /** Only operations with this status. */
  status?: OperationStatus;
}

/** Options of {@linkcode OperationTable}. */
export interface OperationTableOptions {
  /** Finished operations kept. */
  retention: number;
  /** Milliseconds without an update before a running operation is stale. */
  staleAfter: number;
  /** The clock, in ms since the epoch. */
  now: () => number;
  /** Gets a stale operation's synthesized `operation_failed`, to route it. */
  onStale: ((message: Message) => void) | undefined;
  /** Gets a line worth logging. */
  onWarning: (text: string) => void;
  /** Something changed outside {@linkcode OperationTable.apply}: schedule a write. */
  onChange: () => void;
}

/** Operations by id, with the stale deadline. */
export class OperationTable {
  #options: OperationTableOptions;
  #operations = new Map<string, OperationEntry>();
  /** Running operations, least recently updated first. */
  #running = new Map<string, OperationEntry>();
  /** Finished operations, earliest finished first. */
  #finished = new Map<string, OperationEntry>();
  #order = 0;
  #dirty = new Set<OperationEntry>();
  #deleted = new Set<string>();
  #staleTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #staleCount = 0;
  #prunedCount = 0;

  /** @param options See {@linkcode OperationTableOptions}. */
  constructor(options: OperationTableOptions) {
    this.#options = options;
  }

  /** Takes the stored records (malformed ones are skipped) and arms the stale timer. */
  load(records: OperationRecord[]): void {
    const running: OperationEntry[] = [];
    const finished: OperationEntry[] = [];
    for (const raw of records) {
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
  }

  /** Applies an `operation_*` payload to its operation (by `operation_id`). */
  apply(eventType: string, payload: Payload, ms: number): void {
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
      this.#deleted.delete(id);
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
    this.#dirty.add(entry);
    if (record.status === "running") {
      this.#finished.delete(id);
      this.#running.delete(id);
      this.#running.set(id, entry);
      if (this.#staleTimer === undefined) this.#armStale();
    } else {
      if (this.#running.delete(id) && this.#running.size === 0) this.#clearStaleTimer();
      this.#finished.delete(id);
      this.#finished.set(id, entry);
      if (this.#finished.size > this.#options.retention) this.#pruneFinished();
    }
  }

  #pruneFinished(): void {
    for (const [id, entry] of this.#finished) {
      if (this.#finished.size <= this.#options.retention) break;
      this.#finished.delete(id);
      this.#operations.delete(id);
      this.#dirty.delete(entry);
      this.#deleted.add(id);
      this.#prunedCount++;
    }
  }

  /** The `get_operation_status` result; see `DaemonState.operations`. */
  list(eventType: string, filter: OperationQuery = {}): OperationStatusResult {
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

  /** Running, finished, stale and pruned counts. */
  counts(): {
    operations_running: number;
    operations_finished: number;
    operations_stale: number;
    operations_pruned: number;
  } {
    return {
      operations_running: this.#running.size,
      operations_finished: this.#finished.size,
      operations_stale: this.#staleCount,
      operations_pruned: this.#prunedCount,
    };
  }

  // ------------------------------------------------------------------ stale

  #armStale(): void {
    if (this.#closed || this.#staleTimer !== undefined) return;
    const first = this.#running.values().next();
    if (first.done || this.#options.staleAfter === Infinity) return;
    const delay = first.value.updatedMs + this.#options.staleAfter - this.#options.now();
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
    const { now: clock, staleAfter, onStale, onWarning, onChange } = this.#options;
    const now = clock();
    const stale: OperationEntry[] = [];
    for (const entry of this.#running.values()) {
      if (entry.updatedMs + staleAfter > now) break;
      stale.push(entry);
    }
    for (const entry of stale) {
      const record = entry.record;
      if (record.status !== "running" || this.#operations.get(record.operation_id) !== entry) {
        continue;
      }
      this.#staleCount++;
      const message = staleMessage(record, staleAfter, now);
      if (onStale !== undefined) {
        try {
          onStale(message);
        } catch (error) {
          onWarning(
            `Cannot route the STALE failure of operation "${record.operation_id}": ${
              errorText(error)
            }`,
          );
        }
      }
      if (this.#closed) return;
      if (record.status === "running" && this.#operations.get(record.operation_id) === entry) {
        this.apply(record.event_type, message.payload, now);
        onChange();
      }
    }
    this.#armStale();
  }

  // ------------------------------------------------------------ write-behind

  /** Whether something is not yet written. */
  get pending(): boolean {
    return this.#dirty.size > 0 || this.#deleted.size > 0;
  }

  /** Adds what is not yet written to a batch. */
  addTo(batch: StoreBatch): void {
    for (const entry of this.#dirty) batch.operations.push({ ...entry.record });
    for (const id of this.#deleted) batch.deletedOperations.push(id);
  }

  /** The batch {@linkcode OperationTable.addTo} filled was written. */
  written(): void {
    this.#dirty.clear();
    this.#deleted.clear();
  }

  /** Stops the stale timer for good. */
  close(): void {
    this.#closed = true;
    this.#clearStaleTimer();
  }
}

function staleMessage(record: OperationRecord, staleAfter: number, now: number): Message {
  const payload: Payload = {
    type: "operation_failed",
    operation_id: record.operation_id,
    error_code: STALE_ERROR_CODE,
    error_message: `No update for ${
      formatSeconds(staleAfter)
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

function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(3)} s`;
}
