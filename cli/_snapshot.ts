/**
 * The current state and running operations, as synthetic messages, so that
 * every `watch` renderer stays a function of a message sequence.
 *
 * @module
 */

import { query, QueryClient } from "../monitor/mod.ts";
import { QueryError } from "../protocol/errors.ts";
import type { Message } from "../protocol/message.ts";
import type { JsonObject, OperationRecord } from "../protocol/types.ts";

/** Options for {@linkcode snapshot}. */
export interface SnapshotOptions {
  /** The daemon's socket directory. */
  socketDir: string;
  /** Cancels the queries. */
  signal?: AbortSignal;
  /**
   * Also include the operation that finished last (as an
   * `operation_started` and its `operation_completed`/`operation_failed`),
   * so a fresh status bar shows what a long-running one shows.
   *
   * @default {false}
   */
  lastFinished?: boolean;
  /**
   * Per-query timeout, ms.
   *
   * @default {2000}
   */
  timeout?: number;
}

function synthetic(eventType: string, timestamp: string, payload: JsonObject): Message {
  return {
    message_id: crypto.randomUUID(),
    timestamp,
    event_type: eventType,
    payload: payload as Message["payload"],
    initial: true,
  };
}

/**
 * Turns one state map and operation list into messages: a `state_update`
 * per key, then for each running operation (oldest first) an
 * `operation_started` at its start time and, when it has reported
 * progress, an `operation_progress` at its last update. With
 * `lastFinished`, the operation that finished last (by `updated_at`) comes
 * first, as an `operation_started` and its `operation_completed` or
 * `operation_failed`. Each carries `"initial": true` and no `seq`.
 *
 * @param state `{TYPE: {KEY: VALUE}}`.
 * @param operations Operations, newest first (as the daemon lists them);
 *   only running ones are used unless `lastFinished`.
 * @param now The timestamp for state messages.
 * @param lastFinished Whether to include the operation that finished last.
 * @returns The messages.
 */
export function snapshotMessages(
  state: Record<string, JsonObject>,
  operations: OperationRecord[],
  now: string,
  lastFinished = false,
): Message[] {
  const messages: Message[] = [];
  const finished = lastFinished
    ? operations.filter((op) => op.status !== "running").reduce<OperationRecord | null>(
      (latest, op) => (latest === null || op.updated_at > latest.updated_at ? op : latest),
      null,
    )
    : null;
  if (finished !== null) {
    messages.push(synthetic(finished.event_type, finished.started_at, {
      type: "operation_started",
      operation_id: finished.operation_id,
      operation_name: finished.operation_name ?? finished.operation_id,
    }));
    messages.push(synthetic(
      finished.event_type,
      finished.updated_at,
      finished.status === "completed"
        ? {
          type: "operation_completed",
          operation_id: finished.operation_id,
          duration_seconds: finished.duration_seconds ?? 0,
        }
        : {
          type: "operation_failed",
          operation_id: finished.operation_id,
          error_code: finished.error_code ?? "",
          error_message: finished.error_message ?? "",
        },
    ));
  }
  for (const [eventType, keys] of Object.entries(state)) {
    for (const [key, value] of Object.entries(keys ?? {})) {
      messages.push(synthetic(eventType, now, {
        type: "state_update",
        state_key: key,
        state_value: typeof value === "object" && value !== null && !Array.isArray(value)
          ? value as JsonObject
          : { value },
      }));
    }
  }
  for (const op of [...operations].reverse()) {
    if (op.status !== "running") continue;
    messages.push(synthetic(op.event_type, op.started_at, {
      type: "operation_started",
      operation_id: op.operation_id,
      operation_name: op.operation_name ?? op.operation_id,
      ...(op.parameters === null ? {} : { parameters: op.parameters }),
    }));
    if (op.overall_progress !== null) {
      messages.push(synthetic(op.event_type, op.updated_at, {
        type: "operation_progress",
        operation_id: op.operation_id,
        step_id: op.step_id ?? "",
        ...(op.step_name === null ? {} : { step_name: op.step_name }),
        step_progress: op.step_progress ?? op.overall_progress,
        overall_progress: op.overall_progress,
      }));
    }
  }
  return messages;
}

/** What {@linkcode snapshot} returns. */
export interface Snapshot {
  /** The state and running operations as messages. */
  messages: Message[];
  /** Each type's last `seq` when asked, for `subscribe`'s `since`. */
  lastSeqs: Record<string, number>;
}

/**
 * Asks the daemon for the current state and running operations of the
 * given event types (`null`: every type), on one connection. The types'
 * last `seq` is read first, so resuming from it misses nothing (an event
 * may show twice, which every renderer tolerates). Throws
 * `DaemonUnavailableError` when no daemon answers.
 *
 * @param eventTypes The types, or `null` for all.
 * @param options Where to ask.
 * @returns The snapshot.
 */
export async function snapshot(
  eventTypes: string[] | null,
  options: SnapshotOptions,
): Promise<Snapshot> {
  const { socketDir, signal, timeout = 2000, lastFinished = false } = options;
  using client = await QueryClient.connect({ socketDir, timeout, ...(signal ? { signal } : {}) });
  const base = { client, timeout, ...(signal ? { signal } : {}) };
  const listed = await query("list_event_types", base);
  const lastSeqs: Record<string, number> = {};
  for (const t of listed.event_types) lastSeqs[t.event_type] = t.last_seq;
  const types = eventTypes ?? listed.event_types.map((t) => t.event_type);
  const all = await query("get_current_state", { ...base, eventType: "*" });
  const state: Record<string, JsonObject> = {};
  for (const type of types) {
    const keys = all.state[type];
    if (typeof keys === "object" && keys !== null) state[type] = keys as JsonObject;
  }
  const operations: OperationRecord[] = [];
  for (const type of types) {
    if (!(type in lastSeqs)) continue;
    const ask = (parameters: JsonObject): Promise<{ operations: OperationRecord[] }> =>
      query("get_operation_status", { ...base, eventType: type, parameters });
    let result;
    try {
      result = await ask(lastFinished ? {} : { status: "running" });
    } catch (error) {
      // Every kept operation may not fit in one response: running ones do.
      if (!(lastFinished && error instanceof QueryError)) throw error;
      result = await ask({ status: "running" });
    }
    operations.push(...result.operations);
  }
  operations.sort((
    a,
    b,
  ) => (a.started_at < b.started_at ? 1 : a.started_at > b.started_at ? -1 : 0));
  return {
    messages: snapshotMessages(state, operations, new Date().toISOString(), lastFinished),
    lastSeqs,
  };
}
