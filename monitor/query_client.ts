// Each protocol file on its own, not protocol/mod.ts: its message builders
// load a schema library that a status bar module does not need.
import { DaemonUnavailableError, QueryError } from "../protocol/errors.ts";
import { encodeFrame } from "../protocol/frame.ts";
import type { Message, QueryRequestPayload } from "../protocol/message.ts";
import { SocketNames } from "../protocol/socket_paths.ts";
import {
  type CurrentStateResult,
  type DaemonStatusResult,
  type EventHistoryResult,
  type EventTypesResult,
  type JsonObject,
  type QueryResultMap,
  QueryType,
  type QueryTypeName,
} from "../protocol/types.ts";
import {
  abortable,
  closeQuietly,
  connectErrorText,
  connectUnix,
  isPermissionError,
  resolveSocketDir,
  writeAll,
} from "../transport/mod.ts";
import { MessageReader } from "./_wire.ts";

const DEFAULT_TIMEOUT = 5000;

/**
 * Options of {@linkcode QueryClient.connect}.
 *
 * @example
 * ```ts
 * import type { QueryClientOptions } from "@dotfiles/daemon/monitor";
 * import assert from "node:assert/strict";
 *
 * const o: QueryClientOptions = { socketDir: "/tmp/s", timeout: 1000 };
 * assert.equal(o.timeout, 1000);
 * ```
 */
export interface QueryClientOptions {
  /**
   * The daemon's socket directory; queries go to `<socketDir>/query.sock`.
   *
   * @default {defaultSocketDir(Deno.env.get)}
   */
  socketDir?: string;
  /** Abandons connecting when aborted. */
  signal?: AbortSignal;
  /**
   * The longest wait for the connection, in ms.
   *
   * @default {5000}
   */
  timeout?: number;
}

/**
 * Options of one query: {@linkcode query}, {@linkcode QueryClient.query} and
 * the typed helpers.
 *
 * @example
 * ```ts
 * import type { QueryOptions } from "@dotfiles/daemon/monitor";
 * import assert from "node:assert/strict";
 *
 * const o: QueryOptions = { eventType: "wallpaper", parameters: { limit: 10 } };
 * assert.equal(o.eventType, "wallpaper");
 * ```
 */
export interface QueryOptions {
  /**
   * The daemon's socket directory (ignored when `client` is given).
   *
   * @default {defaultSocketDir(Deno.env.get)}
   */
  socketDir?: string;
  /**
   * The request's `event_type`; daemon-wide queries ignore it.
   *
   * @default {"daemon"}
   */
  eventType?: string;
  /** The query's `parameters`. */
  parameters?: JsonObject;
  /** Abandons the query when aborted; it rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * The longest wait for connecting and for the answer, in ms.
   *
   * @default {5000}
   */
  timeout?: number;
  /** An open client to send the query on, instead of a new connection. */
  client?: QueryClient;
}

/** A `query_request` message, checked as `MessageBuilder.queryRequest` checks it. */
function queryRequest(
  eventType: string,
  queryType: string,
  parameters: JsonObject | undefined,
): Message<QueryRequestPayload> {
  const fail = (field: string, expected: string, value: unknown): never => {
    throw new TypeError(
      `Cannot build query_request message: '${field}' is invalid: expected ${expected}, received ${
        JSON.stringify(value ?? null)
      }`,
    );
  };
  if (typeof eventType !== "string" || eventType === "") {
    fail("eventType", "a non-empty string", eventType);
  }
  if (typeof queryType !== "string" || queryType === "") {
    fail("queryType", "a non-empty string", queryType);
  }
  if (
    parameters !== undefined &&
    (typeof parameters !== "object" || parameters === null || Array.isArray(parameters))
  ) {
    fail("parameters", "a JSON object", parameters);
  }
  return {
    message_id: crypto.randomUUID(),
    timestamp: new Date().toISOString(),
    event_type: eventType,
    payload: {
      type: "query_request",
      query_type: queryType,
      ...(parameters !== undefined ? { parameters } : {}),
    },
  };
}

