// This module is browser compatible.

import type { JsonObject, MessageTypeName } from "./types.ts";

/**
 * The payload of any message: a `type` plus any fields. Extra fields always
 * pass through untouched.
 *
 * @example
 * ```ts
 * import type { Payload } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const p: Payload = { type: "wallpaper_changed", path: "/x.png" };
 * assert.equal(p.type, "wallpaper_changed");
 * ```
 */
export interface Payload {
  /** The payload type; see `MessageType` for the seven known ones. */
  type: string;
  /** Any other field. */
  [field: string]: unknown;
}

/**
 * A message as it travels on the wire: snake_case fields, any payload.
 *
 * @typeParam P The payload type.
 *
 * @example
 * ```ts
 * import type { Message } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const m: Message = {
 *   message_id: crypto.randomUUID(),
 *   timestamp: new Date().toISOString(),
 *   event_type: "wallpaper",
 *   payload: { type: "state_update", state_key: "current", state_value: {} },
 * };
 * assert.equal(m.event_type, "wallpaper");
 * ```
 */
export interface Message<P extends Payload = Payload> {
  /** A unique id; the daemon fills in a UUID v4 when a sender leaves it out. */
  message_id: string;
  /** ISO-8601; the daemon fills in the current time when a sender leaves it out. */
  timestamp: string;
  /** Selects the event socket, `<event_type>_events.sock`. */
  event_type: string;
  /** The payload. */
  payload: P;
  /** Per-type sequence number, added by the daemon to every routed message. */
  seq?: number;
  /** Any other envelope field. */
  [field: string]: unknown;
}

/**
 * Payload of `operation_started`.
 *
 * @example
 * ```ts
 * import type { OperationStartedPayload } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const p: OperationStartedPayload = {
 *   type: "operation_started",
 *   operation_id: "op-1",
 *   operation_name: "change wallpaper",
 * };
 * assert.equal(p.operation_id, "op-1");
 * ```
 */
export interface OperationStartedPayload extends Payload {
  /** Always `operation_started`. */
  type: "operation_started";
  /** Ties the operation's messages together. */
  operation_id: string;
  /** A human-readable name. */
  operation_name: string;
  /** Free-form parameters. */
  parameters?: JsonObject | null;
}

/**
 * Payload of `operation_progress`.
 *
 * @example
 * ```ts
 * import type { OperationProgressPayload } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const p: OperationProgressPayload = {
 *   type: "operation_progress",
 *   operation_id: "op-1",
 *   step_id: "resize",
 *   step_progress: 50,
 *   overall_progress: 25,
 * };
 * assert.equal(p.overall_progress, 25);
 * ```
 */
export interface OperationProgressPayload extends Payload {
  /** Always `operation_progress`. */
  type: "operation_progress";
  /** The operation. */
  operation_id: string;
  /** The current step. */
  step_id: string;
  /** 0 to 100. */
  step_progress: number;
  /** 0 to 100. */
  overall_progress: number;
  /** A human-readable step name. */
  step_name?: string | null;
  /** At least 1. */
  total_steps?: number | null;
  /** At least 1. */
  current_step?: number | null;
}

/**
 * Payload of `operation_completed`.
 *
 * @example
 * ```ts
 * import type { OperationCompletedPayload } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const p: OperationCompletedPayload = {
 *   type: "operation_completed",
 *   operation_id: "op-1",
 *   duration_seconds: 1.5,
 * };
 * assert.equal(p.duration_seconds, 1.5);
 * ```
 */
export interface OperationCompletedPayload extends Payload {
  /** Always `operation_completed`. */
  type: "operation_completed";
  /** The operation. */
  operation_id: string;
  /** At least 0. */
  duration_seconds: number;
  /** Free-form result. */
  result?: JsonObject | null;
}

/**
 * Payload of `operation_failed`.
 *
 * @example
 * ```ts
 * import type { OperationFailedPayload } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const p: OperationFailedPayload = {
 *   type: "operation_failed",
 *   operation_id: "op-1",
 *   error_code: "ENOENT",
 *   error_message: "no such file",
 * };
 * assert.equal(p.error_code, "ENOENT");
 * ```
 */
export interface OperationFailedPayload extends Payload {
  /** Always `operation_failed`. */
  type: "operation_failed";
  /** The operation. */
  operation_id: string;
  /** A short machine-readable code. */
  error_code: string;
  /** A human-readable message. */
  error_message: string;
  /** The step that failed. */
  step_id?: string | null;
  /** A traceback, for logs. */
  traceback?: string | null;
}

/**
 * Payload of `state_update`.
 *
 * @example
 * ```ts
 * import type { StateUpdatePayload } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const p: StateUpdatePayload = {
 *   type: "state_update",
 *   state_key: "current",
 *   state_value: { path: "/w.png" },
 * };
 * assert.equal(p.state_key, "current");
 * ```
 */
export interface StateUpdatePayload extends Payload {
  /** Always `state_update`. */
  type: "state_update";
  /** The key within the event type. */
  state_key: string;
  /** The new value. */
  state_value: JsonObject;
}

/**
 * Payload of `query_request`.
 *
 * @example
 * ```ts
 * import type { QueryRequestPayload } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const p: QueryRequestPayload = { type: "query_request", query_type: "list_event_types" };
 * assert.equal(p.query_type, "list_event_types");
 * ```
 */
export interface QueryRequestPayload extends Payload {
  /** Always `query_request`. */
  type: "query_request";
  /** One of `QueryType`, or a type the daemon does not know (answered with an error). */
  query_type: string;
  /** Query parameters. */
  parameters?: JsonObject | null;
}

/**
 * Payload of `query_response`.
 *
 * @example
 * ```ts
 * import type { QueryResponsePayload } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const p: QueryResponsePayload = { type: "query_response", query_id: "q1", result: {} };
 * assert.deepEqual(p.result, {});
 * ```
 */
export interface QueryResponsePayload extends Payload {
  /** Always `query_response`. */
  type: "query_response";
  /** The `message_id` of the request. */
  query_id: string;
  /** The result object (`{}` on error). */
  result: JsonObject;
  /** Set when the query failed. */
  error?: string | null;
}

/**
 * Maps each known payload type to its payload interface.
 *
 * @example
 * ```ts
 * import type { PayloadMap } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const p: PayloadMap["state_update"] = { type: "state_update", state_key: "k", state_value: {} };
 * assert.equal(p.type, "state_update");
 * ```
 */
export interface PayloadMap {
  /** See {@linkcode OperationStartedPayload}. */
  operation_started: OperationStartedPayload;
  /** See {@linkcode OperationProgressPayload}. */
  operation_progress: OperationProgressPayload;
  /** See {@linkcode OperationCompletedPayload}. */
  operation_completed: OperationCompletedPayload;
  /** See {@linkcode OperationFailedPayload}. */
  operation_failed: OperationFailedPayload;
  /** See {@linkcode StateUpdatePayload}. */
  state_update: StateUpdatePayload;
  /** See {@linkcode QueryRequestPayload}. */
  query_request: QueryRequestPayload;
  /** See {@linkcode QueryResponsePayload}. */
  query_response: QueryResponsePayload;
}

/**
 * Any of the seven known payloads.
 *
 * @example
 * ```ts
 * import type { KnownPayload } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const p: KnownPayload = { type: "query_request", query_type: "list_event_types" };
 * assert.equal(p.type, "query_request");
 * ```
 */
export type KnownPayload = PayloadMap[MessageTypeName];
