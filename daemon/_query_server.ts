/**
 * `query.sock`: one `query_response` frame per request frame, in order.
 *
 * @module
 */
import {
  encodeFrame,
  FrameDecoder,
  FrameError,
  type JsonObject,
  MessageBuilder,
  parseMessage,
} from "../protocol/mod.ts";
import type { Counters } from "./_counters.ts";
import { stringifyWithin } from "./_bounded_json.ts";
import type { PartialFrames } from "./_partial_frames.ts";
import type { Logger } from "./_logger.ts";
import {
  answerQuery,
  type QueryContext,
  QueryParameterError,
  QueryTooLargeError,
} from "./_query_handler.ts";
import { concat } from "./_router.ts";
import { closeQuietly, writeAll } from "../transport/mod.ts";
import { Listener } from "./_listener.ts";

const READ_BYTES = 16 * 1024;
/** Longest run of answers before the loop lets routing in. */
const ANSWER_SLICE_MS = 2;
const encoder = new TextEncoder();

/** How to ask for less, per query type, after an answer over the limit. */
const ASK_FOR_LESS: Record<string, string> = {
  get_current_state:
    '; ask for less: one key with parameters.state_key, or one event type instead of "*"',
  get_event_history: "; ask for less: a smaller parameters.limit, paging with parameters.after_seq",
  get_operation_status:
    '; ask for less: parameters.operation_id, parameters.status, or one event type instead of "*"',
};
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Options of {@linkcode QueryServer}. */
export interface QueryServerOptions {
  /** The socket path. */
  path: string;
  /** The largest frame body. */
  maxMessageSize: number;
  /** Milliseconds a client may leave a response unread before it is dropped. */
  connectionTimeout: number;
  /** Clients connected at most; the newest beyond is closed at once. */
  maxConnections: number;
  /** The largest answer; a larger one is an error response. */
  maxResponseSize: number;
  /** Caps half-received frames' bytes and time, with the command server's. */
  partials: PartialFrames;
  /** What queries read. */
  context: QueryContext;
  /** Counts queries and errors. */
  counters: Counters;
  /** Logs failures. */
  logger: Logger;
}

/** Listens on `query.sock` and answers every client. Disposing closes them all. */
export class QueryServer implements AsyncDisposable {
  #options: QueryServerOptions;
  #listener: Listener;
  #clients = new Set<Deno.UnixConn>();

  /** Listens at once; throws when it cannot. */
  constructor(options: QueryServerOptions) {
    this.#options = options;
    this.#listener = new Listener({ ...options, serve: (conn) => this.#serve(conn) });
  }

  /** The socket path. */
  get path(): string {
    return this.#listener.path;
  }

  /** Clients connected now. */
  get clients(): number {
    return this.#clients.size;
  }