function unavailable(path: string, err: unknown): DaemonUnavailableError {
  return new DaemonUnavailableError(
    `Cannot connect to daemon at '${path}': ${connectErrorText(err)}`,
    {
      cause: err,
    },
  );
}

function timeoutError(path: string, timeout: number): DaemonUnavailableError {
  return new DaemonUnavailableError(
    `Cannot query daemon at '${path}': no answer within ${timeout} ms`,
  );
}

/**
 * One connection to the daemon's `query.sock` for many queries. Queries may
 * overlap: requests are written at once and answers come back in order.
 * The client does not reconnect: after the daemon closes the connection (or
 * a query times out, which closes it), every query rejects with
 * {@linkcode DaemonUnavailableError}; connect a new client.
 *
 * Permissions: read and write on `<socketDir>/query.sock`,
 * `--allow-net=unix:<socketDir>/query.sock`, and `--allow-env=XDG_CACHE_HOME,HOME`
 * for the default socket directory.
 *
 * @example
 * ```ts ignore
 * import { QueryClient } from "@dotfiles/daemon/monitor";
 *
 * using client = await QueryClient.connect();
 * const { event_types } = await client.query("list_event_types");
 * const status = await client.query("get_daemon_status");
 * console.log(event_types.length, status.uptime_seconds);
 * ```
 */
export class QueryClient implements Disposable {
  #conn: Deno.UnixConn;
  #path: string;
  #reader: MessageReader;
  #writes: Promise<void> = Promise.resolve();
  #reads: Promise<unknown> = Promise.resolve();
  #closed = false;
  #error: Error | null = null;

  private constructor(conn: Deno.UnixConn, path: string) {
    this.#conn = conn;
    this.#path = path;
    this.#reader = new MessageReader(conn);
  }

  /**
   * Connects to `<socketDir>/query.sock`.
   *
   * @param options Socket directory, signal, timeout.
   * @returns The connected client.
   * @throws {DaemonUnavailableError} When the daemon cannot be reached in time.
   * @throws {Deno.errors.NotCapable} When a permission is missing.
   *
   * @example
   * ```ts
   * import { QueryClient } from "@dotfiles/daemon/monitor";
   * import { DaemonUnavailableError } from "@dotfiles/daemon/protocol";
   * import assert from "node:assert/strict";
   *
   * await assert.rejects(QueryClient.connect({ socketDir: "/nonexistent" }), DaemonUnavailableError);
   * ```
   */
  static async connect(options: QueryClientOptions = {}): Promise<QueryClient> {
    const { socketDir, signal, timeout = DEFAULT_TIMEOUT } = options;
    const path = `${resolveSocketDir(socketDir)}/${SocketNames.QUERY}`;
    signal?.throwIfAborted();
    const timer = AbortSignal.timeout(timeout);
    const combined = signal ? AbortSignal.any([signal, timer]) : timer;
    try {
      return new QueryClient(await connectUnix(path, combined), path);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (isPermissionError(err)) throw err;
      if (timer.aborted) throw timeoutError(path, timeout);
      throw unavailable(path, err);
    }
  }

