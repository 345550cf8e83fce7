// Each protocol file on its own (see query_client.ts).
import { DaemonUnavailableError } from "../protocol/errors.ts";
import type { Message } from "../protocol/message.ts";
import { eventSocketPath, isValidEventType, SocketNames } from "../protocol/socket_paths.ts";
import { type EventTypeInfo, QueryType } from "../protocol/types.ts";
import { QueryClient } from "./query_client.ts";
import {
  closeQuietly,
  connectUnix,
  isPermissionError,
  resolveSocketDir,
  sleep,
} from "../transport/mod.ts";
import { DirWatcher } from "./_dir_watcher.ts";
import { MessageReader } from "./_wire.ts";

const DEFAULT_RECONNECT_DELAY = 100;
const MAX_RECONNECT_DELAY = 2000;
const HISTORY_PAGE = 1000;

/**
 * Options of {@linkcode subscribe}.
 *
 * @example
 * ```ts
 * import type { SubscribeOptions } from "@dotfiles/daemon/monitor";
 * import assert from "node:assert/strict";
 *
 * const o: SubscribeOptions = { since: 41, reconnectDelay: 250 };
 * assert.equal(o.since, 41);
 * ```
 */
export interface SubscribeOptions {
  /**
   * The daemon's socket directory.
   *
   * @default {defaultSocketDir(Deno.env.get)}
   */
  socketDir?: string;
  /** Ends the subscription (iteration ends without error) when aborted. */
  signal?: AbortSignal;
  /**
   * The last `seq` the caller has seen: delivery starts at `since + 1`, from
   * the daemon's history first.
   *
   * Without it, delivery starts with the first message routed after the
   * subscription was **created** (not after it first reached the daemon): a
   * monitor started before the daemon gets the daemon's first events, taken
   * from history, and one started after yesterday's events never replays
   * them, even across a daemon restart. "Routed after" is read from the
   * daemon's `last_event_at` and the messages' `timestamp`s, so clocks of
   * publishers on this machine are trusted; a message without a readable
   * timestamp, or one stamped in the very millisecond the subscription was
   * made, counts as older.
   */
  since?: number;
  /**
   * The first wait before reconnecting, in ms; it doubles on each failed
   * attempt, up to 2000 ms, and resets once connected. While the daemon is
   * down (its sockets are missing or refuse connections) the subscription
   * does not retry on a timer: it watches the socket directory
   * (`Deno.watchFs`, which needs read permission on it, or on its nearest
   * existing parent while it does not exist) and retries when something
   * there changes.
   *
   * @default {100}
   */
  reconnectDelay?: number;
}

/**
 * Options of {@linkcode subscribeAll}: `since` maps event types to the last
 * `seq` seen of each.
 *
 * @example
 * ```ts
 * import type { SubscribeAllOptions } from "@dotfiles/daemon/monitor";
 * import assert from "node:assert/strict";
 *
 * const o: SubscribeAllOptions = { since: { wallpaper: 41, theme: 3 } };
 * assert.equal(o.since?.theme, 3);
 * ```
 */
export interface SubscribeAllOptions extends Omit<SubscribeOptions, "since"> {
  /**
   * Per event type, the last `seq` seen. Types not listed start with their
   * first message routed after the subscription was created (as
   * {@linkcode SubscribeOptions.since} explains); types created later start
   * at their first message.
   */
  since?: Record<string, number>;
  /**
   * Whether `since` lists every type that existed when it was taken (as a
   * snapshot's last seqs from `list_event_types` do): a type it does not
   * list is newer, so it starts at its first message, whenever that was
   * stamped, instead of at the subscription's creation.
   *
   * @default {false}
   */
  sinceIsComplete?: boolean;
}

/**
 * What {@linkcode Subscription.events} yields: messages, connection state,
 * and `gap` when messages were missed because the daemon no longer keeps
 * them (`from` to `to`, inclusive, of `eventType`).
 *
 * @example
 * ```ts
 * import type { SubscriptionEvent } from "@dotfiles/daemon/monitor";
 * import assert from "node:assert/strict";
 *
 * function label(event: SubscriptionEvent): string {
 *   switch (event.type) {
 *     case "message": return event.message.event_type;
 *     case "connected": return "up";
 *     case "disconnected": return "down";
 *     case "gap": return `missed ${event.to - event.from + 1}`;
 *   }
 * }
 * assert.equal(label({ type: "connected" }), "up");
 * ```
 */
