// This module is browser compatible.

import { validatePayload } from "./message_validator.ts";
import type {
  Message,
  OperationCompletedPayload,
  OperationFailedPayload,
  OperationProgressPayload,
  OperationStartedPayload,
  Payload,
  PayloadMap,
  QueryRequestPayload,
  QueryResponsePayload,
  StateUpdatePayload,
} from "./message.ts";
import type { JsonObject, MessageTypeName } from "./types.ts";

/**
 * Options every builder takes.
 *
 * @example
 * ```ts
 * import type { BaseMessageOptions } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const o: BaseMessageOptions = { eventType: "wallpaper", extra: { monitor: "DP-1" } };
 * assert.equal(o.eventType, "wallpaper");
 * ```
 */
export interface BaseMessageOptions {
  /** The event type, which selects the event socket. */
  eventType: string;
  /**
   * The message id.
   *
   * @default {crypto.randomUUID()}
   */
  messageId?: string;
  /**
   * The timestamp.
   *
   * @default {new Date().toISOString()}
   */
  timestamp?: string;
  /**
   * Extra payload fields, copied as they are (snake_case is the wire's
   * convention: `wallpaper_path`). They never override the typed fields.
   */
  extra?: JsonObject;
}

/** Options of {@linkcode MessageBuilder.operationStarted}. @example
 * ```ts
 * import type { OperationStartedOptions } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const o: OperationStartedOptions = { eventType: "w", operationId: "1", operationName: "n" };
 * assert.equal(o.operationId, "1");
 * ```
 */
export interface OperationStartedOptions extends BaseMessageOptions {
  /** Ties the operation's messages together. */
  operationId: string;
  /** A human-readable name. */
  operationName: string;
  /** Free-form parameters. */
  parameters?: JsonObject;
}

/** Options of {@linkcode MessageBuilder.operationProgress}. @example
 * ```ts
 * import type { OperationProgressOptions } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const o: OperationProgressOptions = {
 *   eventType: "w", operationId: "1", stepId: "s", stepProgress: 5, overallProgress: 1,
 * };
 * assert.equal(o.stepProgress, 5);
 * ```
 */
export interface OperationProgressOptions extends BaseMessageOptions {
  /** The operation. */
  operationId: string;
  /** The current step. */
  stepId: string;
  /** 0 to 100. */
  stepProgress: number;
  /** 0 to 100. */
  overallProgress: number;
  /** A human-readable step name. */
  stepName?: string;
  /** At least 1. */
  totalSteps?: number;
  /** At least 1. */
  currentStep?: number;
}

/** Options of {@linkcode MessageBuilder.operationCompleted}. @example
 * ```ts
 * import type { OperationCompletedOptions } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const o: OperationCompletedOptions = { eventType: "w", operationId: "1", durationSeconds: 2 };
 * assert.equal(o.durationSeconds, 2);
 * ```
 */
export interface OperationCompletedOptions extends BaseMessageOptions {
  /** The operation. */
  operationId: string;
  /** At least 0. */
  durationSeconds: number;
  /** Free-form result. */
  result?: JsonObject;
}

/** Options of {@linkcode MessageBuilder.operationFailed}. @example
 * ```ts
 * import type { OperationFailedOptions } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const o: OperationFailedOptions = {
 *   eventType: "w", operationId: "1", errorCode: "E", errorMessage: "m",
 * };
 * assert.equal(o.errorCode, "E");
 * ```
 */
export interface OperationFailedOptions extends BaseMessageOptions {
  /** The operation. */
  operationId: string;
  /** A short machine-readable code. */
  errorCode: string;
  /** A human-readable message. */
  errorMessage: string;
  /** The step that failed. */
  stepId?: string;
  /** A traceback. */
  traceback?: string;
}

/** Options of {@linkcode MessageBuilder.stateUpdate}. @example
 * ```ts
 * import type { StateUpdateOptions } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const o: StateUpdateOptions = { eventType: "w", stateKey: "k", stateValue: {} };
 * assert.equal(o.stateKey, "k");
 * ```
 */
export interface StateUpdateOptions extends BaseMessageOptions {
  /** The key within the event type. */
  stateKey: string;
  /** The new value. */
  stateValue: JsonObject;
}

/** Options of {@linkcode MessageBuilder.queryRequest}. @example
 * ```ts
 * import type { QueryRequestOptions } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const o: QueryRequestOptions = { eventType: "w", queryType: "get_current_state" };
 * assert.equal(o.queryType, "get_current_state");
 * ```
 */
