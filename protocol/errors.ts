// This module is browser compatible.

/**
 * Why a message was refused. `invalid_utf8`, `invalid_json` and `not_object`
 * come from decoding a frame body; the others from checking its fields.
 *
 * @example
 * ```ts
 * import type { ValidationReason } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const r: ValidationReason = "invalid_envelope";
 * assert.equal(r, "invalid_envelope");
 * ```
 */
export type ValidationReason =
  | "invalid_utf8"
  | "invalid_json"
  | "not_object"
  | "invalid_envelope"
  | "invalid_payload"
  | "unknown_payload_type";

/** Options of {@linkcode MessageValidationError}. @example
 * ```ts
 * import type { MessageValidationErrorOptions } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const o: MessageValidationErrorOptions = { reason: "invalid_json", field: null };
 * assert.equal(o.field, null);
 * ```
 */
export interface MessageValidationErrorOptions extends ErrorOptions {
  /** Why the message was refused. */
  reason: ValidationReason;
  /** The wire path of the offending field (`payload.step_progress`), or `null`. */
  field: string | null;
}

/**
 * A message that cannot be decoded or does not follow the protocol. It names
 * the reason and, where there is one, the offending field.
 *
 * @example
 * ```ts
 * import { parseMessage } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const result = parseMessage('{"event_type": "x"}');
 * assert.ok(!result.ok);
 * assert.equal(result.error.reason, "invalid_envelope");
 * assert.equal(result.error.field, "payload");
 * ```
 */
export class MessageValidationError extends TypeError {
  /** Why the message was refused. */
  readonly reason: ValidationReason;
  /** The wire path of the offending field, or `null`. */
  readonly field: string | null;

  /**
   * Creates the error.
   *
   * @param message The error message.
   * @param options The reason, the field and an optional cause.
   */
  constructor(message: string, options: MessageValidationErrorOptions) {
    super(message, options);
    this.name = "MessageValidationError";
    this.reason = options.reason;
    this.field = options.field;
  }
}

/**
 * Why a frame could not be read. The stream cannot be resynchronised after
 * any of them, so the connection must be closed.
 *
 * @example
 * ```ts
 * import type { FrameErrorCode } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const c: FrameErrorCode = "oversized";
 * assert.equal(c, "oversized");
 * ```
 */
export type FrameErrorCode = "empty" | "oversized" | "truncated";

/**
 * A frame header announced length 0 or more than the limit, or the stream
 * ended inside a frame.
 *
 * @example
 * ```ts
 * import { FrameError } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const e = new FrameError("Cannot read frame: length is 0", "empty");
 * assert.equal(e.code, "empty");
 * ```
 */
export class FrameError extends RangeError {
  /** What went wrong. */
  readonly code: FrameErrorCode;

  /**
   * Creates the error.
   *
   * @param message The error message.
   * @param code What went wrong.
   */
  constructor(message: string, code: FrameErrorCode) {
    super(message);
    this.name = "FrameError";
    this.code = code;
  }
}

/**
 * The daemon cannot be reached: its socket is missing or refuses
 * connections, or it did not answer in time.
 *
 * @example
 * ```ts
 * import { DaemonUnavailableError } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const e = new DaemonUnavailableError("Cannot connect to daemon: no socket at '/x'");
 * assert.equal(e.name, "DaemonUnavailableError");
 * ```
 */
export class DaemonUnavailableError extends Error {
  /**
   * Creates the error.
   *
   * @param message The error message.
   * @param options An optional cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DaemonUnavailableError";
  }
}

/**
 * The daemon answered a query with an `error`.
 *
 * @example
 * ```ts
 * import { QueryError } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const e = new QueryError("Unknown query type: 'nope'", "nope");
 * assert.equal(e.queryType, "nope");
 * ```
 */
export class QueryError extends Error {
  /** The query type that failed. */
  readonly queryType: string;

  /**
   * Creates the error.
   *
   * @param message The daemon's `error` text.
   * @param queryType The query type that failed.
   */
  constructor(message: string, queryType: string) {
    super(message);
    this.name = "QueryError";
    this.queryType = queryType;
  }
}
