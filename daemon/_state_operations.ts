/**
 * How operation messages change an operation record. Payloads are taken as
 * they come (the daemon routes invalid payloads by default): a field of the
 * wrong type counts as absent, and `null` is absent.
 *
 * @module
 */

import type { JsonObject, OperationRecord, Payload } from "../protocol/mod.ts";

/** An operation with the bookkeeping `DaemonState` needs. */
export interface OperationEntry {
  record: OperationRecord;
  /** `started_at` in ms, for sorting. */
  startedMs: number;
  /** `updated_at` in ms, for the stale deadline. */
  updatedMs: number;
  /** Creation order, the tie-breaker for sorting. */
  order: number;
}

/** The `error_code` of an operation the daemon gave up on. */
export const STALE_ERROR_CODE = "STALE";

/** A string, or `null`. */
export function str(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/** A finite number, or `null`. */
export function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** A JSON object (not an array), or `null`. */
export function obj(value: unknown): JsonObject | null {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? value as JsonObject
    : null;
}

/** A new running record with every field `null`. */
export function blankRecord(
  operationId: string,
  eventType: string,
  iso: string,
): OperationRecord {
  return {
    operation_id: operationId,
    event_type: eventType,
    status: "running",
    operation_name: null,
    parameters: null,
    started_at: iso,
    updated_at: iso,
    step_id: null,
    step_name: null,
    step_progress: null,
    overall_progress: null,
    total_steps: null,
    current_step: null,
    duration_seconds: null,
    result: null,
    error_code: null,
    error_message: null,
  };
}

/**
 * A record read from a store, with every key present and of the right type
 * (a row written by an older version may lack some).
 */
export function normalizeRecord(raw: OperationRecord): OperationRecord | null {
  const id = str(raw.operation_id);
  const type = str(raw.event_type);
  const startedAt = str(raw.started_at);
  if (id === null || id === "" || type === null || startedAt === null) return null;
  const status = raw.status === "completed" || raw.status === "failed" ? raw.status : "running";
  return {
    operation_id: id,
    event_type: type,
    status,
    operation_name: str(raw.operation_name),
    parameters: obj(raw.parameters),
    started_at: startedAt,
    updated_at: str(raw.updated_at) ?? startedAt,
    step_id: str(raw.step_id),
    step_name: str(raw.step_name),
    step_progress: num(raw.step_progress),
    overall_progress: num(raw.overall_progress),
    total_steps: num(raw.total_steps),
    current_step: num(raw.current_step),
    duration_seconds: num(raw.duration_seconds),
    result: obj(raw.result),
    error_code: str(raw.error_code),
    error_message: str(raw.error_message),
  };
}

/** `operation_started` on a record that is running (a fresh one, or one progress created). */
export function applyStarted(record: OperationRecord, payload: Payload): void {
  const name = str(payload.operation_name);
  if (name !== null) record.operation_name = name;
  const parameters = obj(payload.parameters);
  if (parameters !== null) record.parameters = parameters;
}

/**
 * `operation_progress`: the three required fields replace the old ones when
 * present; `step_name` is kept for the same step and cleared for a new one;
 * `total_steps` and `current_step` are kept until sent again. An operation
 * the daemon marked `STALE` is running again.
 */
export function applyProgress(record: OperationRecord, payload: Payload): void {
  if (record.status === "failed" && record.error_code === STALE_ERROR_CODE) {
    record.status = "running";
    record.error_code = null;
    record.error_message = null;
  }
  const stepId = str(payload.step_id);
  const stepName = str(payload.step_name);
  if (stepName !== null) record.step_name = stepName;
  else if (stepId !== null && stepId !== record.step_id) record.step_name = null;
  if (stepId !== null) record.step_id = stepId;
  const stepProgress = num(payload.step_progress);
  if (stepProgress !== null) record.step_progress = stepProgress;
  const overall = num(payload.overall_progress);
  if (overall !== null) record.overall_progress = overall;
  const total = num(payload.total_steps);
  if (total !== null) record.total_steps = total;
  const current = num(payload.current_step);
  if (current !== null) record.current_step = current;
}

/** `operation_completed`. */
export function applyCompleted(record: OperationRecord, payload: Payload): void {
  record.status = "completed";
  record.duration_seconds = num(payload.duration_seconds);
  record.result = obj(payload.result);
  record.error_code = null;
  record.error_message = null;
}

/** `operation_failed`: a missing `step_id` keeps the last step seen. */
export function applyFailed(record: OperationRecord, payload: Payload): void {
  record.status = "failed";
  record.error_code = str(payload.error_code);
  record.error_message = str(payload.error_message);
  const stepId = str(payload.step_id);
  if (stepId !== null) record.step_id = stepId;
  record.duration_seconds = null;
  record.result = null;
}

let lastIsoMs = NaN;
let lastIso = "";

/** `new Date(ms).toISOString()`, cached for the last millisecond: messages of a burst share it. */
export function isoTime(ms: number): string {
  if (ms !== lastIsoMs) {
    lastIso = new Date(ms).toISOString();
    lastIsoMs = ms;
  }
  return lastIso;
}

/** An error's message, for a warning line. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