  /**
   * Whether the client was closed (by `close`, by the daemon or by a timeout).
   *
   * @returns `true` once closed.
   *
   * @example
   * ```ts ignore
   * import { QueryClient } from "@dotfiles/daemon/monitor";
   * import assert from "node:assert/strict";
   *
   * const client = await QueryClient.connect();
   * client.close();
   * assert.ok(client.closed);
   * ```
   */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends one query and waits for its answer.
   *
   * @typeParam K The query type.
   * @param queryType The query type, e.g. `"get_event_history"`.
   * @param options Event type, parameters, signal, timeout.
   * @returns The query's `result`.
   * @throws {QueryError} When the daemon answers with an `error`.
   * @throws {DaemonUnavailableError} When the connection is gone or the answer is late.
   *
   * @example
   * ```ts ignore
   * import { QueryClient } from "@dotfiles/daemon/monitor";
   *
   * using client = await QueryClient.connect();
   * const history = await client.query("get_event_history", {
   *   eventType: "wallpaper",
   *   parameters: { limit: 10 },
   * });
   * console.log(history.events.length);
   * ```
   */
  query<K extends QueryTypeName>(queryType: K, options?: QueryOptions): Promise<QueryResultMap[K]>;
  /**
   * Sends a query of a type this version does not know.
   *
   * @param queryType The query type.
   * @param options Event type, parameters, signal, timeout.
   * @returns The query's `result`.
   */
  query(queryType: string, options?: QueryOptions): Promise<JsonObject>;
  async query(queryType: string, options: QueryOptions = {}): Promise<JsonObject> {
    const { eventType = "daemon", parameters, signal, timeout = DEFAULT_TIMEOUT } = options;
    signal?.throwIfAborted();
    if (this.#closed) {
      throw this.#error ?? new DaemonUnavailableError("Cannot query daemon: the client is closed");
    }
    const request = queryRequest(eventType, queryType, parameters);
    const frame = encodeFrame(request);
    const timer = AbortSignal.timeout(timeout);
    const combined = signal ? AbortSignal.any([signal, timer]) : timer;
    const write = this.#writes.then(() => writeAll(this.#conn, frame));
    this.#writes = write.catch(() => {});
    const answer = this.#reads.then(async () => {
      await write;
      for (;;) {
        const parsed = await this.#reader.read();
        if (parsed === null) throw new Error("connection closed by the daemon");
        if (!parsed.ok) continue;
        const payload = parsed.message.payload;
        if (payload.type !== "query_response") continue;
        // The daemon answers in order; a stale answer (to a request that
        // timed out) cannot arrive, as a timeout closes the client.
        if (payload.query_id !== request.message_id && payload.query_id !== "") continue;
        return payload;
      }
    });
    this.#reads = answer.catch(() => {});
    let payload: JsonObject;
    try {
      payload = await abortable(answer, combined);
    } catch (err) {
      if (signal?.aborted) {
        this.#fail(new DaemonUnavailableError("Cannot query daemon: an earlier query was aborted"));
        throw signal.reason;
      }
      if (err instanceof DaemonUnavailableError) throw err;
      const error = timer.aborted ? timeoutError(this.#path, timeout) : new DaemonUnavailableError(
        `Cannot query daemon at '${this.#path}': ${err instanceof Error ? err.message : err}`,
        { cause: err },
      );
      this.#fail(error);
      throw error;
    }
    if (typeof payload.error === "string" && payload.error !== "") {
      throw new QueryError(payload.error, queryType);
    }
    const result = payload.result;
    if (typeof result !== "object" || result === null || Array.isArray(result)) {
      throw new QueryError("Invalid query response: field 'result' is not an object", queryType);
    }
    return result as JsonObject;
  }

  #fail(error: Error): void {
    this.#error ??= error;
    this.close();
  }

  /**
   * Closes the connection; pending queries reject. Idempotent.
   *
   * @example
   * ```ts ignore
   * import { QueryClient } from "@dotfiles/daemon/monitor";
   *
   * const client = await QueryClient.connect();
   * client.close();
   * client.close();
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.#conn);
  }

  /**
   * Same as {@linkcode QueryClient.close}, for `using`.
   *
   * @example
   * ```ts ignore
   * import { QueryClient } from "@dotfiles/daemon/monitor";
   *
   * using client = await QueryClient.connect();
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Sends one query on a new connection (or on `options.client`) and returns
 * its result.
 *
 * Permissions: read and write on `<socketDir>/query.sock`,
 * `--allow-net=unix:<socketDir>/query.sock`, and `--allow-env=XDG_CACHE_HOME,HOME`
 * for the default socket directory.
 *
 * @typeParam K The query type.
 * @param queryType The query type, e.g. `"list_event_types"`.
 * @param options Socket directory, event type, parameters, signal, timeout.
 * @returns The query's `result`, typed by query type.
 * @throws {QueryError} Carrying the daemon's `error` text.
 * @throws {DaemonUnavailableError} When the daemon cannot be reached or does not answer in time.
 *
 * @example
 * ```ts
 * import { query } from "@dotfiles/daemon/monitor";
 * import { DaemonUnavailableError } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * await assert.rejects(
 *   query("list_event_types", { socketDir: "/nonexistent" }),
 *   DaemonUnavailableError,
 * );
 * ```
 */
