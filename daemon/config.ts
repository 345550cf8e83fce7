import { DEFAULT_MAX_MESSAGE_SIZE, defaultStateDir, SocketNames } from "../protocol/mod.ts";
import { resolveSocketDir } from "../transport/mod.ts";
import type { Store } from "./_store.ts";

/** The log levels, least severe first. @example
 * ```ts
 * import type { LogLevel } from "@dotfiles/daemon/daemon";
 * import assert from "node:assert/strict";
 *
 * const l: LogLevel = "info";
 * assert.equal(l, "info");
 * ```
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** The log line formats. @example
 * ```ts
 * import type { LogFormat } from "@dotfiles/daemon/daemon";
 * import assert from "node:assert/strict";
 *
 * const f: LogFormat = "json";
 * assert.equal(f, "json");
 * ```
 */
export type LogFormat = "text" | "json";

/**
 * Options of {@linkcode DotfilesDaemon}: the seed design's `DaemonConfig`
 * fields in camelCase (durations in milliseconds), plus the daemon's limits.
 *
 * @example
 * ```ts
 * import type { DaemonOptions } from "@dotfiles/daemon/daemon";
 * import assert from "node:assert/strict";
 *
 * const options: DaemonOptions = { socketDir: "/tmp/sockets", persist: false };
 * assert.equal(options.persist, false);
 * ```
 */
export interface DaemonOptions {
  /**
   * Where the sockets live.
   *
   * @default {"$XDG_CACHE_HOME/dotfiles/sockets, else ~/.cache/dotfiles/sockets"}
   */
  socketDir?: string;
  /**
   * Where the state database lives.
   *
   * @default {"$XDG_STATE_HOME/dotfiles/daemon, else ~/.local/state/dotfiles/daemon"}
   */
  stateDir?: string;
  /**
   * Keep state, operations and history in `<stateDir>/state.db`; when false
   * they live in memory only.
   *
   * @default {true}
   */
  persist?: boolean;
  /**
   * File name of the socket managers send to.
   *
   * @default {"command.sock"}
   */
  commandSocketName?: string;
  /**
   * File name of the query socket.
   *
   * @default {"query.sock"}
   */
  querySocketName?: string;
  /**
   * Appended to an event type to name its socket.
   *
   * @default {"_events.sock"}
   */
  eventSocketSuffix?: string;
  /**
   * The largest frame body accepted, in bytes.
   *
   * @default {1048576}
   */
  maxMessageSize?: number;
  /**
   * Milliseconds a query client may leave a response unread before it is
   * disconnected.
   *
   * @default {5000}
   */
  connectionTimeout?: number;
  /**
   * Event types created at start-up, so monitors can connect before the
   * first event.
   *
   * @default {[]}
   */
  eventTypes?: string[];
  /**
   * At most this many event types; further new types are rejected.
   *
   * @default {256}
   */
  maxEventTypes?: number;
  /**
   * Bytes queued for one subscriber before it is disconnected as stalled.
   *
   * @default {8388608}
   */
  subscriberBufferSize?: number;
  /**
   * Routed messages kept per event type for `get_event_history`.
   *
   * @default {1000}
   */
  historyLimit?: number;
  /**
   * Finished operations kept.
   *
   * @default {1000}
   */
  operationRetention?: number;
  /**
   * Milliseconds without an update after which a running operation is
   * marked failed with `error_code` `STALE`.
   *
   * @default {1800000}
   */
  staleAfter?: number;
  /**
   * Refuse messages whose payload fails its type's schema (or whose type is
   * unknown). By default only the envelope is checked, as the first
   * implementation did.
   *
   * @default {false}
   */
  strictPayloads?: boolean;
  /**
   * The least severe level logged; `debug` logs every routed message.
   *
   * @default {"info"}
   */
  logLevel?: LogLevel;
  /**
   * `text` (`LEVEL message key=value`) or `json` (one object per line).
   *
   * @default {"text"}
   */
  logFormat?: LogFormat;
  /**
   * Connections each socket keeps open at most (publishers on
   * `command.sock`, clients on `query.sock`, monitors on each event socket
   * and the firehose); the newest beyond it is closed at once and counted
   * in `connections_refused`.
   *
   * @default {256}
   */
  maxConnections?: number;
  /**
   * Bytes that half-received frames may hold together, over every
   * connection; the connection whose frame goes past it is closed and
   * counted (`bad_frames.partial_bytes_limit`).
   *
   * @default {67108864}
   */
  maxPartialFrameBytes?: number;
  /**
   * Largest query answer; a larger one is an error response saying how to
   * ask for less (`query_responses_too_large`). Never below 1 MiB, what
   * clients accept by default, so that `status` answers even when
   * `maxMessageSize` is set lower.
   *
   * @default {"maxMessageSize, at least 1048576"}
   */
  maxResponseSize?: number;
  /**
   * History bytes kept per event type (the routed messages' JSON); the
   * oldest are dropped past it, as past `historyLimit`.
   *
   * @default {8388608}
   */
  historyBytes?: number;
  /**
   * Largest state value: a `state_update` whose routed JSON (or, when that
   * is over, whose `state_value`'s JSON) is larger is dropped and counted
   * (`bad_frames.state_value_too_large`).
   *
   * @default {262144}
   */
  maxStateValueSize?: number;
  /**
   * State bytes per event type, the values measured as above: an update
   * past it is dropped and counted (`bad_frames.state_bytes_exceeded`).
   *
   * @default {4194304}
   */
  maxStateBytes?: number;
  /**
   * Milliseconds a frame may take from its first byte to its last; a
   * connection whose frame has not completed by then is closed and counted
   * (`bad_frames.frame_timeout`). No timer runs while no frame is
   * half-received.
   *
   * @default {30000}
   */
  frameTimeout?: number;
  /**
   * Receives each log line; defaults to writing it to stderr.
   */
  logSink?: (line: string) => void;
  /**
   * The store to keep state in instead of `<stateDir>/state.db` (embedding,
   * tests); the state dir is then neither created nor locked.
   */
  store?: Store;
}

