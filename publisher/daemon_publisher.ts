import {
  DEFAULT_MAX_MESSAGE_SIZE,
  encodeFrame,
  FRAME_HEADER_SIZE,
  isIsoTimestamp,
  isValidEventType,
  type Message,
  SocketNames,
  validateMessage,
} from "../protocol/mod.ts";
import { connectErrorText, resolveSocketDir, writeAll } from "../transport/mod.ts";

/** The default {@linkcode PublisherOptions.connectionTimeout}, in ms. */
const DEFAULT_CONNECTION_TIMEOUT = 5000;
/** The default {@linkcode PublisherOptions.retryInterval}, in ms. */
const DEFAULT_RETRY_INTERVAL = 1000;

/**
 * Options of {@linkcode DaemonPublisher}. They match the daemon's own
 * settings: same default socket directory, same size limit.
 *
 * @example
 * ```ts
 * import type { PublisherOptions } from "@dotfiles/daemon/publisher";
 * import assert from "node:assert/strict";
 *
 * const options: PublisherOptions = { socketDir: "/tmp/sockets", connectionTimeout: 2000 };
 * assert.equal(options.connectionTimeout, 2000);
 * ```
 */
export interface PublisherOptions {
  /**
   * The daemon's socket directory; the publisher writes to
   * `<socketDir>/command.sock`.
   *
   * @default {defaultSocketDir(Deno.env.get)} (`$XDG_CACHE_HOME/dotfiles/sockets`, else `~/.cache/dotfiles/sockets`)
   */
  socketDir?: string;
  /**
   * The longest a call to `publish`, `connect` or `close` holds its caller,
   * in ms: connecting and writing (a daemon that stopped reading blocks the
   * write) must finish within it, counted from the call.
   *
   * @default {5000}
   */
  connectionTimeout?: number;
  /**
   * How long, in ms, `publish` returns `false` at once after the daemon was
   * found unreachable, without trying to connect. The first `publish` after
   * it tries again.
   *
   * @default {1000}
   */
  retryInterval?: number;
  /**
   * The largest frame body sent, in bytes; bigger messages are refused
   * (the daemon would drop them). Match the daemon's `--max-message-size`.
   *
   * @default {1048576}
   */
  maxMessageSize?: number;
  /**
   * Closes the publisher when aborted, without flushing: pending and later
   * `publish` calls return `false`.
   */
  signal?: AbortSignal;
  /**
   * Receives each warning: one per outage (daemon absent, gone, not
   * reading), one per refused message (naming the invalid field) and one
   * for the first `publish` after `close`. Pass `() => {}` to silence.
   *
   * @default {console.warn}
   */
  onWarning?: (text: string) => void;
}

/** One queued `publish` (or `connect`) call. */
interface Job {
  /** The frame, or `null` for a bare connection attempt. */
  frame: Uint8Array | null;
  /** When the caller stops waiting (`performance.now()` time). */
  deadline: number;
  /** Settles the caller's promise. */
  resolve: (ok: boolean) => void;
  /** Whether the caller has been answered. */
  done: boolean;
  /** Set by `connect()`: try now even inside the retry interval. */
  force: boolean;
}

function defaultWarning(text: string): void {
  // deno-lint-ignore no-console
  console.warn(text);
}

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(
      `Cannot create publisher: '${name}' must be a positive number, received ${value}`,
    );
  }
  return value;
}

/** The fast envelope check: true when the message needs no defaults or copy. */
function isCompleteEnvelope(m: Record<string, unknown>): boolean {
  const payload = m.payload;
  return typeof m.message_id === "string" && m.message_id !== "" &&
    typeof m.timestamp === "string" && isIsoTimestamp(m.timestamp) &&
    typeof m.event_type === "string" && m.event_type !== "" &&
    typeof payload === "object" && payload !== null && !Array.isArray(payload) &&
    typeof (payload as Record<string, unknown>).type === "string" &&
    (payload as Record<string, unknown>).type !== "" &&
    (m.seq === undefined || (Number.isInteger(m.seq) && (m.seq as number) >= 1));
}

