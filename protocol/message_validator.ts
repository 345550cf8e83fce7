// This module is browser compatible.

import type { z } from "zod";
import {
  copyEnvelope,
  decodeBody,
  envelopeError,
  envelopeIssue,
  notObjectError,
} from "./_envelope.ts";
import { messageSchema, payloadSchemas } from "./_schemas.ts";
import { MessageValidationError, type ValidationReason } from "./errors.ts";
import type { KnownPayload, Message, PayloadMap } from "./message.ts";
import type { MessageTypeName } from "./types.ts";

/**
 * The outcome of a validation: the message, or the error that says why not.
 *
 * @typeParam T What a successful validation yields.
 *
 * @example
 * ```ts
 * import { validateMessage, type ValidationResult, type Message } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const r: ValidationResult<Message> = validateMessage({});
 * assert.equal(r.ok, false);
 * ```
 */
export type ValidationResult<T> =
  | { ok: true; message: T }
  | { ok: false; error: MessageValidationError };

function issueError(
  issue: z.core.$ZodIssue,
  reason: ValidationReason,
  prefix: string,
): MessageValidationError {
  const field = [...prefix ? [prefix] : [], ...issue.path.map(String)].join(".");
  const text = issue.code === "invalid_type" && issue.message.startsWith("Invalid input")
    ? `expected ${issue.expected}`
    : issue.message;
  return new MessageValidationError(
    `Invalid message: field '${field || "(root)"}' ${
      /^(expected|Invalid)/.test(text) ? "is invalid: " : ""
    }${text}`,
    { reason, field: field || null },
  );
}

/**
 * Checks the envelope of a decoded message: `event_type` and a `payload`
 * with a string `type` are required; a missing `message_id` is filled in with
 * a UUID v4 and a missing `timestamp` with the current time; a present
 * `timestamp` must be an ISO-8601 string that Python's
 * `datetime.fromisoformat` accepts. Unknown fields pass through. The payload's
 * fields are not checked here: see {@linkcode validatePayload}.
 *
 * @param value A decoded JSON value.
 * @returns The message, with defaults filled in, or the error.
 *
 * @example Validate a message from a Python manager
 * ```ts
 * import { validateMessage } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const r = validateMessage({ event_type: "backup", payload: { type: "custom", extra: 1 } });
 * assert.ok(r.ok);
 * assert.equal(r.message.payload.extra, 1);
 * assert.match(r.message.message_id, /^[0-9a-f-]{36}$/);
 * ```
 */
export function validateMessage(value: unknown): ValidationResult<Message> {
  const notObject = notObjectError(value);
  if (notObject !== null) return { ok: false, error: notObject };
  if (isPlain(value) && isPlain((value as Record<string, unknown>).payload)) {
    // Decoded JSON: the envelope check written out (same answers, no zod).
    const record = value as Record<string, unknown>;
    const issue = envelopeIssue(record);
    if (issue === null) return { ok: true, message: copyEnvelope(record) as Message };
    return { ok: false, error: envelopeError(issue) };
  }
  const parsed = messageSchema.safeParse(value);
  if (parsed.success) return { ok: true, message: parsed.data as Message };
  return { ok: false, error: issueError(parsed.error.issues[0]!, "invalid_envelope", "") };
}

/** Whether `value` is an object literal (what `JSON.parse` makes), or is not an object. */
function isPlain(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Decodes a frame body (UTF-8 JSON) and validates its envelope.
 *
 * @param body The frame body, as bytes or as a string.
 * @returns The message, or an error whose `reason` is `invalid_utf8`,
 * `invalid_json`, `not_object` or `invalid_envelope`.
 *
 * @example
 * ```ts
 * import { parseMessage } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const bad = parseMessage("{not json");
 * assert.ok(!bad.ok);
 * assert.equal(bad.error.reason, "invalid_json");
 * ```
 */
export function parseMessage(body: Uint8Array | string): ValidationResult<Message> {
  const decoded = decodeBody(body);
  return decoded.ok ? validateMessage(decoded.value) : decoded;
}

/**
 * Tells whether a decoded value has a valid envelope.
 *
 * @param value A decoded JSON value.
 * @returns `true` when {@linkcode validateMessage} accepts it.
 *
 * @example
 * ```ts
 * import { isValidMessage } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isValidMessage({ event_type: "x", payload: { type: "y" } }));
 * assert.ok(!isValidMessage({ event_type: "x" }));
 * ```
 */
export function isValidMessage(value: unknown): value is Message {
  return validateMessage(value).ok;
}

/**
 * Returns the payload type of a message when it is one of the seven known
 * types, else `null`.
 *
 * @param message A message with a valid envelope.
 * @returns The known type, or `null`.
 *
 * @example
 * ```ts
 * import { getMessageType } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const m = { message_id: "1", timestamp: "2026-01-01", event_type: "x", payload: { type: "state_update" } };
 * assert.equal(getMessageType(m), "state_update");
 * assert.equal(getMessageType({ ...m, payload: { type: "custom" } }), null);
 * ```
 */
export function getMessageType(message: Message): MessageTypeName | null {
  const type = message.payload.type;
  return Object.hasOwn(payloadSchemas, type) ? type as MessageTypeName : null;
}

/**
 * Checks a message's payload against the schema of its type (see the
 * protocol table in the README). `null` optional fields count as absent and
 * extra fields pass through. A type that is not one of the seven known ones
 * is refused with reason `unknown_payload_type`; the daemon's default,
 * lenient routing does not call this, a strict mode does.
 *
 * @typeParam K The expected payload type.
 * @param message A message with a valid envelope.
 * @returns The message, typed by its payload, or the error naming the field.
 *
 * @example
 * ```ts
 * import { validatePayload } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const r = validatePayload({
 *   message_id: "1",
 *   timestamp: "2026-11-25T11:40:00.123456",
 *   event_type: "wallpaper",
 *   payload: { type: "operation_progress", operation_id: "o", step_id: "s", step_progress: 150, overall_progress: 1 },
 * });
 * assert.ok(!r.ok);
 * assert.equal(r.error.field, "payload.step_progress");
 * ```
 */
export function validatePayload<K extends MessageTypeName = MessageTypeName>(
  message: Message,
): ValidationResult<Message<PayloadMap[K]>> {
  const type = getMessageType(message);
  if (type === null) {
    return {
      ok: false,
      error: new MessageValidationError(
        `Invalid message: field 'payload.type' is not a known type, received '${message.payload.type}'`,
        { reason: "unknown_payload_type", field: "payload.type" },
      ),
    };
  }
  const parsed = payloadSchemas[type].safeParse(message.payload);
  if (!parsed.success) {
    return { ok: false, error: issueError(parsed.error.issues[0]!, "invalid_payload", "payload") };
  }
  return {
    ok: true,
    message: { ...message, payload: parsed.data as KnownPayload } as Message<PayloadMap[K]>,
  };
}
