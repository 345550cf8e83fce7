import {
  encodeFrame,
  FrameDecoder,
  FrameError,
  isValidEventType,
  type JsonObject,
  type Message,
  MessageBuilder,
  parseMessage,
  SocketNames,
  validateMessage,
  validatePayload,
} from "../protocol/mod.ts";
import { type DaemonConfig, type DaemonOptions, resolveDaemonConfig } from "./config.ts";
import { Counters } from "./_counters.ts";
import { DaemonState } from "./daemon_state.ts";
import { EventBroker } from "./event_broker.ts";
import { Logger } from "./_logger.ts";
import { answerQuery, QueryParameterError } from "./_query_handler.ts";
import {
  acquireLock,
  type DirLock,
  prepareDir,
  removeLeftoverSockets,
  waitUntilGone,
} from "./_socket_dir.ts";
import { MemoryStore, type Store } from "./store.ts";
import { SqliteStore } from "./sqlite_store.ts";
import { closeQuietly, listenUnix, writeAll } from "../transport/mod.ts";
import { VERSION } from "./_version.ts";

const READ_BUFFER_BYTES = 64 * 1024;
/** Longest wait before reading more from a publisher while a subscriber catches up. */
const PRESSURE_WAIT_MS = 10;
/** Read size while a monitor is under pressure. */
const PRESSURED_READ_BYTES = 4 * 1024;
/** Bound on flushing queued frames at shutdown. */
const DRAIN_MS = 1000;
/** At shutdown, how long publishers still sending may go on, and what counts as idle. */
const PUBLISHER_GRACE_MS = 250;
const PUBLISHER_IDLE_MS = 20;
/**
 * Deepest nesting of arrays and objects routed. Deeper messages cannot be
 * re-encoded (history, state, persistence) and crash Python monitors, whose
 * `json` module recurses; they are dropped as `too_deep`.
 */
const MAX_NESTING_DEPTH = 512;

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

type UnixListener = Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;

/**
 * The event router: `command.sock` in, `<event_type>_events.sock` and the
 * firehose `events.sock` out, `query.sock` for state, operations, history and
 * status. Start it, stop it, or `await using` it; it needs no signals, so it
 * can be embedded in another Deno program or a test.
 *
 * Permissions: `--allow-read` and `--allow-write` on the socket and state
 * dirs, `--allow-net` (Deno checks Unix sockets against net permission), and
 * `--allow-env` for the default dirs.
 *
 * @example Start a daemon on a temp dir and stop it
 * ```ts
 * import { DotfilesDaemon } from "@dotfiles/daemon/daemon";
 * import assert from "node:assert/strict";
 *
 * const socketDir = await Deno.makeTempDir();
 * const daemon = new DotfilesDaemon({ socketDir, persist: false, logLevel: "error" });
 * await daemon.start();
 * assert.ok((await Deno.stat(`${socketDir}/command.sock`)).isSocket);
 * await daemon.stop();
 * await Deno.remove(socketDir, { recursive: true });
 * ```
 */
export class DotfilesDaemon implements AsyncDisposable {
  /** The resolved configuration. */
  readonly config: DaemonConfig;
  #logger: Logger;
  #counters = new Counters();
  #state: DaemonState | null = null;
  #broker: EventBroker;
  #lock: DirLock | null = null;
  #listeners: UnixListener[] = [];
  #loops: Promise<void>[] = [];
  /** Publisher connections and when each last delivered bytes. */
  #publishers = new Map<Deno.UnixConn, number>();
  #queryClients = new Set<Deno.UnixConn>();
  #startedAt = 0;
  #phase: "new" | "starting" | "running" | "stopping" | "stopped" = "new";
  #stopping: Promise<void> | null = null;
  #finished = Promise.withResolvers<void>();
  /** Frames recorded but not yet broadcast: they go out once the store has them. */
  #pending: [string, Uint8Array][] = [];
  /** The pressure wait in progress; publishers take turns through it. */
  #gate: Promise<void> | null = null;

