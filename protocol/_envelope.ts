// This module is browser compatible.

/**
 * The envelope check written out for its five fields, for the router's hot
 * path: the same decisions, the same first failing field and the same text
 * as `messageSchema` (zod) in `_schemas.ts`, which stays the definition for
 * payloads, `--strict-payloads` and the builders. Fields are checked in the
 * schema's order (`message_id`, `timestamp`, `event_type`, `payload`,
 * `payload.type`, `seq`), so the first failure is the one zod reports
 * first. `tests/protocol/envelope_test.ts` holds the two to each other.
 *
 * @module
 */

import { MessageValidationError } from "./errors.ts";
import { checkIsoTimestamp } from "./_timestamp.ts";

/** Why an envelope is refused: the field's dotted path and what it must be. */
export interface EnvelopeIssue {
  /** `message_id`, `timestamp`, `event_type`, `payload`, `payload.type` or `seq`. */
  field: string;
  /** Starts with "expected". */
  text: string;
}

const EXPECTED_STRING = "expected a string";
const EXPECTED_NON_EMPTY = "expected a non-empty string";
const EXPECTED_TIMESTAMP = "expected an ISO-8601 timestamp";
const EXPECTED_PAYLOAD = "expected a JSON object with a string 'type'";
const EXPECTED_SEQ = "expected an integer of at least 1";

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A non-empty string field: `null` when it is one, else the issue. */
function nonEmpty(value: unknown, field: string): EnvelopeIssue | null {
  if (typeof value !== "string") return { field, text: EXPECTED_STRING };
  return value.length === 0 ? { field, text: EXPECTED_NON_EMPTY } : null;
}

/**
 * Checks the envelope of a decoded JSON object. A missing (`undefined`)
 * `message_id` or `timestamp` is allowed: the caller fills it in.
 *
 * @param value A JSON object (not `null`, not an array).
 * @returns `null` when the envelope is valid, else the first issue.
 *
 * @example
 * ```ts
 * import { envelopeIssue } from "./_envelope.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(envelopeIssue({ event_type: "x", payload: { type: "y" } }), null);
 * assert.deepEqual(envelopeIssue({ event_type: "x", payload: {} }), {
 *   field: "payload.type",
 *   text: "expected a string",
 * });
 * ```
 */
export function envelopeIssue(value: Record<string, unknown>): EnvelopeIssue | null {
  const id = value.message_id;
  if (id !== undefined) {
    const issue = nonEmpty(id, "message_id");
    if (issue !== null) return issue;
  }
  const timestamp = value.timestamp;
  if (timestamp !== undefined) {
    if (typeof timestamp !== "string") return { field: "timestamp", text: EXPECTED_STRING };
    if (!checkIsoTimestamp(timestamp)) return { field: "timestamp", text: EXPECTED_TIMESTAMP };
  }
  const eventType = nonEmpty(value.event_type, "event_type");
  if (eventType !== null) return eventType;
  const payload = value.payload;
  if (!isObject(payload)) return { field: "payload", text: EXPECTED_PAYLOAD };
  const type = nonEmpty(payload.type, "payload.type");
  if (type !== null) return type;
  const seq = value.seq;
  if (seq !== undefined && !(Number.isSafeInteger(seq) && (seq as number) >= 1)) {
    return { field: "seq", text: EXPECTED_SEQ };
  }
  return null;
}

const SHAPE_KEYS = new Set(["message_id", "timestamp", "event_type", "payload", "seq"]);

/**
 * Copies a valid envelope as zod's `looseObject` does: the schema's keys
 * first (defaults filled in, `seq` only when present), then the other keys
 * in `for...in` order, `__proto__` left out; the payload likewise, `type`
 * first. Values are not copied deeper.
 *
 * @param value An object {@linkcode envelopeIssue} accepted.
 * @returns The new message object.
 *
 * @example
 * ```ts
 * import { copyEnvelope } from "./_envelope.ts";
 * import assert from "node:assert/strict";
 *
 * const m = copyEnvelope({ extra: 1, event_type: "x", payload: { a: 1, type: "y" } });
 * assert.deepEqual(Object.keys(m), ["message_id", "timestamp", "event_type", "payload", "extra"]);
 * assert.deepEqual(Object.keys(m.payload as object), ["type", "a"]);
 * ```
 */
export function copyEnvelope(value: Record<string, unknown>): Record<string, unknown> {
  const payload = value.payload as Record<string, unknown>;
  const outPayload: Record<string, unknown> = { type: payload.type };
  for (const key in payload) {
    if (key !== "type" && key !== "__proto__") outPayload[key] = payload[key];
  }
  const out: Record<string, unknown> = {
    message_id: value.message_id ?? crypto.randomUUID(),
    timestamp: value.timestamp ?? new Date().toISOString(),
    event_type: value.event_type,
    payload: outPayload,
  };
  if ("seq" in value) out.seq = value.seq;
  for (const key in value) {
    if (!SHAPE_KEYS.has(key) && key !== "__proto__") out[key] = value[key];
  }
  return out;
}

/**
 * The error for an envelope issue, worded as `validateMessage` words it.
 *
 * @param issue What {@linkcode envelopeIssue} returned.
 * @returns The error, with reason `invalid_envelope`.
 *
 * @example
 * ```ts
 * import { envelopeError } from "./_envelope.ts";
 * import assert from "node:assert/strict";
 *
 * const error = envelopeError({ field: "seq", text: "expected an integer of at least 1" });
 * assert.equal(error.message, "Invalid message: field 'seq' is invalid: expected an integer of at least 1");
 * ```
 */
export function envelopeError(issue: EnvelopeIssue): MessageValidationError {
  return new MessageValidationError(
    `Invalid message: field '${issue.field}' is invalid: ${issue.text}`,
    { reason: "invalid_envelope", field: issue.field },
  );
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes a frame body: UTF-8, then JSON. The one decoding `parseMessage`
 * and the monitor's reader share (the monitor without the schema library).
 *
 * @param body The frame body, as bytes or as a string.
 * @returns The decoded value, or an error whose `reason` is `invalid_utf8`
 * or `invalid_json`.
 */
export function decodeBody(
  body: Uint8Array | string,
): { ok: true; value: unknown } | { ok: false; error: MessageValidationError } {
  let text: string;
  if (typeof body === "string") {
    text = body;
  } else {
    try {
      text = decoder.decode(body);
    } catch (cause) {
      return {
        ok: false,
        error: new MessageValidationError("Invalid message: body is not valid UTF-8", {
          reason: "invalid_utf8",
          field: null,
          cause,
        }),
      };
    }
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (cause) {
    return {
      ok: false,
      error: new MessageValidationError(
        `Invalid message: body is not JSON: ${(cause as Error).message}`,
        { reason: "invalid_json", field: null, cause },
      ),
    };
  }
}

/**
 * The error for a decoded body that is not a JSON object, else `null`.
 *
 * @param value A decoded JSON value.
 * @returns A `not_object` error, or `null` for an object.
 */
export function notObjectError(value: unknown): MessageValidationError | null {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) return null;
  return new MessageValidationError(
    `Invalid message: expected a JSON object, received ${
      value === null ? "null" : Array.isArray(value) ? "an array" : typeof value
    }`,
    { reason: "not_object", field: null },
  );
}
