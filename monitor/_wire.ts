import {
  FrameDecoder,
  type Message,
  parseMessage,
  type ValidationResult,
} from "../protocol/mod.ts";

/** The largest frame the monitor reads (history pages can be large). */
export const MAX_RESPONSE_SIZE = 256 * 1024 * 1024;

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
        this.#parsed.push(parseMessage(body));
      });
    }
    return this.#parsed[this.#head++]!;
  }
}