  /**
   * Creates the daemon; nothing is touched until {@linkcode DotfilesDaemon.start}.
   *
   * @param options The configuration; see {@linkcode DaemonOptions}.
   * @throws {RangeError} When a limit is not a positive integer.
   * @throws {TypeError} When a directory is not absolute.
   */
  constructor(options: DaemonOptions = {}) {
    this.config = resolveDaemonConfig(options);
    this.#logger = new Logger(this.config.logLevel, this.config.logFormat, this.config.logSink);
    this.#broker = new EventBroker({
      socketDir: this.config.socketDir,
      eventSocketSuffix: this.config.eventSocketSuffix,
      maxEventTypes: this.config.maxEventTypes,
      subscriberBufferSize: this.config.subscriberBufferSize,
      logger: this.#logger,
      counters: this.#counters,
    });
    // A failed start settles `finished` too; nobody need observe that.
    this.#finished.promise.catch(() => {});
  }

  /**
   * Settles once the daemon has stopped (resolves) or failed to start (rejects).
   *
   * @example
   * ```ts ignore
   * await daemon.finished;
   * ```
   */
  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  /**
   * The event broker, for embedding programs that want to inspect sockets.
   *
   * @example
   * ```ts
   * import { DotfilesDaemon } from "@dotfiles/daemon/daemon";
   * import assert from "node:assert/strict";
   *
   * const daemon = new DotfilesDaemon({ socketDir: "/tmp/x", persist: false });
   * assert.deepEqual(daemon.broker.eventTypes(), []);
   * ```
   */
  get broker(): EventBroker {
    return this.#broker;
  }

  /**
   * Prepares the socket dir (0700, ours), takes the single-instance lock,
   * removes leftover sockets, opens the state store, and listens on every
   * socket: command, query, firehose, and one per known or configured event
   * type. Resolves when all of them accept connections.
   *
   * @throws {DaemonAlreadyRunningError} When another daemon holds the lock; nothing is touched.
   * @throws {UnsafeSocketDirError} When the socket dir belongs to another user or cannot be made private.
   * @example
   * ```ts ignore
   * await daemon.start();
   * ```
   */
  async start(): Promise<void> {
    if (this.#phase !== "new") {
      throw new TypeError(
        `Cannot start daemon: expected a new daemon, received one that is ${this.#phase}`,
      );
    }
    this.#phase = "starting";
    const { socketDir, stateDir } = this.config;
    try {
      await prepareDir(socketDir, "socket directory");
      this.#lock = await acquireLock(socketDir, SocketNames.LOCK);
      const removed = await removeLeftoverSockets(socketDir, (name) => this.#isOurSocket(name));
      if (removed.length > 0) {
        this.#logger.info("removed leftover sockets", { count: removed.length });
      }
      this.#state = new DaemonState({
        store: await this.#openStore(),
        historyLimit: this.config.historyLimit,
        operationRetention: this.config.operationRetention,
        staleAfter: this.config.staleAfter,
        onStale: (message) => this.#routeStale(message),
        onWarning: (text) => this.#logger.warn(text),
      });
      this.#listen(this.config.commandSocketName, (conn) => this.#serveCommand(conn));
      this.#listen(this.config.querySocketName, (conn) => this.#serveQuery(conn));
      this.#broker.openFirehose();
      const types = new Set([
        ...this.#state.knownEventTypes().map((t) => t.event_type),
        ...this.config.eventTypes,
      ]);
      for (const type of types) {
        if (!isValidEventType(type)) {
          this.#logger.warn("ignoring invalid event type", { event_type: type });
        } else if (!this.#broker.openChannel(type)) {
          this.#logger.warn("too many event types; socket not created", { event_type: type });
        }
      }
    } catch (error) {
      await this.#shutdown(0);
      this.#phase = "stopped";
      this.#finished.reject(error);
      throw error;
    }
    this.#startedAt = Date.now();
    this.#phase = "running";
    this.#logger.info("daemon started", {
      version: VERSION,
      pid: Deno.pid,
      socket_dir: socketDir,
      state_dir: this.config.persist ? stateDir : "none",
    });
  }

  async #openStore(): Promise<Store> {
    if (!this.config.persist) return new MemoryStore();
    await prepareDir(this.config.stateDir, "state directory");
    return SqliteStore.open(`${this.config.stateDir}/state.db`, {
      onWarning: (text) => this.#logger.warn(text),
    });
  }

  #isOurSocket(name: string): boolean {
    return name === this.config.commandSocketName || name === this.config.querySocketName ||
      name === SocketNames.FIREHOSE ||
      (name.endsWith(this.config.eventSocketSuffix) &&
        isValidEventType(name.slice(0, -this.config.eventSocketSuffix.length)));
  }

  #listen(name: string, serve: (conn: Deno.UnixConn) => Promise<void>): void {
    const listener = listenUnix(`${this.config.socketDir}/${name}`);
    this.#listeners.push(listener);
    this.#loops.push((async () => {
      try {
        for await (const conn of listener) {
          this.#counters.connectionsAccepted++;
          serve(conn);
        }
      } catch (error) {
        if (this.#phase === "running") {
          this.#logger.error("listener failed", { socket: name, error: String(error) });
        }
      }
    })());
  }

  // ---- command.sock ----

  async #serveCommand(conn: Deno.UnixConn): Promise<void> {
    this.#publishers.set(conn, performance.now());
    const frames = new FrameDecoder(this.config.maxMessageSize);
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    const small = buffer.subarray(0, PRESSURED_READ_BYTES);
    const onBody = (body: Uint8Array) => this.#routeBody(body);
    try {
      for (;;) {
        // Under pressure, smaller reads: each wait then admits less.
        const n = await conn.read(this.#broker.pressured ? small : buffer);
        if (n === null) {
          frames.end();
          break;
        }
        this.#publishers.set(conn, performance.now());
        try {
          frames.push(buffer.subarray(0, n), onBody);
        } finally {
          this.#commit();
        }
        if (this.#broker.pressured) await this.#throttle();
      }
    } catch (error) {
      if (error instanceof FrameError) {
        this.#counters.bad(`frame_${error.code}`);
        this.#logger.limited("warn", `frame_${error.code}`, "closing publisher connection", {
          reason: error.message,
        });
      } else if (this.#phase === "running" && !frames.idle) {
        this.#counters.bad("frame_truncated");
        this.#logger.limited("warn", "frame_truncated", "publisher connection lost mid-frame", {
          error: String(error),
        });
      }
    } finally {
      this.#publishers.delete(conn);
      closeQuietly(conn);
    }
  }

  /**
   * While a monitor that is still reading has more than half its queue
   * limit queued, each read from a publisher is followed by a wait of at
   * most 10 ms for it to catch up. Publishers take turns through one wait at
   * a time, so ten flooding publishers are held to the same pace as one
   * instead of each reading on its own clock.
   */
  async #throttle(): Promise<void> {
    while (this.#broker.pressured) {
      if (this.#gate === null) {
        this.#gate = this.#broker.waitForRelief(PRESSURE_WAIT_MS).finally(() => {
          this.#gate = null;
        });
        await this.#gate;
        return;
      }
      await this.#gate;
    }
  }

  #reject(reason: string, message: string, fields: Record<string, unknown> = {}): void {
    this.#counters.bad(reason);
    this.#logger.limited("warn", reason, `dropped message: ${message}`, fields);
  }

  /** The hot path: validate, number, splice `seq` into the bytes, broadcast, record. */
  #routeBody(body: Uint8Array): void {
    this.#counters.messagesIn++;
    let text: string;
    try {
      text = decoder.decode(body);
    } catch {
      return this.#reject("invalid_utf8", "body is not valid UTF-8");
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return this.#reject("invalid_json", `body is not JSON: ${(error as Error).message}`);
    }
    const checked = validateMessage(value);
    if (!checked.ok) return this.#reject(checked.error.reason, checked.error.message);
    const message = checked.message;
    const eventType = message.event_type;
    if (!isValidEventType(eventType)) {
      this.#counters.rejectedEventTypes++;
      return this.#reject("invalid_event_type", "event_type is not a valid socket name", {
        event_type: eventType.slice(0, 80),
      });
    }
    if (body.byteLength > 2 * MAX_NESTING_DEPTH && nestedDeeperThan(body, MAX_NESTING_DEPTH)) {
      return this.#reject("too_deep", `nested deeper than ${MAX_NESTING_DEPTH} levels`, {
        event_type: eventType,
      });
    }
    if (this.config.strictPayloads) {
      const payload = validatePayload(message);
      if (!payload.ok) {
        this.#counters.payloadInvalid++;
        return this.#reject(payload.error.reason, payload.error.message, { event_type: eventType });
      }
    }
    if (!this.#broker.has(eventType) && !this.#openType(eventType)) return;
    const raw = value as Record<string, unknown>;
    const seq = this.#state!.lastSeq(eventType) + 1;
    message.seq = seq;
    let routed: string;
    let frame: Uint8Array;
    if (!Object.hasOwn(raw, "seq")) {
      // Splice what the daemon adds before the closing brace: every other
      // byte goes out as the sender wrote it, with no re-serialisation.
      let insert = `,"seq":${seq}`;
      if (raw.message_id === undefined) insert += `,"message_id":"${message.message_id}"`;
      if (raw.timestamp === undefined) insert += `,"timestamp":"${message.timestamp}"`;
      const length = body.byteLength + insert.length;
      if (length > this.config.maxMessageSize) {
        return this.#reject(
          "routed_oversized",
          `with the fields the daemon adds the message would be ${length} bytes, over the maximum of ${this.config.maxMessageSize}`,
          { event_type: eventType },
        );
      }
      const close = text.lastIndexOf("}");
      routed = text.slice(0, close) + insert + text.slice(close);
      let end = body.byteLength - 1;
      while (body[end] !== 0x7d) end--;
      frame = new Uint8Array(4 + length);
      new DataView(frame.buffer).setUint32(0, length);
      frame.set(body.subarray(0, end), 4);
      encoder.encodeInto(insert, frame.subarray(4 + end));
      frame.set(body.subarray(end), 4 + end + insert.length);
    } else {
      // A sender's own `seq` is replaced: re-encode (rare; no client sends one).
      try {
        routed = JSON.stringify({
          ...raw,
          message_id: message.message_id,
          timestamp: message.timestamp,
          seq,
        });
      } catch (error) {
        return this.#reject(
          "invalid_json",
          `cannot re-encode message: ${(error as Error).message}`,
        );
      }
      frame = encodeFrame(encoder.encode(routed));
      if (frame.byteLength - 4 > this.config.maxMessageSize) {
        return this.#reject(
          "routed_oversized",
          `with the fields the daemon adds the message would be ${
            frame.byteLength - 4
          } bytes, over the maximum of ${this.config.maxMessageSize}`,
          { event_type: eventType },
        );
      }
    }
    this.#deliver(eventType, message, routed, frame);
  }

  #openType(eventType: string): boolean {
    try {
      if (this.#broker.openChannel(eventType)) return true;
      this.#counters.rejectedEventTypes++;
      this.#reject("too_many_event_types", "too many event types", {
        event_type: eventType,
        max_event_types: this.config.maxEventTypes,
      });
    } catch (error) {
      this.#counters.rejectedEventTypes++;
      this.#counters.bad("cannot_create_socket");
      this.#logger.limited("error", "cannot_create_socket", "cannot create event socket", {
        event_type: eventType,
        error: String(error),
      });
    }
    return false;
  }

  #deliver(eventType: string, message: Message, routed: string, frame: Uint8Array): void {
    this.#state!.record(message, routed);
    this.#pending.push([eventType, frame]);
    const c = this.#counters;
    c.messagesRouted++;
    c.messagesInByType.set(eventType, (c.messagesInByType.get(eventType) ?? 0) + 1);
    if (this.#logger.enabled("debug")) {
      this.#logger.debug("routed", {
        event_type: eventType,
        seq: message.seq,
        type: message.payload.type,
      });
    }
  }

  /**
   * Writes what the last read recorded (one transaction for the whole read),
   * then broadcasts it. A monitor therefore never sees a `seq` the store
   * could lose in a crash, so `seq` is never handed out twice.
   */
  #commit(): void {
    const pending = this.#pending;
    if (pending.length === 0) return;
    this.#pending = [];
    this.#state?.flush();
    // Join each type's frames of this read into one buffer that all its
    // subscribers share: one copy per read, not one per subscriber.
    const byType = new Map<string, Uint8Array[]>();
    for (const [eventType, frame] of pending) {
      const list = byType.get(eventType);
      if (list === undefined) byType.set(eventType, [frame]);
      else list.push(frame);
    }
    let joined: Uint8Array | undefined;
    for (const [eventType, frames] of byType) {
      joined = frames.length === 1 ? frames[0]! : concat(frames);
      this.#count(
        eventType,
        frames.length,
        joined.byteLength,
        this.#broker.sendToType(eventType, joined),
      );
    }
    if (this.#broker.hasFirehoseSubscribers) {
      const all = byType.size === 1 ? joined! : concat(pending.map(([, frame]) => frame));
      this.#count("*", pending.length, all.byteLength, this.#broker.sendToFirehose(all));
    }
  }

  #count(eventType: string, frames: number, bytes: number, subscribers: number): void {
    if (subscribers === 0) return;
    const c = this.#counters;
    c.framesOut += frames * subscribers;
    c.bytesOut += bytes * subscribers;
    c.framesOutByType.set(
      eventType,
      (c.framesOutByType.get(eventType) ?? 0) + frames * subscribers,
    );
  }

  /** Routes the `operation_failed` the state synthesizes for a stale operation. */
  #routeStale(message: Message): void {
    if (this.#phase !== "running" || this.#state === null) return;
    const eventType = message.event_type;
    if (!this.#broker.has(eventType) && !this.#openType(eventType)) return;
    const seq = this.#state.lastSeq(eventType) + 1;
    const routedMessage = { ...message, seq };
    const routed = JSON.stringify(routedMessage);
    this.#counters.staleOperations++;
    this.#logger.warn("operation marked stale", {
      event_type: eventType,
      operation_id: String(message.payload.operation_id),
    });
    this.#deliver(eventType, routedMessage, routed, encodeFrame(encoder.encode(routed)));
    this.#commit();
  }

  // ---- query.sock ----

  async #serveQuery(conn: Deno.UnixConn): Promise<void> {
    this.#queryClients.add(conn);
    const frames = new FrameDecoder(this.config.maxMessageSize);
    const buffer = new Uint8Array(16 * 1024);
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
        this.#counters.bad(`query_frame_${error.code}`);
        this.#logger.limited("warn", `query_frame_${error.code}`, "closing query connection", {
          reason: error.message,
        });
      }
    } finally {
      this.#queryClients.delete(conn);
      closeQuietly(conn);
    }
  }

  /** Writes responses; a client that does not read within connectionTimeout is dropped. */
  async #writeBounded(conn: Deno.UnixConn, frames: Uint8Array[]): Promise<void> {
    const bytes = frames.length === 1 ? frames[0]! : concat(frames);
    const timer = setTimeout(() => {
      this.#logger.warn("dropping query client that does not read its responses");
      closeQuietly(conn);
    }, this.config.connectionTimeout);
    try {
      await writeAll(conn, bytes);
    } finally {
      clearTimeout(timer);
    }
  }

  #answer(body: Uint8Array): Uint8Array {
    this.#counters.queries++;
    const parsed = parseMessage(body);
    let queryId = "";
    let eventType = "daemon";
    let result: JsonObject = {};
    let error: string | undefined;
    if (!parsed.ok) {
      error = parsed.error.message;
      this.#counters.bad(`query_${parsed.error.reason}`);
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
          result = answerQuery(this.#queryContext(), request);
        } catch (e) {
          if (!(e instanceof QueryParameterError)) {
            this.#logger.error("query failed", { error: String(e) });
          }
          error = e instanceof Error ? e.message : String(e);
        }
      }
    }
    if (error !== undefined) {
      this.#counters.queryErrors++;
      this.#logger.limited("debug", "query_error", "query answered with an error", { error });
    }
    const response = MessageBuilder.queryResponse({
      eventType: eventType.length > 0 && eventType.length <= 256 ? eventType : "daemon",
      queryId,
      result,
      ...(error !== undefined ? { error } : {}),
    });
    return encodeFrame(response);
  }

  #queryContext(): Parameters<typeof answerQuery>[0] {
    return {
      state: this.#state!,
      eventTypeInfo: () => this.#eventTypeInfo(),
      daemonStatus: () => this.status(),
    };
  }

  #eventTypeInfo(): JsonObject[] {
    const known = new Map(this.#state!.knownEventTypes().map((t) => [t.event_type, t]));
    const names = new Set([...this.#broker.eventTypes(), ...known.keys()]);
    return [...names].sort().map((eventType) => {
      const stored = known.get(eventType);
      return {
        event_type: eventType,
        socket_path: this.#broker.socketPath(eventType),
        subscribers: this.#broker.subscriberCount(eventType),
        message_count: stored?.message_count ?? 0,
        last_seq: stored?.last_seq ?? 0,
        last_event_at: stored?.last_event_at ?? null,
      };
    });
  }

  /**
   * The `get_daemon_status` result: version, pid, uptime, dirs and counters.
   *
   * @returns The status object.
   * @example
   * ```ts ignore
   * console.log(daemon.status().counters);
   * ```
   */
  status(): JsonObject {
    return {
      version: VERSION,
      pid: Deno.pid,
      uptime_seconds: this.#startedAt === 0 ? 0 : (Date.now() - this.#startedAt) / 1000,
      socket_dir: this.config.socketDir,
      state_dir: this.config.persist ? this.config.stateDir : null,
      counters: {
        ...this.#counters.toJSON({
          publishers: this.#publishers.size,
          subscribers: this.#broker.totalSubscribers,
          queryClients: this.#queryClients.size,
        }),
        ...this.#state?.counters(),
      },
    };
  }

  // ---- lifecycle ----

  /**
   * Stops accepting, flushes queued frames (about a second at most),
   * persists state, closes and removes every socket file and the lock.
   * Idempotent; resolves when everything is closed.
   *
   * @example
   * ```ts ignore
   * await daemon.stop();
   * ```
   */
  stop(): Promise<void> {
    if (this.#stopping !== null) return this.#stopping;
    if (this.#phase === "new" || this.#phase === "stopped") {
      this.#phase = "stopped";
      this.#finished.resolve();
      return this.#stopping = Promise.resolve();
    }
    this.#phase = "stopping";
    this.#stopping = this.#shutdown(DRAIN_MS).then(() => {
      this.#phase = "stopped";
      this.#logger.info("daemon stopped");
      this.#finished.resolve();
    });
    return this.#stopping;
  }

  async #shutdown(drainMs: number): Promise<void> {
    const paths = [
      ...this.#listeners.map((l) => (l.addr as Deno.UnixAddr).path),
      ...this.#broker.socketPaths(),
    ];
    for (const listener of this.#listeners) closeQuietly(listener);
    if (drainMs > 0) await this.#letPublishersFinish();
    for (const conn of this.#publishers.keys()) closeQuietly(conn);
    await this.#broker.close(drainMs);
    for (const conn of this.#queryClients) closeQuietly(conn);
    await Promise.allSettled(this.#loops);
    this.#state?.close();
    this.#state = null;
    await waitUntilGone(paths, 1000);
    for (const path of paths) await Deno.remove(path).catch(() => {});
    this.#lock?.release();
    this.#lock = null;
  }

  /**
   * Keeps reading from publishers that are still sending (bytes within the
   * last 20 ms) for up to 250 ms, so messages already written to
   * `command.sock` when the stop began are routed rather than dropped.
   */
  async #letPublishersFinish(): Promise<void> {
    const deadline = performance.now() + PUBLISHER_GRACE_MS;
    for (;;) {
      const now = performance.now();
      if (now >= deadline) return;
      let busy = false;
      for (const last of this.#publishers.values()) if (now - last < PUBLISHER_IDLE_MS) busy = true;
      if (!busy) return;
      await new Promise((resolve) => setTimeout(resolve, PUBLISHER_IDLE_MS / 2));
    }
  }

  /** Same as {@linkcode DotfilesDaemon.stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Whether valid JSON bytes nest arrays and objects deeper than `limit` (strings skipped). */
function nestedDeeperThan(body: Uint8Array, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.byteLength; i++) {
    const b = body[i]!;
    if (inString) {
      if (b === 0x5c) i++;
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x7b || b === 0x5b) {
      if (++depth > limit) return true;
    } else if (b === 0x7d || b === 0x5d) depth--;
  }
  return false;
}

function safeParse(body: Uint8Array): Record<string, unknown> | null {
  try {
    const value = JSON.parse(decoder.decode(body));
    return typeof value === "object" && value !== null ? value : null;
  } catch {
    return null;
  }
}