/** Every option resolved to its value: {@linkcode DotfilesDaemon.config}. @example
 * ```ts
 * import { type DaemonConfig, DotfilesDaemon } from "@dotfiles/daemon/daemon";
 * import assert from "node:assert/strict";
 *
 * const config: DaemonConfig = new DotfilesDaemon({ socketDir: "/tmp/s", stateDir: "/tmp/t" }).config;
 * assert.equal(config.maxMessageSize, 1048576);
 * ```
 */
export type DaemonConfig =
  & Required<Omit<DaemonOptions, "logSink" | "store">>
  & Pick<DaemonOptions, "logSink" | "store">;

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot configure daemon: '${name}' must be a positive integer, received ${value}`,
    );
  }
  return value;
}

function socketName(name: string, value: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(value)) {
    throw new TypeError(
      `Cannot configure daemon: '${name}' must be a plain file name, received ${
        JSON.stringify(value)
      }`,
    );
  }
  return value;
}

function absolute(name: string, value: string): string {
  if (!value.startsWith("/")) {
    throw new TypeError(
      `Cannot configure daemon: '${name}' must be an absolute path, received '${value}'`,
    );
  }
  return value.length > 1 ? value.replace(/\/+$/, "") : value;
}

/**
 * Applies the defaults to {@linkcode DaemonOptions} and checks every value.
 *
 * @param options The options.
 * @returns The complete configuration.
 * @throws {RangeError} When a limit is not a positive integer.
 * @throws {TypeError} When a directory is relative or a name is not a plain file name.
 *
 * @example
 * ```ts
 * import { resolveDaemonConfig } from "./config.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => resolveDaemonConfig({ socketDir: "/s", stateDir: "/t", maxMessageSize: 0 }), RangeError);
 * ```
 */
export function resolveDaemonConfig(options: DaemonOptions = {}): DaemonConfig {
  const {
    socketDir = resolveSocketDir(),
    stateDir = defaultStateDir((name) => Deno.env.get(name)),
    persist = true,
    commandSocketName = SocketNames.COMMAND,
    querySocketName = SocketNames.QUERY,
    eventSocketSuffix = SocketNames.EVENT_SUFFIX,
    maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE,
    connectionTimeout = 5000,
    eventTypes = [],
    maxEventTypes = 256,
    maxConnections = 256,
    maxPartialFrameBytes = 64 * 1024 * 1024,
    maxResponseSize = Math.max(options.maxMessageSize ?? 0, DEFAULT_MAX_MESSAGE_SIZE),
    historyBytes = 8 * 1024 * 1024,
    maxStateValueSize = 256 * 1024,
    maxStateBytes = 4 * 1024 * 1024,
    frameTimeout = 30_000,
    subscriberBufferSize = 8 * 1024 * 1024,
    historyLimit = 1000,
    operationRetention = 1000,
    staleAfter = 30 * 60 * 1000,
    strictPayloads = false,
    logLevel = "info",
    logFormat = "text",
    logSink,
    store,
  } = options;
  if (maxMessageSize > 0xffffffff) {
    throw new RangeError(
      `Cannot configure daemon: 'maxMessageSize' must be at most 4294967295, received ${maxMessageSize}`,
    );
  }
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new TypeError(
      `Cannot configure daemon: 'logLevel' must be debug, info, warn or error, received '${logLevel}'`,
    );
  }
  if (!["text", "json"].includes(logFormat)) {
    throw new TypeError(
      `Cannot configure daemon: 'logFormat' must be text or json, received '${logFormat}'`,
    );
  }
  return {
    socketDir: absolute("socketDir", socketDir),
    stateDir: absolute("stateDir", stateDir),
    persist,
    commandSocketName: socketName("commandSocketName", commandSocketName),
    querySocketName: socketName("querySocketName", querySocketName),
    eventSocketSuffix: socketName("eventSocketSuffix", eventSocketSuffix),
    maxMessageSize: positiveInteger("maxMessageSize", maxMessageSize),
    connectionTimeout: positiveInteger("connectionTimeout", connectionTimeout),
    eventTypes: [...eventTypes],
    maxEventTypes: positiveInteger("maxEventTypes", maxEventTypes),
    maxConnections: positiveInteger("maxConnections", maxConnections),
    maxPartialFrameBytes: positiveInteger("maxPartialFrameBytes", maxPartialFrameBytes),
    maxResponseSize: positiveInteger("maxResponseSize", maxResponseSize),
    historyBytes: positiveInteger("historyBytes", historyBytes),
    maxStateValueSize: positiveInteger("maxStateValueSize", maxStateValueSize),
    maxStateBytes: positiveInteger("maxStateBytes", maxStateBytes),
    frameTimeout: positiveInteger("frameTimeout", frameTimeout),
    subscriberBufferSize: positiveInteger("subscriberBufferSize", subscriberBufferSize),
    historyLimit: positiveInteger("historyLimit", historyLimit),
    operationRetention: positiveInteger("operationRetention", operationRetention),
    staleAfter: positiveInteger("staleAfter", staleAfter),
    strictPayloads,
    logLevel,
    logFormat,
    ...(logSink ? { logSink } : {}),
    ...(store ? { store } : {}),
  };
}
