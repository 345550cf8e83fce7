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
import type { Logger } from "./_logger.ts";
import { answerQuery, type QueryContext, QueryParameterError } from "./_query_handler.ts";
import { concat } from "./_router.ts";
import { closeQuietly, writeAll } from "../transport/mod.ts";
import { Listener } from "./_listener.ts";

const READ_BYTES = 16 * 1024;
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
        const responses: Uint8Array[] = [];
        frames.push(buffer.subarray(0, n), (body) => responses.push(this.#answer(body)));
        if (responses.length > 0) await this.#writeBounded(conn, responses);
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
    const response = MessageBuilder.queryResponse({
      eventType: eventType.length > 0 && eventType.length <= 256 ? eventType : "daemon",
      queryId,
      result,
      ...(error !== undefined ? { error } : {}),
    });
    return encodeFrame(response);
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
