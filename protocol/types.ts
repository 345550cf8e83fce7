// This module is browser compatible.

/**
 * Wire-level constants and types of the dotfiles event protocol.
 *
 * @module
 */

/**
 * The payload `type` strings, as they appear on the wire.
 *
 * @example Check a payload type
 * ```ts
 * import { MessageType } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * assert.equal(MessageType.STATE_UPDATE, "state_update");
 * ```
 */
export const MessageType = {
  OPERATION_STARTED: "operation_started",
  OPERATION_PROGRESS: "operation_progress",
  OPERATION_COMPLETED: "operation_completed",
  OPERATION_FAILED: "operation_failed",
  STATE_UPDATE: "state_update",
  QUERY_REQUEST: "query_request",
  QUERY_RESPONSE: "query_response",
} as const;

/**
 * One of the payload `type` strings of {@linkcode MessageType}.
 *
 * @example A typed variable
 * ```ts
 * import type { MessageTypeName } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const t: MessageTypeName = "operation_progress";
 * assert.equal(t, "operation_progress");
 * ```
 */
export type MessageTypeName = typeof MessageType[keyof typeof MessageType];

/**
 * The query types the daemon answers on `query.sock`.
 *
 * @example Name a query
 * ```ts
 * import { QueryType } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * assert.equal(QueryType.GET_EVENT_HISTORY, "get_event_history");
 * ```
 */
export const QueryType = {
  GET_CURRENT_STATE: "get_current_state",
  GET_OPERATION_STATUS: "get_operation_status",
  LIST_EVENT_TYPES: "list_event_types",
  GET_EVENT_HISTORY: "get_event_history",
  GET_DAEMON_STATUS: "get_daemon_status",
} as const;

/**
 * One of the query type strings of {@linkcode QueryType}.
 *
 * @example A typed variable
 * ```ts
 * import type { QueryTypeName } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const q: QueryTypeName = "list_event_types";
 * assert.equal(q, "list_event_types");
 * ```
 */
export type QueryTypeName = typeof QueryType[keyof typeof QueryType];

/**
 * A JSON object, as carried in `parameters`, `result` and `state_value`.
 *
 * @example
 * ```ts
 * import type { JsonObject } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const o: JsonObject = { a: 1 };
 * assert.equal(o.a, 1);
 * ```
 */
export type JsonObject = { [key: string]: unknown };

/**
 * The status of an operation as the daemon tracks it.
 *
 * @example
 * ```ts
 * import type { OperationStatus } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const s: OperationStatus = "running";
 * assert.equal(s, "running");
 * ```
 */
export type OperationStatus = "running" | "completed" | "failed";

/**
 * One operation as returned by `get_operation_status`. Every key is present;
 * a value the daemon has not seen is `null`.
 *
 * @example
 * ```ts
 * import type { OperationRecord } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * function isDone(op: OperationRecord): boolean {
 *   return op.status !== "running";
 * }
 * assert.equal(typeof isDone, "function");
 * ```
 */
export interface OperationRecord {
  /** The operation's id, as sent by the manager. */
  operation_id: string;
  /** The event type the operation's messages were sent under. */
  event_type: string;
  /** `running` until an `operation_completed` or `operation_failed` arrives. */
  status: OperationStatus;
  /** From `operation_started`. */
  operation_name: string | null;
  /** From `operation_started`. */
  parameters: JsonObject | null;
  /** When the daemon first saw the operation (ISO-8601, UTC). */
  started_at: string;
  /** When the daemon last saw a message of the operation (ISO-8601, UTC). */
  updated_at: string;
  /** Latest progress: the step id (or the failing step). */
  step_id: string | null;
  /** Latest progress: the step name. */
  step_name: string | null;
  /** Latest progress: the step's percentage. */
  step_progress: number | null;
  /** Latest progress: the overall percentage. */
  overall_progress: number | null;
  /** Latest progress: the number of steps. */
  total_steps: number | null;
  /** Latest progress: the current step number. */
  current_step: number | null;
  /** From `operation_completed`. */
  duration_seconds: number | null;
  /** From `operation_completed`. */
  result: JsonObject | null;
  /** From `operation_failed` (`STALE` when the daemon gave up on it). */
  error_code: string | null;
  /** From `operation_failed`. */
  error_message: string | null;
}