export interface QueryRequestOptions extends BaseMessageOptions {
  /** The query type. */
  queryType: string;
  /** Query parameters. */
  parameters?: JsonObject;
}

/** Options of {@linkcode MessageBuilder.queryResponse}. @example
 * ```ts
 * import type { QueryResponseOptions } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const o: QueryResponseOptions = { eventType: "w", queryId: "q", result: {} };
 * assert.equal(o.queryId, "q");
 * ```
 */
export interface QueryResponseOptions extends BaseMessageOptions {
  /** The request's `message_id`. */
  queryId: string;
  /** The result. */
  result: JsonObject;
  /** Set when the query failed. */
  error?: string;
}

function camelCase(field: string): string {
  return field.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function build<K extends MessageTypeName>(
  type: K,
  options: BaseMessageOptions,
  fields: Record<string, unknown>,
): Message<PayloadMap[K]> {
  const payload: Payload = { ...options.extra, type };
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) payload[key] = value;
  }
  const message: Message = {
    message_id: options.messageId ?? crypto.randomUUID(),
    timestamp: options.timestamp ?? new Date().toISOString(),
    event_type: options.eventType,
    payload,
  };
  if (typeof message.event_type !== "string" || message.event_type === "") {
    throw new TypeError(
      `Cannot build ${type} message: 'eventType' must be a non-empty string, received ${
        JSON.stringify(message.event_type ?? null)
      }`,
    );
  }
  const checked = validatePayload<K>(message);
  if (!checked.ok) {
    const wire = checked.error.field?.replace(/^payload\./, "") ?? "payload";
    const received = JSON.stringify(payload[wire] ?? null);
    const detail = checked.error.message.replace(
      /^Invalid message: field '[^']*' (is invalid: )?/,
      "",
    );
    const ErrorClass =
      /at (least|most)|from 0 to 100/.test(detail) && typeof payload[wire] === "number"
        ? RangeError
        : TypeError;
    throw new ErrorClass(
      `Cannot build ${type} message: '${camelCase(wire)}' ${
        detail.startsWith("expected") ? "is invalid: " : ""
      }${detail}, received ${received}`,
    );
  }
  return message as Message<PayloadMap[K]>;
}

/**
 * Builds wire messages: one method per payload type, each taking one
 * camelCase options object and returning the snake_case message with a
 * `message_id` (UUID v4) and an ISO-8601 `timestamp`. Every builder validates
 * what it builds.
 *
 * @example Build a progress message
 * ```ts
 * import { MessageBuilder } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const m = MessageBuilder.operationProgress({
 *   eventType: "wallpaper",
 *   operationId: "uuid-1234",
 *   stepId: "generate_effects",
 *   stepProgress: 50,
 *   overallProgress: 50,
 * });
 * assert.equal(m.payload.step_id, "generate_effects");
 * assert.throws(
 *   () => MessageBuilder.operationProgress({
 *     eventType: "wallpaper", operationId: "u", stepId: "s", stepProgress: 150, overallProgress: 0,
 *   }),
 *   /'stepProgress' .*0 to 100.*150/,
 * );
 * ```
 */
export class MessageBuilder {
  /**
   * Builds an `operation_started` message.
   *
   * @param options The fields.
   * @returns The wire message.
   * @throws {TypeError} When a field is missing or has the wrong type.
   * @example
   * ```ts
   * import { MessageBuilder } from "@dotfiles/daemon/protocol";
   * import assert from "node:assert/strict";
   *
   * const m = MessageBuilder.operationStarted({ eventType: "backup", operationId: "b1", operationName: "nightly" });
   * assert.equal(m.payload.type, "operation_started");
   * ```
   */
  static operationStarted(options: OperationStartedOptions): Message<OperationStartedPayload> {
    return build("operation_started", options, {
      operation_id: options.operationId,
      operation_name: options.operationName,
      parameters: options.parameters,
    });
  }