  async #serve(conn: Deno.UnixConn): Promise<void> {
    this.#clients.add(conn);
    const frames = new FrameDecoder(this.#options.maxMessageSize);
    const buffer = new Uint8Array(READ_BYTES);
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) {
          frames.end();
          break;
        }
        // The bodies are views of `buffer`: all are answered before the next read.
        const bodies: Uint8Array[] = [];
        frames.push(buffer.subarray(0, n), (body) => bodies.push(body));
        const responses: Uint8Array[] = [];
        let slice = performance.now();
        for (const body of bodies) {
          responses.push(this.#answer(body));
          if (performance.now() - slice > ANSWER_SLICE_MS) {
            // Many answers in one read: let routing run between them.
            await new Promise((resolve) => setTimeout(resolve, 0));
            slice = performance.now();
          }
        }
        if (responses.length > 0) await this.#writeBounded(conn, responses);
        const partials = this.#options.partials;
        if (
          !partials.update(
            conn,
            frames.idle,
            frames.buffered,
            "query.sock",
            () => closeQuietly(conn),
          )
        ) {
          break;
        }
      }
    } catch (error) {
      if (error instanceof FrameError) {
        this.#options.counters.bad(`query_frame_${error.code}`);
        this.#options.logger.limited(
          "warn",
          `query_frame_${error.code}`,
          "closing query connection",
          { reason: error.message },
        );
      }
    } finally {
      this.#options.partials.forget(conn);
      this.#clients.delete(conn);
      closeQuietly(conn);
    }
  }

  /** Writes responses; a client that does not read within connectionTimeout is dropped. */
  async #writeBounded(conn: Deno.UnixConn, frames: Uint8Array[]): Promise<void> {
    const bytes = frames.length === 1 ? frames[0]! : concat(frames);
    const timer = setTimeout(() => {
      this.#options.logger.warn("dropping query client that does not read its responses");
      closeQuietly(conn);
    }, this.#options.connectionTimeout);
    try {
      await writeAll(conn, bytes);
    } finally {
      clearTimeout(timer);
    }
  }

  #answer(body: Uint8Array): Uint8Array {
    const { counters, logger } = this.#options;
    counters.queries++;
    const parsed = parseMessage(body);
    let queryId = "";
    let eventType = "daemon";
    let result: JsonObject = {};
    let error: string | undefined;
    if (!parsed.ok) {
      error = parsed.error.message;
      counters.bad(`query_${parsed.error.reason}`);
      const raw = parsed.error.reason === "invalid_envelope" ? safeParse(body) : null;
      if (typeof raw?.message_id === "string") queryId = raw.message_id;
    } else {
      const request = parsed.message;
      queryId = request.message_id;
      eventType = request.event_type;
      if (
        request.payload.type !== "query_request" || typeof request.payload.query_type !== "string"
      ) {
        error =
          `Invalid query: expected payload type 'query_request' with a string 'query_type', received type '${request.payload.type}'`;
      } else {
        try {
          result = answerQuery(this.#options.context, request);
        } catch (e) {
          if (e instanceof QueryTooLargeError) counters.queryResponsesTooLarge++;
          if (!(e instanceof QueryParameterError)) {
            logger.error("query failed", { error: String(e) });
          }
          error = e instanceof Error ? e.message : String(e);
        }
      }
    }
    if (error !== undefined) {
      counters.queryErrors++;
      logger.limited("debug", "query_error", "query answered with an error", { error });
    }
    const answerType = eventType.length > 0 && eventType.length <= 256 ? eventType : "daemon";
    const response = MessageBuilder.queryResponse({
      eventType: answerType,
      queryId,
      result,
      ...(error !== undefined ? { error } : {}),
    });
    const max = this.#options.maxResponseSize;
    // Written with a budget: an answer over the limit costs about the limit.
    const text = error !== undefined ? JSON.stringify(response) : stringifyWithin(response, max);
    const bytes = text === null ? null : encoder.encode(text);
    if (bytes !== null && bytes.byteLength <= max) return encodeFrame(bytes);
    counters.queryResponsesTooLarge++;
    counters.queryErrors++;
    const queryType = parsed.ok ? String(parsed.message.payload.query_type) : "query";
    const tooLarge =
      `Cannot answer ${queryType}: the result would be over the largest answer (max_message_size, ${max} bytes)${
        ASK_FOR_LESS[queryType] ?? ""
      }`;
    logger.limited("warn", "query_response_too_large", "query answer too large", {
      query_type: queryType,
      max_message_size: max,
    });
    return encodeFrame(MessageBuilder.queryResponse({
      eventType: answerType,
      queryId,
      result: {},
      error: tooLarge,
    }));
  }

  /** Stops accepting connections; those open go on. Idempotent. */
  stopAccepting(): void {
    this.#listener.close();
  }

  /** Stops accepting and closes every client connection. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.stopAccepting();
    for (const conn of this.#clients) closeQuietly(conn);
    await this.#listener.closed();
  }
}

function safeParse(body: Uint8Array): Record<string, unknown> | null {
  try {
    const value = JSON.parse(decoder.decode(body));
    return typeof value === "object" && value !== null ? value : null;
  } catch {
    return null;
  }
}