/**
 * One event type as returned by `list_event_types`.
 *
 * @example
 * ```ts
 * import type { EventTypeInfo } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const info: EventTypeInfo = {
 *   event_type: "wallpaper",
 *   socket_path: "/run/wallpaper_events.sock",
 *   subscribers: 0,
 *   message_count: 0,
 *   last_seq: 0,
 *   last_event_at: null,
 * };
 * assert.equal(info.last_seq, 0);
 * ```
 */
export interface EventTypeInfo {
  /** The event type. */
  event_type: string;
  /** Absolute path of its event socket. */
  socket_path: string;
  /** Monitors connected to it now. */
  subscribers: number;
  /** Messages routed for it, over the daemon's whole life. */
  message_count: number;
  /** The `seq` of the last routed message, 0 before the first. */
  last_seq: number;
  /** When the last message was routed (ISO-8601, UTC), or `null`. */
  last_event_at: string | null;
}

/** Result of `get_current_state`. @example
 * ```ts
 * import type { CurrentStateResult } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const r: CurrentStateResult = { state: { theme: { name: "dark" } } };
 * assert.ok("theme" in r.state);
 * ```
 */
export interface CurrentStateResult {
  /** KEY → VALUE for one type, or TYPE → {KEY → VALUE} for event type `"*"`. */
  state: JsonObject;
}

/** Result of `get_operation_status`. @example
 * ```ts
 * import type { OperationStatusResult } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const r: OperationStatusResult = { operations: [] };
 * assert.equal(r.operations.length, 0);
 * ```
 */
export interface OperationStatusResult {
  /** Newest first; zero or one entry when `operation_id` was given. */
  operations: OperationRecord[];
}

/** Result of `list_event_types`. @example
 * ```ts
 * import type { EventTypesResult } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const r: EventTypesResult = { event_types: [] };
 * assert.equal(r.event_types.length, 0);
 * ```
 */
export interface EventTypesResult {
  /** Every event type the daemon knows. */
  event_types: EventTypeInfo[];
}

/** Result of `get_event_history`. @example
 * ```ts
 * import type { EventHistoryResult } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const r: EventHistoryResult = { events: [], truncated: false, oldest_seq: null, last_seq: 0 };
 * assert.equal(r.truncated, false);
 * ```
 */
export interface EventHistoryResult {
  /** Routed messages (each with `seq`), oldest first. */
  events: JsonObject[];
  /** True when events after `after_seq` are no longer kept. */
  truncated: boolean;
  /** The oldest `seq` still kept, or `null` when none is. */
  oldest_seq: number | null;
  /** The type's last `seq` (0 before the first message). */
  last_seq: number;
}

/** Result of `get_daemon_status`. @example
 * ```ts
 * import type { DaemonStatusResult } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * function uptime(r: DaemonStatusResult): number {
 *   return r.uptime_seconds;
 * }
 * assert.equal(typeof uptime, "function");
 * ```
 */
export interface DaemonStatusResult {
  /** The daemon's version. */
  version: string;
  /** The daemon's process id. */
  pid: number;
  /** Seconds since start-up. */
  uptime_seconds: number;
  /** Absolute socket directory. */
  socket_dir: string;
  /** Absolute state directory, or `null` when nothing is persisted. */
  state_dir: string | null;
  /**
   * How the state store's writes are going (absent from daemons before it,
   * `null` before start-up). While `ok` is false, state is kept in memory
   * only; while `seqs_saved` is also false, nothing is broadcast.
   */
  store?: {
    ok: boolean;
    error: string | null;
    failing_since: string | null;
    failed_writes: number;
    seqs_saved: boolean;
  } | null;
  /** Every counter the daemon keeps, by name. */
  counters: { [name: string]: number | { [key: string]: number } };
}

/**
 * Maps each query type to the shape of its `result`.
 *
 * @example
 * ```ts
 * import type { QueryResultMap } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const r: QueryResultMap["list_event_types"] = { event_types: [] };
 * assert.deepEqual(r.event_types, []);
 * ```
 */
export interface QueryResultMap {
  /** See {@linkcode CurrentStateResult}. */
  get_current_state: CurrentStateResult;
  /** See {@linkcode OperationStatusResult}. */
  get_operation_status: OperationStatusResult;
  /** See {@linkcode EventTypesResult}. */
  list_event_types: EventTypesResult;
  /** See {@linkcode EventHistoryResult}. */
  get_event_history: EventHistoryResult;
  /** See {@linkcode DaemonStatusResult}. */
  get_daemon_status: DaemonStatusResult;
}