export function query<K extends QueryTypeName>(
  queryType: K,
  options?: QueryOptions,
): Promise<QueryResultMap[K]>;
/**
 * Sends a query of a type this version does not know.
 *
 * @param queryType The query type.
 * @param options Socket directory, event type, parameters, signal, timeout.
 * @returns The query's `result`.
 */
export function query(queryType: string, options?: QueryOptions): Promise<JsonObject>;
export async function query(queryType: string, options: QueryOptions = {}): Promise<JsonObject> {
  const { client, socketDir, signal, timeout } = options;
  if (client !== undefined) return await client.query(queryType, options);
  using own = await QueryClient.connect({
    ...(socketDir !== undefined ? { socketDir } : {}),
    ...(signal !== undefined ? { signal } : {}),
    ...(timeout !== undefined ? { timeout } : {}),
  });
  return await own.query(queryType, options);
}

/**
 * Options of {@linkcode getCurrentState}.
 *
 * @example
 * ```ts
 * import type { CurrentStateOptions } from "@dotfiles/daemon/monitor";
 * import assert from "node:assert/strict";
 *
 * const o: CurrentStateOptions = { stateKey: "current" };
 * assert.equal(o.stateKey, "current");
 * ```
 */
export interface CurrentStateOptions extends Omit<QueryOptions, "eventType"> {
  /** Only this key. */
  stateKey?: string;
}

/**
 * Options of {@linkcode getOperationStatus}.
 *
 * @example
 * ```ts
 * import type { OperationStatusOptions } from "@dotfiles/daemon/monitor";
 * import assert from "node:assert/strict";
 *
 * const o: OperationStatusOptions = { status: "running" };
 * assert.equal(o.status, "running");
 * ```
 */
export interface OperationStatusOptions extends Omit<QueryOptions, "eventType"> {
  /** Only this operation (zero or one entry). */
  operationId?: string;
  /** Only operations with this status. */
  status?: "running" | "completed" | "failed";
}

/**
 * Options of {@linkcode getEventHistory}.
 *
 * @example
 * ```ts
 * import type { EventHistoryOptions } from "@dotfiles/daemon/monitor";
 * import assert from "node:assert/strict";
 *
 * const o: EventHistoryOptions = { afterSeq: 41, limit: 100 };
 * assert.equal(o.afterSeq, 41);
 * ```
 */
export interface EventHistoryOptions extends Omit<QueryOptions, "eventType"> {
  /**
   * The most events returned.
   *
   * @default {50}
   */
  limit?: number;
  /** Return the first `limit` events whose `seq` is greater (else the last `limit`). */
  afterSeq?: number;
}

function withParameters(
  eventType: string,
  options: QueryOptions,
  extra: Record<string, unknown>,
): QueryOptions {
  const parameters: JsonObject = { ...options.parameters };
  for (const [key, value] of Object.entries(extra)) {
    if (value !== undefined) parameters[key] = value;
  }
  return { ...options, eventType, parameters };
}

/**
 * Asks for an event type's current state (`get_current_state`); event type
 * `"*"` returns every type's state.
 *
 * @param eventType The event type, or `"*"`.
 * @param options `stateKey`, and the {@linkcode QueryOptions}.
 * @returns `{ state }`: KEY → VALUE (`{}` when unknown).
 * @throws {QueryError} When the daemon answers with an `error`.
 * @throws {DaemonUnavailableError} When the daemon cannot be reached.
 *
 * @example
 * ```ts ignore
 * import { getCurrentState } from "@dotfiles/daemon/monitor";
 *
 * const { state } = await getCurrentState("theme", { stateKey: "current" });
 * console.log(state.current);
 * ```
 */
