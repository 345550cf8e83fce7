// This module is browser compatible.

/**
 * The dotfiles event protocol: message types and schemas, builders,
 * validation and framing. Pure: no `Deno.*`, no I/O, runs anywhere.
 *
 * A frame is a 4-byte unsigned big-endian length and that many bytes of
 * UTF-8 JSON holding one message:
 * `{"message_id", "timestamp", "event_type", "payload": {"type", ...}}`.
 *
 * ```ts
 * import { encodeFrame, FrameDecoderStream, MessageBuilder, parseMessage } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const message = MessageBuilder.stateUpdate({
 *   eventType: "wallpaper",
 *   stateKey: "current",
 *   stateValue: { path: "/home/me/w.png" },
 * });
 * const bodies = ReadableStream.from([encodeFrame(message)]).pipeThrough(new FrameDecoderStream());
 * for await (const body of bodies) {
 *   const result = parseMessage(body);
 *   assert.ok(result.ok);
 *   assert.deepEqual(result.message, message);
 * }
 * ```
 *
 * @module
 */

export {
  DaemonUnavailableError,
  FrameError,
  type FrameErrorCode,
  MessageValidationError,
  type MessageValidationErrorOptions,
  QueryError,
  type ValidationReason,
} from "./errors.ts";
export {
  DEFAULT_MAX_MESSAGE_SIZE,
  encodeFrame,
  FRAME_HEADER_SIZE,
  FrameDecoder,
  FrameDecoderStream,
  type FrameDecoderStreamOptions,
} from "./frame.ts";
export { isIsoTimestamp } from "./iso_timestamp.ts";
export type {
  KnownPayload,
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
export {
  type BaseMessageOptions,
  MessageBuilder,
  type OperationCompletedOptions,
  type OperationFailedOptions,
  type OperationProgressOptions,
  type OperationStartedOptions,
  type QueryRequestOptions,
  type QueryResponseOptions,
  type StateUpdateOptions,
} from "./message_builder.ts";
export {
  getMessageType,
  isValidMessage,
  parseMessage,
  validateMessage,
  validatePayload,
  type ValidationResult,
} from "./message_validator.ts";
export {
  defaultSocketDir,
  defaultStateDir,
  type EnvGetter,
  EVENT_TYPE_REGEXP,
  eventSocketPath,
  isValidEventType,
  SocketNames,
} from "./socket_paths.ts";
export {
  type CurrentStateResult,
  type DaemonStatusResult,
  type EventHistoryResult,
  type EventTypeInfo,
  type EventTypesResult,
  type JsonObject,
  MessageType,
  type MessageTypeName,
  type OperationRecord,
  type OperationStatus,
  type OperationStatusResult,
  type QueryResultMap,
  QueryType,
  type QueryTypeName,
} from "./types.ts";
