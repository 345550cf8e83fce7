import { FrameDecoder } from "../protocol/frame.ts";
import {
  copyEnvelope,
  decodeBody,
  envelopeError,
  envelopeIssue,
  notObjectError,
} from "../protocol/_envelope.ts";
import type { Message } from "../protocol/message.ts";
import type { ValidationResult } from "../protocol/message_validator.ts";

/** The largest frame the monitor reads (history pages can be large). */
export const MAX_RESPONSE_SIZE = 256 * 1024 * 1024;

/**
 * Decodes a frame body from the daemon and checks its envelope as the
 * protocol's `parseMessage` does (the same written-out check, same texts),
 * without importing `protocol/mod.ts`: its builders load the schema library,
 * about 13 MiB of RSS that a monitor (a status bar runs one process per
 * module) does not need.
 *
 * @param body A frame body.
 * @returns The message, or why it is not one.
 */
export function parseRoutedMessage(body: Uint8Array): ValidationResult<Message> {
  const decoded = decodeBody(body);
  if (!decoded.ok) return decoded;
  const value = decoded.value;
  const notObject = notObjectError(value);
  if (notObject !== null) return { ok: false, error: notObject };
  const record = value as Record<string, unknown>;
  const issue = envelopeIssue(record);
  if (issue !== null) return { ok: false, error: envelopeError(issue) };
  return { ok: true, message: copyEnvelope(record) as unknown as Message };
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
