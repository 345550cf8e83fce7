import { isValidEventType, type JsonObject, type Message, SocketNames } from "../protocol/mod.ts";
import { type DaemonConfig, type DaemonOptions, resolveDaemonConfig } from "./config.ts";
import { CommandServer } from "./_command_server.ts";
import { Counters } from "./_counters.ts";
import { DaemonState } from "./_state.ts";
import { EventBroker } from "./_event_broker.ts";
import { FlowControl } from "./_flow_control.ts";
import { Logger } from "./_logger.ts";
import { PartialFrames } from "./_partial_frames.ts";
import { QueryServer } from "./_query_server.ts";
import { type Refusal, Router } from "./_router.ts";
import { acquireLock, prepareDir, removeLeftoverSockets, waitUntilGone } from "./_socket_dir.ts";
import { MemoryStore, type Store } from "./_store.ts";
import { SqliteStore } from "./_sqlite_store.ts";
import { VERSION } from "./_version.ts";

/** Bound on flushing queued frames at shutdown. */
const DRAIN_MS = 1000;

/** What a running daemon holds; gone once stopped. */
interface Running {
  state: DaemonState;
  router: Router;
  commands: CommandServer;
  queries: QueryServer;
  /** Releases everything, last acquired first. */
  resources: AsyncDisposableStack;
}

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
  #flow: FlowControl;
  #broker: EventBroker;
  #running: Running | null = null;
  #startedAt = 0;
  #phase: "new" | "starting" | "running" | "stopping" | "stopped" = "new";
  #starting: Promise<Running> | null = null;
  #stopping: Promise<void> | null = null;
  #finished = Promise.withResolvers<void>();

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
    this.#flow = new FlowControl({ queueLimit: this.config.subscriberBufferSize });
    this.#broker = new EventBroker({
      socketDir: this.config.socketDir,
      eventSocketSuffix: this.config.eventSocketSuffix,
      maxEventTypes: this.config.maxEventTypes,
      maxConnections: this.config.maxConnections,
      flow: this.#flow,
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
   * Monitors connected: to one event type's socket, or, without an event
   * type, to every event socket and the firehose.
   *
   * @param eventType The event type; omit it for all.
   * @returns The count, 0 for an event type without a socket.
   * @example
   * ```ts
   * import { DotfilesDaemon } from "@dotfiles/daemon/daemon";
   * import assert from "node:assert/strict";
   *
   * const daemon = new DotfilesDaemon({ socketDir: "/tmp/x", persist: false });
   * assert.equal(daemon.subscriberCount("wallpaper"), 0);
   * assert.equal(daemon.subscriberCount(), 0);
   * ```
   */
  subscriberCount(eventType?: string): number {
    return eventType === undefined
      ? this.#broker.totalSubscribers
      : this.#broker.subscriberCount(eventType);
  }

  /**
   * Prepares the socket dir (0700, ours), takes the single-instance lock,
   * removes leftover sockets, opens the state store, and listens on every
   * socket: command, query, firehose, and one per known or configured event
   * type. Resolves when all of them accept connections; when any step fails,
   * what the earlier ones acquired is released, last first.
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
    try {
      this.#running = await (this.#starting = this.#acquire());
    } catch (error) {
      this.#phase = "stopped";
      this.#finished.reject(error);
      throw error;
    }
    this.#startedAt = Date.now();
    this.#phase = "running";
    this.#logger.info("daemon started", {
      version: VERSION,
      pid: Deno.pid,
      socket_dir: this.config.socketDir,
      state_dir: this.config.persist ? this.config.stateDir : "none",
    });
  }

  /**
   * Acquires every resource in order, each release registered as soon as it
   * is held: on failure, `await using` releases what was acquired.
   */
  async #acquire(): Promise<Running> {
    const { socketDir, stateDir } = this.config;
    await using stack = new AsyncDisposableStack();
    const socketUid = await this.#prepareDir(socketDir, "socket directory");
    const lock = await acquireLock(socketDir, SocketNames.LOCK, socketUid);
    stack.defer(() => lock.release());
    if (this.config.persist && this.config.store === undefined) {
      // One daemon per state dir too: two writing one state.db would hand out the same seqs.
      const stateUid = await this.#prepareDir(stateDir, "state directory");
      if (!(await sameDir(stateDir, socketDir))) {
        const stateLock = await acquireLock(stateDir, SocketNames.LOCK, stateUid);
        stack.defer(() => stateLock.release());
      }
    }
    const removed = await removeLeftoverSockets(socketDir, (name) => this.#isOurSocket(name));
    if (removed.length > 0) {
      this.#logger.info("removed leftover sockets", { count: removed.length });
    }
    // Closing a listener removes its file a moment later: wait for that,
    // once every socket is closed, so a restart in this process is safe.
    // Only the paths listened on: a file already at a path that failed is not ours.
    const listening: string[] = [];
    stack.defer(async () => {
      const all = [...listening, ...this.#broker.socketPaths()];
      await waitUntilGone(all, 1000);
      for (const path of all) await Deno.remove(path).catch(() => {});
    });
    const state = stack.adopt(
      new DaemonState({
        store: this.#openStore(),
        historyLimit: this.config.historyLimit,
        historyBytes: this.config.historyBytes,
        maxStateValueSize: this.config.maxStateValueSize,
        maxStateBytes: this.config.maxStateBytes,
        operationRetention: this.config.operationRetention,
        staleAfter: this.config.staleAfter,
        onStale: (message) => this.#routeStale(message),
        onWarning: (text) => this.#logger.warn(text),
        onStoreError: (text) => this.#logger.limited("error", "store_write_failed", text),
      }),
      (s) => s.close(),
    );
    const partials = stack.use(
      new PartialFrames({
        maxBytes: this.config.maxPartialFrameBytes,
        timeout: this.config.frameTimeout,
        counters: this.#counters,
        logger: this.#logger,
      }),
    );
    const router = new Router({
      maxMessageSize: this.config.maxMessageSize,
      strictPayloads: this.config.strictPayloads,
      ledger: state,
      counters: this.#counters,
      logger: this.#logger,
      admit: (eventType) => this.#admit(eventType),
    });
    const queries = stack.use(
      new QueryServer({
        path: `${socketDir}/${this.config.querySocketName}`,
        maxMessageSize: this.config.maxMessageSize,
        connectionTimeout: this.config.connectionTimeout,
        maxConnections: this.config.maxConnections,
        maxResponseSize: this.config.maxResponseSize,
        partials,
        context: {
          state,
          maxResponseSize: this.config.maxResponseSize,
          eventTypeInfo: () => this.#eventTypeInfo(state),
          daemonStatus: () => this.status(),
        },
        counters: this.#counters,
        logger: this.#logger,
      }),
    );
    listening.push(queries.path);
    // Monitors' queues are flushed after publishers are closed, before
    // query clients are.
    stack.defer(() => this.#broker.close(DRAIN_MS));
    const commands = stack.use(
      new CommandServer({
        path: `${socketDir}/${this.config.commandSocketName}`,
        maxMessageSize: this.config.maxMessageSize,
        maxConnections: this.config.maxConnections,
        partials,
        router,
        broker: this.#broker,
        flow: this.#flow,
        counters: this.#counters,
        logger: this.#logger,
      }),
    );
    listening.push(commands.path);
    this.#broker.openFirehose();
    const types = new Set([
      ...state.knownEventTypes().map((t) => t.event_type),
      ...this.config.eventTypes,
    ]);
    for (const type of types) {
      if (!isValidEventType(type)) {
        this.#logger.warn("ignoring invalid event type", { event_type: type });
      } else if (!this.#broker.openChannel(type)) {
        this.#logger.warn("too many event types; socket not created", { event_type: type });
      }
    }
    return { state, router, commands, queries, resources: stack.move() };
  }

  /** Prepares a dir, logging what was removed from one others could write to; returns our uid. */
  async #prepareDir(dir: string, what: string): Promise<number | null> {
    const prepared = await prepareDir(dir, what);
    if (prepared.removed.length > 0) {
      this.#logger.warn(`removed files of other users from the ${what}`, {
        dir,
        names: prepared.removed.slice(0, 20).join(","),
        count: prepared.removed.length,
      });
    }
    return prepared.uid;
  }

  #openStore(): Store {
    if (this.config.store !== undefined) return this.config.store;
    if (!this.config.persist) return new MemoryStore();
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

  /** Opens a new event type's socket for the router, or says why not. */
  #admit(eventType: string): Refusal | null {
    try {
      if (this.#broker.openChannel(eventType)) return null;
      return {
        reason: "too_many_event_types",
        message: "dropped message: too many event types",
        fields: { event_type: eventType, max_event_types: this.config.maxEventTypes },
      };
    } catch (error) {
      return {
        reason: "cannot_create_socket",
        message: "cannot create event socket",
        fields: { event_type: eventType, error: String(error) },
        level: "error",
      };
    }
  }

  /** Routes the `operation_failed` the state synthesizes for a stale operation. */
  #routeStale(message: Message): void {
    const running = this.#running;
    if (this.#phase !== "running" || running === null) return;
    if (!running.router.routeStale(message)) return;
    const batch = running.router.take();
    if (batch !== null) this.#broker.publish(batch);
  }

  #eventTypeInfo(state: DaemonState): JsonObject[] {
    const known = new Map(state.knownEventTypes().map((t) => [t.event_type, t]));
    const names = new Set([...this.#broker.eventTypes(), ...known.keys()]);
    return [...names].sort().map((eventType) => {
      const stored = known.get(eventType);
      return {
        event_type: eventType,
        socket_path: this.#broker.socketPath(eventType),
        subscribers: this.#broker.subscriberCount(eventType),
        message_count: stored?.message_count ?? 0,
        last_seq: state.visibleSeq(eventType, stored?.last_seq ?? 0),
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
    const running = this.#running;
    return {
      version: VERSION,
      pid: Deno.pid,
      uptime_seconds: this.#startedAt === 0 ? 0 : (Date.now() - this.#startedAt) / 1000,
      socket_dir: this.config.socketDir,
      state_dir: this.config.persist ? this.config.stateDir : null,
      store: (running?.state.storeHealth() ?? null) as JsonObject | null,
      counters: {
        ...this.#counters.toJSON({
          publishers: running?.commands.publishers ?? 0,
          subscribers: this.#broker.totalSubscribers,
          queryClients: running?.queries.clients ?? 0,
        }),
        ...running?.state.counters(),
      },
    };
  }

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
    if (this.#phase === "starting") {
      // Stop once the start has settled; a failed start leaves nothing to stop.
      return this.#stopping = this.#starting!.then(() => this.#release(), () => {});
    }
    return this.#stopping = this.#release();
  }

  async #release(): Promise<void> {
    const running = this.#running;
    if (running === null) {
      this.#phase = "stopped";
      this.#finished.resolve();
      return;
    }
    this.#phase = "stopping";
    running.commands.stopAccepting();
    running.queries.stopAccepting();
    await running.resources.disposeAsync();
    this.#running = null;
    this.#phase = "stopped";
    this.#logger.info("daemon stopped");
    this.#finished.resolve();
  }

  /** Same as {@linkcode DotfilesDaemon.stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/** Whether two paths name the same directory (then one lock covers both). */
async function sameDir(a: string, b: string): Promise<boolean> {
  if (a === b) return true;
  try {
    const [x, y] = await Promise.all([Deno.stat(a), Deno.stat(b)]);
    return x.ino !== null && x.ino === y.ino && x.dev === y.dev;
  } catch {
    return false;
  }
}
