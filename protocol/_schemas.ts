// This module is browser compatible.

import { z } from "zod";
import { isIsoTimestamp } from "./iso_timestamp.ts";
import type {
  Message,
  OperationCompletedPayload,
  OperationFailedPayload,
  OperationProgressPayload,
  OperationStartedPayload,
  PayloadMap,
  QueryRequestPayload,
  QueryResponsePayload,
  StateUpdatePayload,
} from "./message.ts";

const text = z.string("expected a string");
const nonEmpty = text.min(1, "expected a non-empty string");
const object = z.record(z.string(), z.unknown(), "expected a JSON object");
const percent = z.number("expected a number from 0 to 100").min(
  0,
  "expected a number from 0 to 100",
)
  .max(100, "expected a number from 0 to 100");
const positiveInt = z.int("expected an integer of at least 1").min(
  1,
  "expected an integer of at least 1",
);

/** The envelope; `message_id` and `timestamp` are filled in when missing. */
export const messageSchema = z.looseObject({
  message_id: nonEmpty.default(() => crypto.randomUUID()),
  timestamp: text.refine(isIsoTimestamp, "expected an ISO-8601 timestamp")
    .default(() => new Date().toISOString()),
  event_type: nonEmpty,
  payload: z.looseObject({ type: nonEmpty }, "expected a JSON object with a string 'type'"),
  seq: z.int("expected an integer of at least 1").min(1, "expected an integer of at least 1")
    .optional(),
});

/** One schema per known payload type. `null` optional fields count as absent. */
export const payloadSchemas = {
  operation_started: z.looseObject({
    type: z.literal("operation_started"),
    operation_id: nonEmpty,
    operation_name: text,
    parameters: object.nullish(),
  }),
  operation_progress: z.looseObject({
    type: z.literal("operation_progress"),
    operation_id: nonEmpty,
    step_id: text,
    step_progress: percent,
    overall_progress: percent,
    step_name: text.nullish(),
    total_steps: positiveInt.nullish(),
    current_step: positiveInt.nullish(),
  }),
  operation_completed: z.looseObject({
    type: z.literal("operation_completed"),
    operation_id: nonEmpty,
    duration_seconds: z.number("expected a number of at least 0").min(
      0,
      "expected a number of at least 0",
    ),
    result: object.nullish(),
  }),
  operation_failed: z.looseObject({
    type: z.literal("operation_failed"),
    operation_id: nonEmpty,
    error_code: text,
    error_message: text,
    step_id: text.nullish(),
    traceback: text.nullish(),
  }),
  state_update: z.looseObject({
    type: z.literal("state_update"),
    state_key: nonEmpty,
    state_value: object,
  }),
  query_request: z.looseObject({
    type: z.literal("query_request"),
    query_type: nonEmpty,
    parameters: object.nullish(),
  }),
  query_response: z.looseObject({
    type: z.literal("query_response"),
    query_id: text,
    result: object,
    error: text.nullish(),
  }),
} as const;

// Compile-time proof that the public interfaces are what the schemas accept.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Check<T extends true> = T;
type Inferred<K extends keyof typeof payloadSchemas> = z.infer<typeof payloadSchemas[K]>;
type Fields<T> = { [K in keyof T as string extends K ? never : K]-?: Exclude<T[K], undefined> };
export type _SchemaChecks = [
  Check<Same<Fields<Inferred<"operation_started">>, Fields<OperationStartedPayload>>>,
  Check<Same<Fields<Inferred<"operation_progress">>, Fields<OperationProgressPayload>>>,
  Check<Same<Fields<Inferred<"operation_completed">>, Fields<OperationCompletedPayload>>>,
  Check<Same<Fields<Inferred<"operation_failed">>, Fields<OperationFailedPayload>>>,
  Check<Same<Fields<Inferred<"state_update">>, Fields<StateUpdatePayload>>>,
  Check<Same<Fields<Inferred<"query_request">>, Fields<QueryRequestPayload>>>,
  Check<Same<Fields<Inferred<"query_response">>, Fields<QueryResponsePayload>>>,
  Check<Same<keyof PayloadMap, keyof typeof payloadSchemas>>,
  Check<Same<Fields<z.infer<typeof messageSchema>>["event_type"], Fields<Message>["event_type"]>>,
];
