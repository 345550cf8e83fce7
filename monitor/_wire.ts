import { MessageValidationError } from "../protocol/errors.ts";
import { FrameDecoder } from "../protocol/frame.ts";
import { isIsoTimestamp } from "../protocol/iso_timestamp.ts";
import type { Message } from "../protocol/message.ts";
import type { ValidationResult } from "../protocol/message_validator.ts";

/** The largest frame the monitor reads (history pages can be large). */
export const MAX_RESPONSE_SIZE = 256 * 1024 * 1024;

const decoder = new TextDecoder("utf-8", { fatal: true });

function refuse(
  message: string,
  reason: "invalid_utf8" | "invalid_json" | "not_object" | "invalid_envelope",
  field: string | null = null,
): ValidationResult<Message> {
  return {
    ok: false,
    error: new MessageValidationError(`Invalid message: ${message}`, { reason, field }),
  };
}

function isNonEmpty(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}

/**
 * Decodes a frame body from the daemon and checks its envelope, as the
 * protocol's `parseMessage` does, without its schema library: the daemon
 * already validated everything it routes or answers, and a monitor (a
 * status bar module, one process per module) should not pay the
 * validator's memory (about 13 MiB of RSS) to check it again.
 *
 * @param body A frame body.
 * @returns The message, or why it is not one.
 */
export function parseRoutedMessage(body: Uint8Array): ValidationResult<Message> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(body));
  } catch (error) {
    return error instanceof SyntaxError
      ? refuse(`body is not JSON: ${error.message}`, "invalid_json")
      : refuse("body is not valid UTF-8", "invalid_utf8");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return refuse("expected a JSON object", "not_object");
  }
  const m = value as Record<string, unknown>;
  if (!isNonEmpty(m.event_type)) {
    return refuse(
      "field 'event_type' expected a non-empty string",
      "invalid_envelope",
      "event_type",
    );
  }
  const payload = m.payload;
  if (
    typeof payload !== "object" || payload === null || Array.isArray(payload) ||
    !isNonEmpty((payload as Record<string, unknown>).type)
  ) {
    return refuse(
      "field 'payload' expected a JSON object with a string 'type'",
      "invalid_envelope",
      "payload",
    );
  }
  if (m.message_id !== undefined && !isNonEmpty(m.message_id)) {
    return refuse(
      "field 'message_id' expected a non-empty string",
      "invalid_envelope",
      "message_id",
    );
  }
  if (
    m.timestamp !== undefined && !(typeof m.timestamp === "string" && isIsoTimestamp(m.timestamp))
  ) {
    return refuse(
      "field 'timestamp' expected an ISO-8601 timestamp",
      "invalid_envelope",
      "timestamp",
    );
  }
  if (m.seq !== undefined && !(Number.isSafeInteger(m.seq) && (m.seq as number) >= 1)) {
    return refuse("field 'seq' expected an integer of at least 1", "invalid_envelope", "seq");
  }
  m.message_id ??= crypto.randomUUID();
  m.timestamp ??= new Date().toISOString();
  return { ok: true, message: m as unknown as Message };
}

/**
 * Reads frames from a connection on demand and parses each body. Reading
 * only when asked keeps back-pressure on the daemon, which queues for slow
 * monitors. Close the connection to interrupt a pending read.
 */
export class MessageReader {
  #conn: Deno.Conn;
  #decoder: FrameDecoder;
  #buffer = new Uint8Array(64 * 1024);
  #parsed: ValidationResult<Message>[] = [];
  #head = 0;
  #eof = false;

  constructor(conn: Deno.Conn, maxMessageSize: number = MAX_RESPONSE_SIZE) {
    this.#conn = conn;
    this.#decoder = new FrameDecoder(maxMessageSize);
  }

  /** The next parsed frame, or `null` at the end of the stream. */
  async read(): Promise<ValidationResult<Message> | null> {
    while (this.#head >= this.#parsed.length) {
      if (this.#eof) return null;
      this.#parsed = [];
      this.#head = 0;
      const n = await this.#conn.read(this.#buffer);
      if (n === null) {
        this.#eof = true;
        this.#decoder.end();
        return null;
      }
      // Bodies are views of the buffer: parse them before the next read.
      this.#decoder.push(this.#buffer.subarray(0, n), (body) => {
        this.#parsed.push(parseRoutedMessage(body));
      });
    }
    return this.#parsed[this.#head++]!;
  }
}