export type SubscriptionEvent =
  | { type: "message"; message: Message }
  | { type: "connected" }
  | { type: "disconnected"; error?: Error }
  | { type: "gap"; eventType: string; from: number; to: number };

/**
 * A live stream of one event type's messages (or of every type's), that
 * survives daemon restarts. Iterate it for messages, or `events()` for
 * messages and connection state; only one consumer, once. `break` out of
 * the loop, `close()` or the signal ends it and closes the socket.
 *
 * @example
 * ```ts ignore
 * import { subscribe } from "@dotfiles/daemon/monitor";
 *
 * for await (const message of subscribe("wallpaper")) {
 *   console.log(message.seq, message.payload.type);
 * }
 * ```
 */
export interface Subscription extends AsyncIterable<Message>, Disposable {
  /**
   * Messages and connection state in one loop: `connected` when the event
   * socket is connected, `disconnected` (with the error) when it was lost or
   * cannot be reached yet, `gap` when the daemon no longer kept missed
   * messages, and `message`.
   *
   * @returns The event stream.
   * @throws {TypeError} When the subscription is already being consumed.
   */
  events(): AsyncIterable<SubscriptionEvent>;
  /** Whether the event socket is connected now. */
  readonly connected: boolean;
  /**
   * The `seq` of the last delivered message (for {@linkcode subscribeAll},
   * of its type); before the first, the starting point (`since`, or, once
   * the daemon was reached, the last `seq` routed before the subscription
   * was created), else 0.
   */
  readonly lastSeq: number;
  /** The last delivered `seq` per event type: pass it back as `since` to resume. */
  readonly lastSeqs: Readonly<Record<string, number>>;
  /** Ends the subscription and closes its socket. Idempotent. */
  close(): void;
}

type Target = { kind: "one"; eventType: string } | { kind: "all" };

class DaemonSubscription implements Subscription {
  #target: Target;
  #socketDir: string;
  #initialDelay: number;
  #seqs = new Map<string, number>();
  /** Starting points given by the caller for types not yet seen. */
  #since: Map<string, number>;
  /** Types missing from `#since` are newer than it: they start at 0. */
  #sinceIsComplete: boolean;
  #baselined = false;
  /** When the subscription was made: delivery starts with what was routed after it. */
  #createdAt = Date.now();
  #last = 0;
  #controller = new AbortController();
  #signal: AbortSignal;
  #userSignal: AbortSignal | undefined;
  #onAbort = (): void => this.close();
  #conn: Deno.UnixConn | null = null;
  #connected = false;
  #state: "unknown" | "connected" | "disconnected" = "unknown";
  #consumed = false;
  #closed = false;