export function getCurrentState(
  eventType: string,
  options: CurrentStateOptions = {},
): Promise<CurrentStateResult> {
  const { stateKey, ...rest } = options;
  return query(
    QueryType.GET_CURRENT_STATE,
    withParameters(eventType, rest, { state_key: stateKey }),
  );
}

/**
 * Asks for operations of an event type (`get_operation_status`), newest first.
 *
 * @param eventType The event type.
 * @param options `operationId`, `status`, and the {@linkcode QueryOptions}.
 * @returns `{ operations }`.
 * @throws {QueryError} When the daemon answers with an `error`.
 * @throws {DaemonUnavailableError} When the daemon cannot be reached.
 *
 * @example
 * ```ts ignore
 * import { getOperationStatus } from "@dotfiles/daemon/monitor";
 *
 * const { operations } = await getOperationStatus("wallpaper", { status: "running" });
 * for (const op of operations) console.log(op.operation_name, op.overall_progress);
 * ```
 */
export function getOperationStatus(
  eventType: string,
  options: OperationStatusOptions = {},
): Promise<QueryResultMap["get_operation_status"]> {
  const { operationId, status, ...rest } = options;
  return query(
    QueryType.GET_OPERATION_STATUS,
    withParameters(eventType, rest, { operation_id: operationId, status }),
  );
}

/**
 * Lists the event types the daemon knows (`list_event_types`).
 *
 * @param options The {@linkcode QueryOptions}.
 * @returns `{ event_types }`, each with socket path, subscribers and `last_seq`.
 * @throws {QueryError} When the daemon answers with an `error`.
 * @throws {DaemonUnavailableError} When the daemon cannot be reached.
 *
 * @example
 * ```ts ignore
 * import { listEventTypes } from "@dotfiles/daemon/monitor";
 *
 * const { event_types } = await listEventTypes();
 * console.log(event_types.map((t) => t.event_type));
 * ```
 */
export function listEventTypes(options: QueryOptions = {}): Promise<EventTypesResult> {
  return query(QueryType.LIST_EVENT_TYPES, options);
}

/**
 * Asks for routed messages of an event type (`get_event_history`), oldest
 * first: the last `limit`, or the first `limit` after `afterSeq`.
 *
 * @param eventType The event type.
 * @param options `limit`, `afterSeq`, and the {@linkcode QueryOptions}.
 * @returns `{ events, truncated, oldest_seq, last_seq }`.
 * @throws {QueryError} When the daemon answers with an `error`.
 * @throws {DaemonUnavailableError} When the daemon cannot be reached.
 *
 * @example
 * ```ts ignore
 * import { getEventHistory } from "@dotfiles/daemon/monitor";
 *
 * const { events, last_seq } = await getEventHistory("wallpaper", { afterSeq: 41 });
 * console.log(events.length, last_seq);
 * ```
 */
export function getEventHistory(
  eventType: string,
  options: EventHistoryOptions = {},
): Promise<EventHistoryResult> {
  const { limit, afterSeq, ...rest } = options;
  return query(
    QueryType.GET_EVENT_HISTORY,
    withParameters(eventType, rest, { limit, after_seq: afterSeq }),
  );
}

/**
 * Asks for the daemon's version, uptime, directories and counters
 * (`get_daemon_status`).
 *
 * @param options The {@linkcode QueryOptions}.
 * @returns The status.
 * @throws {QueryError} When the daemon answers with an `error`.
 * @throws {DaemonUnavailableError} When the daemon cannot be reached.
 *
 * @example
 * ```ts ignore
 * import { getDaemonStatus } from "@dotfiles/daemon/monitor";
 *
 * const status = await getDaemonStatus();
 * console.log(status.version, status.uptime_seconds);
 * ```
 */
export function getDaemonStatus(options: QueryOptions = {}): Promise<DaemonStatusResult> {
  return query(QueryType.GET_DAEMON_STATUS, options);
}