  /**
   * Builds an `operation_progress` message.
   *
   * @param options The fields.
   * @returns The wire message.
   * @throws {RangeError} When a percentage is outside 0 to 100 or a step count below 1.
   * @throws {TypeError} When a field is missing or has the wrong type.
   * @example
   * ```ts
   * import { MessageBuilder } from "@dotfiles/daemon/protocol";
   * import assert from "node:assert/strict";
   *
   * const m = MessageBuilder.operationProgress({
   *   eventType: "backup", operationId: "b1", stepId: "copy", stepProgress: 10, overallProgress: 5,
   * });
   * assert.equal(m.payload.overall_progress, 5);
   * ```
   */
  static operationProgress(options: OperationProgressOptions): Message<OperationProgressPayload> {
    return build("operation_progress", options, {
      operation_id: options.operationId,
      step_id: options.stepId,
      step_progress: options.stepProgress,
      overall_progress: options.overallProgress,
      step_name: options.stepName,
      total_steps: options.totalSteps,
      current_step: options.currentStep,
    });
  }

  /**
   * Builds an `operation_completed` message.
   *
   * @param options The fields.
   * @returns The wire message.
   * @throws {RangeError} When `durationSeconds` is negative.
   * @throws {TypeError} When a field is missing or has the wrong type.
   * @example
   * ```ts
   * import { MessageBuilder } from "@dotfiles/daemon/protocol";
   * import assert from "node:assert/strict";
   *
   * const m = MessageBuilder.operationCompleted({ eventType: "backup", operationId: "b1", durationSeconds: 3 });
   * assert.equal(m.payload.duration_seconds, 3);
   * ```
   */
  static operationCompleted(
    options: OperationCompletedOptions,
  ): Message<OperationCompletedPayload> {
    return build("operation_completed", options, {
      operation_id: options.operationId,
      duration_seconds: options.durationSeconds,
      result: options.result,
    });
  }

  /**
   * Builds an `operation_failed` message.
   *
   * @param options The fields.
   * @returns The wire message.
   * @throws {TypeError} When a field is missing or has the wrong type.
   * @example
   * ```ts
   * import { MessageBuilder } from "@dotfiles/daemon/protocol";
   * import assert from "node:assert/strict";
   *
   * const m = MessageBuilder.operationFailed({
   *   eventType: "backup", operationId: "b1", errorCode: "DISK_FULL", errorMessage: "no space",
   * });
   * assert.equal(m.payload.error_code, "DISK_FULL");
   * ```
   */
  static operationFailed(options: OperationFailedOptions): Message<OperationFailedPayload> {
    return build("operation_failed", options, {
      operation_id: options.operationId,
      error_code: options.errorCode,
      error_message: options.errorMessage,
      step_id: options.stepId,
      traceback: options.traceback,
    });
  }

  /**
   * Builds a `state_update` message.
   *
   * @param options The fields.
   * @returns The wire message.
   * @throws {TypeError} When a field is missing or has the wrong type.
   * @example
   * ```ts
   * import { MessageBuilder } from "@dotfiles/daemon/protocol";
   * import assert from "node:assert/strict";
   *
   * const m = MessageBuilder.stateUpdate({ eventType: "theme", stateKey: "current", stateValue: { name: "dark" } });
   * assert.deepEqual(m.payload.state_value, { name: "dark" });
   * ```
   */
  static stateUpdate(options: StateUpdateOptions): Message<StateUpdatePayload> {
    return build("state_update", options, {
      state_key: options.stateKey,
      state_value: options.stateValue,
    });
  }

  /**
   * Builds a `query_request` message.
   *
   * @param options The fields.
   * @returns The wire message.
   * @throws {TypeError} When a field is missing or has the wrong type.
   * @example
   * ```ts
   * import { MessageBuilder } from "@dotfiles/daemon/protocol";
   * import assert from "node:assert/strict";
   *
   * const m = MessageBuilder.queryRequest({ eventType: "daemon", queryType: "list_event_types" });
   * assert.equal(m.payload.query_type, "list_event_types");
   * ```
   */
  static queryRequest(options: QueryRequestOptions): Message<QueryRequestPayload> {
    return build("query_request", options, {
      query_type: options.queryType,
      parameters: options.parameters,
    });
  }

  /**
   * Builds a `query_response` message.
   *
   * @param options The fields.
   * @returns The wire message.
   * @throws {TypeError} When a field is missing or has the wrong type.
   * @example
   * ```ts
   * import { MessageBuilder } from "@dotfiles/daemon/protocol";
   * import assert from "node:assert/strict";
   *
   * const m = MessageBuilder.queryResponse({ eventType: "daemon", queryId: "q1", result: { ok: 1 } });
   * assert.equal(m.payload.query_id, "q1");
   * ```
   */
  static queryResponse(options: QueryResponseOptions): Message<QueryResponsePayload> {
    return build("query_response", options, {
      query_id: options.queryId,
      result: options.result,
      error: options.error,
    });
  }
}