/**
 * Publishes messages to the daemon's `command.sock`, fire-and-forget.
 *
 * - `publish` never throws for anything the daemon or the OS does (daemon
 *   absent, connection refused or broken, daemon not reading, a missing
 *   permission): it resolves `false` and warns once per outage.
 * - No call holds its caller longer than `connectionTimeout`. While the
 *   daemon is down, `publish` returns `false` at once for `retryInterval`
 *   ms instead of trying to connect on every call; the first call after
 *   that reconnects.
 * - Messages leave in the order `publish` was called. A message whose write
 *   finds the connection broken (daemon restarted) is retried once on a new
 *   connection.
 * - Each message is validated (envelope only, as the daemon does): a missing
 *   `message_id` or `timestamp` is filled in; an invalid message, an
 *   `event_type` that cannot name a socket or a message larger than
 *   `maxMessageSize` is refused with `false` and a warning naming the field.
 * - When connected, a message costs one encode and one write.
 *
 * Permissions: `--allow-read` and `--allow-write` on `<socketDir>/command.sock`
 * (or the socket directory), `--allow-net=unix:<socketDir>/command.sock`
 * (Deno checks net permission for Unix sockets, by exact path) and, when
 * `socketDir` is not given, `--allow-env=XDG_CACHE_HOME,HOME`. A missing
 * permission is reported as a warning, and `publish` returns `false`.
 *
 * @example Publish progress from a manager
 * ```ts ignore
 * import { DaemonPublisher } from "@dotfiles/daemon/publisher";
 * import { MessageBuilder } from "@dotfiles/daemon/protocol";
 *
 * await using publisher = new DaemonPublisher();
 * await publisher.publish(MessageBuilder.operationProgress({
 *   eventType: "wallpaper",
 *   operationId: "uuid-1234",
 *   stepId: "generate_effects",
 *   stepProgress: 50,
 *   overallProgress: 50,
 * }));
 * ```
 *
 * @example No daemon: `false`, at once, no exception
 * ```ts
 * import { DaemonPublisher } from "@dotfiles/daemon/publisher";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const warnings: string[] = [];
 * await using publisher = new DaemonPublisher({ socketDir: dir, onWarning: (t) => warnings.push(t) });
 * const message = { event_type: "backup", payload: { type: "custom" } };
 * assert.equal(await publisher.publish(message), false);
 * assert.equal(await publisher.publish(message), false);
 * assert.equal(warnings.length, 1);
 * await Deno.remove(dir);
 * ```
 */
export class DaemonPublisher implements AsyncDisposable {
  #path: string;
  #timeout: number;
  #retryInterval: number;
  #maxSize: number;
  #warn: (text: string) => void;
  #signal: AbortSignal | undefined;
  #onAbort: (() => void) | null = null;

  #conn: Deno.UnixConn | null = null;
  #readers = new Set<Promise<void>>();
  #queue: Job[] = [];
  #head = 0;
  #pumping = false;
  #pumpDone: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  /** The job being sent and the resource to close to interrupt it. */
  #current: Job | null = null;
  #cancelConnect: (() => void) | null = null;

  #downUntil = 0;
  #inOutage = false;
  #closed = false;
  #closing: Promise<void> | null = null;
  #warnedClosed = false;