  constructor(target: Target, socketDir: string, options: SubscribeAllOptions, since?: number) {
    const { signal, reconnectDelay = DEFAULT_RECONNECT_DELAY } = options;
    if (!(Number.isFinite(reconnectDelay) && reconnectDelay > 0)) {
      throw new RangeError(
        `Cannot subscribe: 'reconnectDelay' must be a positive number, received ${reconnectDelay}`,
      );
    }
    this.#target = target;
    this.#socketDir = socketDir;
    this.#initialDelay = reconnectDelay;
    this.#since = new Map(Object.entries(options.since ?? {}));
    this.#sinceIsComplete = options.sinceIsComplete === true;
    for (const [type, seq] of this.#since) checkSince(seq, type);
    if (target.kind === "one" && since !== undefined) {
      checkSince(since, target.eventType);
      this.#seqs.set(target.eventType, since);
      this.#last = since;
      this.#baselined = true;
    }
    this.#userSignal = signal;
    this.#signal = signal
      ? AbortSignal.any([this.#controller.signal, signal])
      : this.#controller.signal;
    if (signal?.aborted) this.#closed = true;
    signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  get connected(): boolean {
    return this.#connected;
  }

  get lastSeq(): number {
    return this.#last;
  }

  get lastSeqs(): Readonly<Record<string, number>> {
    return Object.fromEntries(this.#seqs);
  }

  close(): void {
    if (this.#closed && this.#controller.signal.aborted) return;
    this.#closed = true;
    this.#connected = false;
    this.#userSignal?.removeEventListener("abort", this.#onAbort);
    this.#controller.abort();
    closeQuietly(this.#conn);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  events(): AsyncIterable<SubscriptionEvent> {
    this.#claim();
    return { [Symbol.asyncIterator]: () => this.#run() };
  }

  [Symbol.asyncIterator](): AsyncIterator<Message> {
    this.#claim();
    return this.#messages();
  }

  #claim(): void {
    if (this.#consumed) {
      throw new TypeError("Cannot iterate subscription: it already has a consumer");
    }
    this.#consumed = true;
  }

  async *#messages(): AsyncGenerator<Message, void, undefined> {
    for await (const event of this.#run()) {
      if (event.type === "message") yield event.message;
    }
  }

  #transition(state: "connected" | "disconnected", error?: Error): SubscriptionEvent | null {
    this.#connected = state === "connected";
    if (this.#state === state) return null;
    this.#state = state;
    if (state === "connected") return { type: "connected" };
    return error === undefined ? { type: "disconnected" } : { type: "disconnected", error };
  }

  async *#run(): AsyncGenerator<SubscriptionEvent, void, undefined> {
    let delay = this.#initialDelay;
    let watcher: DirWatcher | null = null;
    try {
      while (!this.#closed) {
        let failure: Error | undefined;
        try {
          for await (const event of this.#session()) {
            if (event.type === "connected") {
              delay = this.#initialDelay;
              watcher?.close();
              watcher = null;
            }
            yield event;
            if (this.#closed) return;
          }
        } catch (err) {
          if (this.#closed) return;
          if (isPermissionError(err)) throw err;
          failure = err instanceof Error ? err : new Error(String(err));
        } finally {
          closeQuietly(this.#conn);
          this.#conn = null;
        }
        const event = this.#transition("disconnected", failure);
        if (event !== null) yield event;
        if (this.#closed) return;
        try {
          if (failure !== undefined && isAbsent(failure)) {
            // The daemon is down: no timer, wait for its sockets to appear.
            // The watcher is opened before the next attempt, so a socket
            // made in between is not missed.
            if (watcher === null || watcher.stale()) {
              watcher?.close();
              watcher = DirWatcher.open(this.#socketDir);
              if (watcher !== null) continue;
            } else {
              await watcher.changed(this.#signal);
              continue;
            }
          }
          await sleep(delay, this.#signal);
        } catch {
          return;
        }
        delay = Math.min(delay * 2, MAX_RECONNECT_DELAY);
      }
    } finally {
      watcher?.close();
      this.close();
    }
  }

  /** One connection: baseline, connect, catch up from history, then live. */
  async *#session(): AsyncGenerator<SubscriptionEvent, void, undefined> {
    const signal = this.#signal;
    let path: string;
    let filter: string | null = null;
    {
      using client = await QueryClient.connect({ socketDir: this.#socketDir, signal });
      if (!this.#baselined) await this.#baseline(client);
      if (this.#target.kind === "one") {
        path = eventSocketPath(this.#socketDir, this.#target.eventType);
      } else {
        path = `${this.#socketDir}/${SocketNames.FIREHOSE}`;
      }
      try {
        this.#conn = await connectUnix(path, signal);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound) || this.#target.kind !== "one") throw err;
        // The type's socket appears with its first message: until then,
        // take that message from the firehose, which always exists.
        filter = this.#target.eventType;
        this.#conn = await connectUnix(`${this.#socketDir}/${SocketNames.FIREHOSE}`, signal);
      }
      const connected = this.#transition("connected");
      if (connected !== null) yield connected;
      yield* this.#catchUp(client);
    }
    const reader = new MessageReader(this.#conn);
    for (;;) {
      const parsed = await reader.read();
      if (parsed === null) throw new Error("Connection closed by the daemon");
      if (!parsed.ok) continue;
      const message = parsed.message;
      if (filter !== null && message.event_type !== filter) continue;
      const seq = message.seq;
      if (typeof seq !== "number") {
        yield { type: "message", message };
        continue;
      }
      const type = message.event_type;
      const last = this.#seqs.get(type) ?? this.#since.get(type) ?? 0;
      if (seq <= last) continue;
      if (seq > last + 1) {
        // Missed while (re)connecting: fill from history first.
        using client = await QueryClient.connect({ socketDir: this.#socketDir, signal });
        yield* this.#fill(client, type, seq - 1);
      }
      if (seq <= (this.#seqs.get(type) ?? 0)) continue;
      this.#deliver(type, seq);
      yield { type: "message", message };
    }
  }

  #deliver(type: string, seq: number): void {
    this.#seqs.set(type, seq);
    this.#last = seq;
  }

  /**
   * Fixes where delivery starts: after the last message routed before the
   * subscription was created, unless `since` says otherwise.
   */
  async #baseline(client: QueryClient): Promise<void> {
    const signal = this.#signal;
    if (this.#target.kind === "one") {
      const type = this.#target.eventType;
      const start = await this.#startOf(client, type, null);
      this.#seqs.set(type, start);
      this.#last = start;
    } else {
      const { event_types } = await client.query(QueryType.LIST_EVENT_TYPES, { signal });
      for (const info of event_types) {
        const since = this.#since.get(info.event_type) ?? (this.#sinceIsComplete ? 0 : undefined);
        this.#seqs.set(
          info.event_type,
          since ?? await this.#startOf(client, info.event_type, info),
        );
      }
      for (const [type, seq] of this.#since) if (!this.#seqs.has(type)) this.#seqs.set(type, seq);
    }
    this.#baselined = true;
  }

  /**
   * The last `seq` of `type` routed before the subscription was created:
   * the type's last `seq` when its last event is older than that, else the
   * seq before the first kept message whose timestamp is not older.
   */
  async #startOf(client: QueryClient, type: string, info: EventTypeInfo | null): Promise<number> {
    const signal = this.#signal;
    if (info !== null) {
      const at = info.last_event_at === null ? Number.NaN : parseTime(info.last_event_at);
      if (info.last_seq === 0 || !(at > this.#createdAt)) return info.last_seq;
    }
    let history = await client.query(QueryType.GET_EVENT_HISTORY, {
      eventType: type,
      parameters: { limit: 1 },
      signal,
    });
    const newest = history.events.at(-1);
    if (newest === undefined || !this.#routedAfterCreation(newest)) return history.last_seq;
    history = await client.query(QueryType.GET_EVENT_HISTORY, {
      eventType: type,
      parameters: { limit: HISTORY_PAGE },
      signal,
    });
    let start = history.last_seq;
    for (let i = history.events.length - 1; i >= 0; i--) {
      const event = history.events[i]!;
      if (typeof event.seq !== "number") continue;
      if (!this.#routedAfterCreation(event)) break;
      start = event.seq - 1;
    }
    return start;
  }

  #routedAfterCreation(event: { timestamp?: unknown }): boolean {
    return parseTime(event.timestamp) > this.#createdAt;
  }

  async *#catchUp(client: QueryClient): AsyncGenerator<SubscriptionEvent, void, undefined> {
    if (this.#target.kind === "one") {
      yield* this.#fill(client, this.#target.eventType, Infinity);
      return;
    }
    const { event_types } = await client.query(QueryType.LIST_EVENT_TYPES, {
      signal: this.#signal,
    });
    for (const info of event_types as EventTypeInfo[]) {
      const type = info.event_type;
      if (!isValidEventType(type)) continue;
      const last = this.#seqs.get(type);
      if (last === undefined) this.#seqs.set(type, 0); // Created while we were away.
      if (last === undefined || info.last_seq !== last) yield* this.#fill(client, type, Infinity);
    }
  }

  /** Delivers history of `type` after the last delivered seq, up to `upTo`. */
  async *#fill(
    client: QueryClient,
    type: string,
    upTo: number,
  ): AsyncGenerator<SubscriptionEvent, void, undefined> {
    for (;;) {
      let last = this.#seqs.get(type) ?? this.#since.get(type) ?? 0;
      const history = await client.query(QueryType.GET_EVENT_HISTORY, {
        eventType: type,
        parameters: { after_seq: last, limit: HISTORY_PAGE },
        signal: this.#signal,
      });
      if (history.last_seq < last) {
        // The daemon lost its history (state wiped): seqs restart at 1.
        last = 0;
        this.#seqs.set(type, 0);
        continue;
      }
      for (const raw of history.events) {
        const seq = raw.seq;
        if (typeof seq !== "number" || seq <= last) continue;
        if (seq > upTo) return;
        if (seq > last + 1) yield { type: "gap", eventType: type, from: last + 1, to: seq - 1 };
        last = seq;
        this.#deliver(type, seq);
        yield { type: "message", message: raw as unknown as Message };
        if (this.#closed) return;
      }
      const target = Math.min(upTo, history.last_seq);
      if (last >= target) return;
      if (history.events.length === 0) {
        // Nothing kept after `last`: everything up to the target is gone.
        yield { type: "gap", eventType: type, from: last + 1, to: target };
        this.#deliver(type, target);
        return;
      }
    }
  }
}

/**
 * Epoch ms of an ISO-8601 timestamp (microseconds cut; without an offset,
 * local time, as Python's `datetime.now().isoformat()` sends), else NaN.
 */
function parseTime(timestamp: unknown): number {
  if (typeof timestamp !== "string") return Number.NaN;
  return Date.parse(timestamp.replace(/(\.\d{3})\d+/, "$1"));
}

/** Whether a failed attempt means the daemon is not there (no socket, or a stale one). */
function isAbsent(error: Error): boolean {
  const cause = error instanceof DaemonUnavailableError ? error.cause : error;
  return cause instanceof Deno.errors.NotFound ||
    cause instanceof Deno.errors.ConnectionRefused;
}

function checkSince(seq: number, type: string): void {
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new RangeError(
      `Cannot subscribe: 'since' of '${type}' must be a non-negative integer, received ${seq}`,
    );
  }
}

/**
 * Subscribes to one event type: an async iterable of its messages, in
 * `seq` order, that runs until closed. It waits for the daemon and for the
 * type's first message (taking it from the firehose until the type's socket
 * exists), reconnects with backoff after the daemon restarts, and on every
 * (re)connect fetches from `get_event_history` what was routed after the
 * last delivered `seq`: none lost (within the history the daemon keeps;
 * otherwise `events()` reports a `gap`), none twice.
 *
 * Permissions: read and write on the socket directory, net for its Unix
 * sockets (`--allow-net=unix:<socketDir>/<type>_events.sock,unix:<socketDir>/events.sock,unix:<socketDir>/query.sock`,
 * or `--allow-net`), and `--allow-env=XDG_CACHE_HOME,HOME` for the default
 * socket directory. A missing permission is thrown from the iterator.
 *
 * @param eventType The event type, e.g. `"wallpaper"`.
 * @param options Socket directory, signal, `since`, reconnect delay.
 * @returns The subscription; nothing is connected until it is iterated.
 * @throws {TypeError} When `eventType` cannot name an event socket.
 * @throws {RangeError} When `since` or `reconnectDelay` is out of range.
 *
 * @example A status bar module
 * ```ts ignore
 * import { subscribe } from "@dotfiles/daemon/monitor";
 *
 * for await (const event of subscribe("wallpaper").events()) {
 *   if (event.type === "disconnected") console.log("daemon down");
 *   if (event.type === "message") console.log(event.message.payload.type);
 * }
 * ```
 *
 * @example Bad arguments throw at once
 * ```ts
 * import { subscribe } from "@dotfiles/daemon/monitor";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => subscribe("../x", { socketDir: "/tmp" }), TypeError);
 * using subscription = subscribe("wallpaper", { socketDir: "/tmp", since: 41 });
 * assert.equal(subscription.lastSeq, 41);
 * ```
 */
export function subscribe(eventType: string, options: SubscribeOptions = {}): Subscription {
  const socketDir = resolveSocketDir(options.socketDir);
  eventSocketPath(socketDir, eventType); // Throws TypeError on a bad type.
  const { since, ...rest } = options;
  return new DaemonSubscription({ kind: "one", eventType }, socketDir, rest, since);
}

/**
 * Subscribes to every event type through the firehose `events.sock`. Same
 * guarantees as {@linkcode subscribe}, per event type: each type's messages
 * arrive in `seq` order (messages of different types caught up from history
 * after a reconnect come type by type).
 *
 * Permissions: as {@linkcode subscribe}, for `events.sock` and `query.sock`.
 *
 * @param options Socket directory, signal, per-type `since`, reconnect delay.
 * @returns The subscription; nothing is connected until it is iterated.
 * @throws {RangeError} When a `since` value or `reconnectDelay` is out of range.
 *
 * @example
 * ```ts ignore
 * import { subscribeAll } from "@dotfiles/daemon/monitor";
 *
 * for await (const message of subscribeAll()) {
 *   console.log(message.event_type, message.seq);
 * }
 * ```
 *
 * @example
 * ```ts
 * import { subscribeAll } from "@dotfiles/daemon/monitor";
 * import assert from "node:assert/strict";
 *
 * using all = subscribeAll({ socketDir: "/tmp", since: { theme: 3 } });
 * assert.equal(all.connected, false);
 * ```
 */
export function subscribeAll(options: SubscribeAllOptions = {}): Subscription {
  const socketDir = resolveSocketDir(options.socketDir);
  return new DaemonSubscription({ kind: "all" }, socketDir, options);
}