  /**
   * Creates a publisher. It connects on the first `publish` (or `connect`).
   *
   * @param options Socket directory, timeouts, size limit, signal, warning sink.
   * @throws {TypeError} When `socketDir` is not given and neither
   * `$XDG_CACHE_HOME` nor `$HOME` is an absolute path.
   * @throws {RangeError} When a duration or the size limit is not positive.
   */
  constructor(options: PublisherOptions = {}) {
    const {
      socketDir,
      connectionTimeout = DEFAULT_CONNECTION_TIMEOUT,
      retryInterval = DEFAULT_RETRY_INTERVAL,
      maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE,
      signal,
      onWarning = defaultWarning,
    } = options;
    this.#path = `${resolveSocketDir(socketDir)}/${SocketNames.COMMAND}`;
    this.#timeout = positive("connectionTimeout", connectionTimeout);
    this.#retryInterval = positive("retryInterval", retryInterval);
    this.#maxSize = positive("maxMessageSize", maxMessageSize);
    this.#warn = onWarning;
    this.#signal = signal;
    if (signal?.aborted) {
      this.#closed = true;
    } else if (signal) {
      this.#onAbort = () => this.#abort();
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  /**
   * Whether a connection to the daemon is open now. A daemon that went away
   * is noticed a moment after it closes the connection.
   *
   * @returns `true` while connected.
   *
   * @example
   * ```ts
   * import { DaemonPublisher } from "@dotfiles/daemon/publisher";
   * import assert from "node:assert/strict";
   *
   * await using publisher = new DaemonPublisher({ socketDir: "/nonexistent" });
   * assert.equal(publisher.connected, false);
   * ```
   */
  get connected(): boolean {
    return this.#conn !== null;
  }

  /**
   * Connects now (publishing connects by itself; this is for a manager that
   * wants to know early). It tries even inside the retry interval.
   *
   * @param timeout The longest wait, in ms.
   * @returns `true` when connected, `false` when the daemon cannot be reached.
   *
   * @example
   * ```ts
   * import { DaemonPublisher } from "@dotfiles/daemon/publisher";
   * import assert from "node:assert/strict";
   *
   * await using publisher = new DaemonPublisher({ socketDir: "/nonexistent", onWarning: () => {} });
   * assert.equal(await publisher.connect(100), false);
   * ```
   */
  connect(timeout: number = this.#timeout): Promise<boolean> {
    if (this.#closed || this.#closing) return Promise.resolve(false);
    if (this.#conn !== null && this.#pending() === 0) return Promise.resolve(true);
    return this.#enqueue(null, Math.min(timeout, this.#timeout), true);
  }

  /**
   * Sends one message. Never throws for daemon or OS trouble: resolves
   * `false` when the message was not sent (see the class notes), `true`
   * when it was handed to the OS.
   *
   * @param message A message (from `MessageBuilder`) or a plain object with
   * the wire fields; `message_id` and `timestamp` are filled in when missing.
   * @returns Whether the message was sent.
   *
   * @example Refuse an invalid message
   * ```ts
   * import { DaemonPublisher } from "@dotfiles/daemon/publisher";
   * import assert from "node:assert/strict";
   *
   * const warnings: string[] = [];
   * await using publisher = new DaemonPublisher({ socketDir: "/nonexistent", onWarning: (t) => warnings.push(t) });
   * assert.equal(await publisher.publish({ payload: { type: "x" } }), false);
   * assert.match(warnings[0]!, /event_type/);
   * ```
   */
  publish(message: Message | object): Promise<boolean> {
    if (this.#closed || this.#closing) {
      if (!this.#warnedClosed) {
        this.#warnedClosed = true;
        this.#warn("Cannot publish message: the publisher is closed");
      }
      return Promise.resolve(false);
    }
    const frame = this.#encode(message);
    if (frame === null) return Promise.resolve(false);
    // Fail fast while the daemon is known to be down.
    if (this.#conn === null && this.#pending() === 0 && performance.now() < this.#downUntil) {
      return Promise.resolve(false);
    }
    return this.#enqueue(frame, this.#timeout, false);
  }

  /**
   * Sends what is queued (each message still bounded by its own
   * `connectionTimeout`), then closes the connection. Idempotent; later
   * `publish` calls return `false`.
   *
   * @returns When everything is closed.
   *
   * @example
   * ```ts
   * import { DaemonPublisher } from "@dotfiles/daemon/publisher";
   * import assert from "node:assert/strict";
   *
   * const publisher = new DaemonPublisher({ socketDir: "/nonexistent", onWarning: () => {} });
   * await publisher.close();
   * await publisher.close();
   * assert.equal(publisher.connected, false);
   * ```
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#pumpDone;
      this.#shutdown();
      await Promise.all(this.#readers);
    })();
    return this.#closing;
  }

  /**
   * Same as {@linkcode DaemonPublisher.close}, for `await using`.
   *
   * @returns When everything is closed.
   *
   * @example
   * ```ts
   * import { DaemonPublisher } from "@dotfiles/daemon/publisher";
   * import assert from "node:assert/strict";
   *
   * {
   *   await using publisher = new DaemonPublisher({ socketDir: "/nonexistent" });
   *   assert.equal(publisher.connected, false);
   * }
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #encode(message: Message | object): Uint8Array | null {
    if (typeof message !== "object" || message === null) {
      this.#warn(`Cannot publish message: expected an object, received ${message}`);
      return null;
    }
    let m = message as Record<string, unknown>;
    if (!isCompleteEnvelope(m)) {
      const checked = validateMessage(message);
      if (!checked.ok) {
        this.#warn(`Cannot publish message: ${checked.error.message}`);
        return null;
      }
      m = checked.message;
    }
    if (!isValidEventType(m.event_type as string)) {
      this.#warn(
        `Cannot publish message: field 'event_type' must be 1 to 64 letters, digits, '_', '.' or '-', received ${
          JSON.stringify(String(m.event_type).slice(0, 80))
        }`,
      );
      return null;
    }
    let frame: Uint8Array;
    try {
      frame = encodeFrame(m);
    } catch (err) {
      this.#warn(`Cannot publish message: ${connectErrorText(err)}`);
      return null;
    }
    const size = frame.byteLength - FRAME_HEADER_SIZE;
    if (size > this.#maxSize) {
      this.#warn(
        `Cannot publish message: body of ${size} bytes exceeds maxMessageSize of ${this.#maxSize} bytes`,
      );
      return null;
    }
    return frame;
  }

  #pending(): number {
    return this.#queue.length - this.#head;
  }

  #enqueue(frame: Uint8Array | null, timeout: number, force: boolean): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const job: Job = {
        frame,
        deadline: performance.now() + timeout,
        resolve,
        done: false,
        force,
      };
      this.#queue.push(job);
      this.#arm(job.deadline);
      if (!this.#pumping) {
        this.#pumping = true;
        this.#pumpDone = this.#pump();
      }
    });
  }

  #finish(job: Job, ok: boolean): void {
    if (job.done) return;
    job.done = true;
    job.resolve(ok);
  }

  async #pump(): Promise<void> {
    try {
      while (this.#head < this.#queue.length) {
        const job = this.#queue[this.#head]!;
        this.#queue[this.#head++] = undefined as unknown as Job;
        if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
          this.#queue = this.#queue.slice(this.#head);
          this.#head = 0;
        }
        if (job.done) continue;
        if (this.#closed) {
          this.#finish(job, false);
          continue;
        }
        this.#current = job;
        this.#finish(job, await this.#send(job));
        this.#current = null;
      }
    } finally {
      this.#current = null;
      this.#pumping = false;
      this.#queue = [];
      this.#head = 0;
      this.#disarm();
    }
  }

  /** Sends one job: connect if needed, write, retry once on a broken connection. */
  async #send(job: Job): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      let conn = this.#conn;
      if (conn === null) {
        if (!job.force && performance.now() < this.#downUntil) return false;
        conn = await this.#open(job);
        if (conn === null) return false;
      }
      if (job.frame === null) return true;
      try {
        await writeAll(conn, job.frame);
        return true;
      } catch (err) {
        this.#drop(conn);
        if (this.#closed) return false;
        if (job.done) {
          // The watchdog closed the connection under a blocked write.
          this.#outage(`the daemon did not read within ${this.#timeout} ms`);
          return false;
        }
        // Broken (daemon restarted): retry once on a new connection.
        if (attempt === 1) this.#outage(connectErrorText(err));
      }
    }
    return false;
  }

  async #open(job: Job): Promise<Deno.UnixConn | null> {
    let conn: Deno.UnixConn;
    try {
      conn = await new Promise<Deno.UnixConn>((resolve, reject) => {
        this.#cancelConnect = () => reject(new Deno.errors.TimedOut("connect timed out"));
        Deno.connect({ transport: "unix", path: this.#path }).then((c) => {
          if (job.done || this.#closed) {
            c.close();
            reject(new Deno.errors.TimedOut("connect timed out"));
          } else {
            resolve(c);
          }
        }, reject);
      });
    } catch (err) {
      this.#outage(connectErrorText(err));
      return null;
    } finally {
      this.#cancelConnect = null;
    }
    this.#conn = conn;
    this.#inOutage = false;
    this.#downUntil = 0;
    const reader = this.#watch(conn);
    this.#readers.add(reader);
    reader.finally(() => this.#readers.delete(reader));
    return conn;
  }

  /** Reads (and ignores) until the daemon closes the connection, then drops it. */
  async #watch(conn: Deno.UnixConn): Promise<void> {
    const buffer = new Uint8Array(256);
    try {
      while (await conn.read(buffer) !== null) {
        // The daemon never writes to publishers; ignore anything it sends.
      }
    } catch {
      // Reset or closed by us: either way the connection is gone.
    }
    this.#drop(conn);
  }

  #drop(conn: Deno.UnixConn): void {
    if (this.#conn === conn) this.#conn = null;
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }

  #outage(reason: string): void {
    this.#downUntil = performance.now() + this.#retryInterval;
    if (this.#inOutage) return;
    this.#inOutage = true;
    this.#warn(
      `Cannot publish to the dotfiles daemon at '${this.#path}': ${reason}; ` +
        `messages are dropped while it is unavailable (retrying every ${this.#retryInterval} ms)`,
    );
  }

  // The watchdog: one timer for the earliest deadline, not one per message.
  #arm(at: number): void {
    if (at >= this.#timerAt) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, at - performance.now()) + 1);
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #expire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = performance.now();
    const current = this.#current;
    if (current !== null && !current.done && current.deadline <= now) {
      this.#finish(current, false);
      this.#cancelConnect?.();
      // A blocked write cannot be cancelled; closing the connection ends it.
      if (this.#conn !== null) this.#drop(this.#conn);
    }
    let next = current !== null && !current.done ? current.deadline : Infinity;
    for (let i = this.#head; i < this.#queue.length; i++) {
      const job = this.#queue[i]!;
      if (job.done) continue;
      if (job.deadline > now) {
        next = Math.min(next, job.deadline);
        break;
      }
      this.#finish(job, false);
    }
    if (next !== Infinity) this.#arm(next);
  }

  #abort(): void {
    this.#closed = true;
    this.#current && this.#finish(this.#current, false);
    this.#cancelConnect?.();
    for (let i = this.#head; i < this.#queue.length; i++) this.#finish(this.#queue[i]!, false);
    if (this.#conn !== null) this.#drop(this.#conn);
    this.#disarm();
  }

  #shutdown(): void {
    this.#closed = true;
    if (this.#onAbort !== null) this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#onAbort = null;
    if (this.#conn !== null) this.#drop(this.#conn);
    this.#disarm();
  }
}
