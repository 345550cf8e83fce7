import { eventSocketPath, SocketNames } from "../protocol/mod.ts";
import { Counters } from "./_counters.ts";
import { FlowControl } from "./_flow_control.ts";
import { Logger } from "./_logger.ts";
import type { RoutedBatch } from "./_pending_frames.ts";
import { Subscriber, type SubscriberEnd } from "./_subscriber.ts";
import { Listener } from "./_listener.ts";
import { closeQuietly, sleep } from "../transport/mod.ts";

/**
 * Options of {@linkcode EventBroker}.
 *
 * @example
 * ```ts
 * import type { EventBrokerOptions } from "./_event_broker.ts";
 * import assert from "node:assert/strict";
 *
 * const o: EventBrokerOptions = { socketDir: "/tmp/s" };
 * assert.equal(o.socketDir, "/tmp/s");
 * ```
 */
export interface EventBrokerOptions {
  /** The socket directory (absolute). */
  socketDir: string;
  /**
   * Appended to an event type to name its socket.
   *
   * @default {"_events.sock"}
   */
  eventSocketSuffix?: string;
  /**
   * File name of the firehose socket.
   *
   * @default {"events.sock"}
   */
  firehoseSocketName?: string;
  /**
   * Most event sockets open at once.
   *
   * @default {256}
   */
  maxEventTypes?: number;
  /**
   * Monitors per socket at most; the newest beyond is closed at once.
   *
   * @default {256}
   */
  maxConnections?: number;
  /**
   * The slow-subscriber policy, which holds the queue limit.
   *
   * @default {"a FlowControl with an 8 MiB queue limit"}
   */
  flow?: FlowControl;
  /** The daemon's logger. @default {"a logger of errors to stderr"} */
  logger?: Logger;
  /** The daemon's counters. @default {"counters of its own"} */
  counters?: Counters;
}

interface Channel {
  eventType: string | null;
  path: string;
  listener: Listener;
  subscribers: Set<Subscriber>;
}

/**
 * Owns the event sockets: `<type>_events.sock`, created on demand, and the
 * firehose `events.sock` that carries every type. Broadcasting queues one
 * shared frame on every subscriber of the type and of the firehose; each
 * subscriber writes on its own, so a slow one delays nobody; when one falls
 * behind is {@linkcode FlowControl}'s to decide.
 *
 * @example Route a frame to a subscriber
 * ```ts
 * import { EventBroker } from "./_event_broker.ts";
 * import { encodeFrame } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const socketDir = await Deno.makeTempDir();
 * const broker = new EventBroker({ socketDir });
 * broker.openChannel("demo");
 * const conn = await Deno.connect({ transport: "unix", path: broker.socketPath("demo") });
 * while (broker.subscriberCount("demo") === 0) await new Promise((r) => setTimeout(r, 5));
 * broker.broadcast("demo", encodeFrame({ hello: "world" }));
 * const buffer = new Uint8Array(64);
 * const n = await conn.read(buffer);
 * assert.equal(new TextDecoder().decode(buffer.subarray(4, n!)), '{"hello":"world"}');
 * conn.close();
 * await broker.close(100);
 * await Deno.remove(socketDir, { recursive: true });
 * ```
 */
export class EventBroker {
  #socketDir: string;
  #suffix: string;
  #maxTypes: number;
  #maxConnections: number;
  #flow: FlowControl;
  #logger: Logger;
  #counters: Counters;
  #channels = new Map<string, Channel>();
  #firehose: Channel | null = null;
  #firehoseName: string;
  #nextId = 1;
  #closed = false;

  /**
   * Creates the broker; no socket is opened until asked.
   *
   * @param options Where and how.
   */
  constructor(options: EventBrokerOptions) {
    const {
      socketDir,
      eventSocketSuffix = SocketNames.EVENT_SUFFIX,
      firehoseSocketName = SocketNames.FIREHOSE,
      maxEventTypes = 256,
      maxConnections = 256,
      flow = new FlowControl({ queueLimit: 8 * 1024 * 1024 }),
      logger = new Logger("error", "text"),
      counters = new Counters(),
    } = options;
    this.#socketDir = socketDir;
    this.#suffix = eventSocketSuffix;
    this.#firehoseName = firehoseSocketName;
    this.#maxTypes = maxEventTypes;
    this.#maxConnections = maxConnections;
    this.#flow = flow;
    this.#logger = logger;
    this.#counters = counters;
  }

  /**
   * The socket path of an event type.
   *
   * @param eventType A valid event type.
   * @returns Its absolute socket path.
   * @example
   * ```ts
   * import { EventBroker } from "./_event_broker.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new EventBroker({ socketDir: "/s" }).socketPath("x"), "/s/x_events.sock");
   * ```
   */
  socketPath(eventType: string): string {
    const path = eventSocketPath(this.#socketDir, eventType);
    return this.#suffix === SocketNames.EVENT_SUFFIX
      ? path
      : path.slice(0, -SocketNames.EVENT_SUFFIX.length) + this.#suffix;
  }

  /**
   * Whether the event type's socket is open.
   *
   * @param eventType The event type.
   * @returns `true` when open.
   * @example
   * ```ts
   * import { EventBroker } from "./_event_broker.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new EventBroker({ socketDir: "/s" }).has("x"), false);
   * ```
   */
  has(eventType: string): boolean {
    return this.#channels.has(eventType);
  }

  /**
   * The event types whose sockets are open.
   *
   * @returns Their names, in creation order.
   * @example
   * ```ts
   * import { EventBroker } from "./_event_broker.ts";
   * import assert from "node:assert/strict";
   *
   * assert.deepEqual(new EventBroker({ socketDir: "/s" }).eventTypes(), []);
   * ```
   */
  eventTypes(): string[] {
    return [...this.#channels.keys()];
  }

  /**
   * Monitors connected to an event type's socket (not counting the firehose).
   *
   * @param eventType The event type.
   * @returns The count, 0 for an unknown type.
   * @example
   * ```ts
   * import { EventBroker } from "./_event_broker.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new EventBroker({ socketDir: "/s" }).subscriberCount("x"), 0);
   * ```
   */
  subscriberCount(eventType: string): number {
    return this.#channels.get(eventType)?.subscribers.size ?? 0;
  }

  /**
   * Every connected monitor, the firehose's included.
   *
   * @returns The count.
   * @example
   * ```ts
   * import { EventBroker } from "./_event_broker.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new EventBroker({ socketDir: "/s" }).totalSubscribers, 0);
   * ```
   */
  get totalSubscribers(): number {
    let n = this.#firehose?.subscribers.size ?? 0;
    for (const channel of this.#channels.values()) n += channel.subscribers.size;
    return n;
  }

  /**
   * Opens `events.sock`, which receives every routed frame.
   *
   * @example
   * ```ts ignore
   * broker.openFirehose();
   * ```
   */
  openFirehose(): void {
    if (this.#firehose !== null || this.#closed) return;
    const path = `${this.#socketDir}/${this.#firehoseName}`;
    this.#firehose = this.#open(null, path);
  }

  /**
   * Opens an event type's socket unless it is open already.
   *
   * @param eventType A valid event type.
   * @returns `false` when `maxEventTypes` sockets are open already.
   * @throws {TypeError} When the event type is invalid.
   * @example
   * ```ts ignore
   * broker.openChannel("wallpaper");
   * ```
   */
  openChannel(eventType: string): boolean {
    if (this.#channels.has(eventType)) return true;
    if (this.#closed) return false;
    if (this.#channels.size >= this.#maxTypes) return false;
    this.#channels.set(eventType, this.#open(eventType, this.socketPath(eventType)));
    this.#logger.info("event socket created", { event_type: eventType });
    return true;
  }

  #open(eventType: string | null, path: string): Channel {
    const subscribers = new Set<Subscriber>();
    const channel: Channel = {
      eventType,
      path,
      subscribers,
      listener: new Listener({
        path,
        counters: this.#counters,
        logger: this.#logger,
        serve: (conn) => this.#subscribe(channel, conn),
        maxConnections: this.#maxConnections,
        open: () => channel.subscribers.size,
      }),
    };
    return channel;
  }

  #subscribe(channel: Channel, conn: Deno.UnixConn): void {
    if (this.#closed) return closeQuietly(conn);
    const sub = new Subscriber(
      this.#nextId++,
      channel.eventType ?? "*",
      conn,
      this.#flow,
      (s, reason, error) => this.#onEnd(channel, s, reason, error),
    );
    channel.subscribers.add(sub);
    this.#logger.debug("subscriber connected", { channel: sub.channel, id: sub.id });
  }

  #onEnd(channel: Channel, sub: Subscriber, reason: SubscriberEnd, error?: unknown): void {
    channel.subscribers.delete(sub);
    if (reason === "slow") {
      this.#counters.slowSubscribersDropped++;
      this.#logger.warn("subscriber disconnected: queue limit reached", {
        channel: sub.channel,
        id: sub.id,
        limit_bytes: this.#flow.queueLimit,
      });
    } else if (reason === "error" && !this.#closed) {
      this.#logger.debug("subscriber connection failed", {
        channel: sub.channel,
        id: sub.id,
        error: String(error),
      });
    } else {
      this.#logger.debug("subscriber disconnected", { channel: sub.channel, id: sub.id });
    }
  }

  /**
   * Queues a frame on every subscriber of the event type and of the firehose.
   *
   * @param eventType The message's event type.
   * @param frame The complete frame; shared, never modified.
   * @returns How many subscribers it was queued for.
   * @example
   * ```ts ignore
   * broker.broadcast("wallpaper", encodeFrame(message));
   * ```
   */
  broadcast(eventType: string, frame: Uint8Array): number {
    return this.sendToType(eventType, frame) + this.sendToFirehose(frame);
  }

  /**
   * Queues bytes (one or more whole frames, in order) on every subscriber of
   * the event type, not on the firehose.
   *
   * @param eventType The event type.
   * @param frames Whole frames of that type; shared, never modified.
   * @returns How many subscribers they were queued for.
   * @example
   * ```ts
   * import { EventBroker } from "./_event_broker.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new EventBroker({ socketDir: "/s" }).sendToType("x", new Uint8Array(8)), 0);
   * ```
   */
  sendToType(eventType: string, frames: Uint8Array): number {
    const channel = this.#channels.get(eventType);
    if (channel === undefined) return 0;
    for (const sub of channel.subscribers) sub.send(frames);
    return channel.subscribers.size;
  }

  /**
   * Queues bytes (one or more whole frames, in order) on every firehose
   * subscriber.
   *
   * @param frames Whole frames; shared, never modified.
   * @returns How many subscribers they were queued for.
   * @example
   * ```ts
   * import { EventBroker } from "./_event_broker.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new EventBroker({ socketDir: "/s" }).sendToFirehose(new Uint8Array(8)), 0);
   * ```
   */
  sendToFirehose(frames: Uint8Array): number {
    if (this.#firehose === null) return 0;
    for (const sub of this.#firehose.subscribers) sub.send(frames);
    return this.#firehose.subscribers.size;
  }

  /**
   * Whether anyone is connected to the firehose.
   *
   * @returns `true` when `events.sock` has subscribers.
   * @example
   * ```ts
   * import { EventBroker } from "./_event_broker.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new EventBroker({ socketDir: "/s" }).hasFirehoseSubscribers, false);
   * ```
   */
  get hasFirehoseSubscribers(): boolean {
    return (this.#firehose?.subscribers.size ?? 0) > 0;
  }

  /**
   * Queues what one read routed: each type's frames on its subscribers, all
   * of them on the firehose's, and counts what went out.
   *
   * @param batch The router's batch.
   */
  publish(batch: RoutedBatch): void {
    for (const routed of batch.types) {
      this.#count(
        routed.eventType,
        routed.frames,
        routed.bytes.byteLength,
        this.sendToType(routed.eventType, routed.bytes),
      );
    }
    if (this.hasFirehoseSubscribers) {
      const all = batch.all();
      this.#count("*", batch.frames, all.byteLength, this.sendToFirehose(all));
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

  /**
   * Stops accepting, flushes every queue for at most `drainMs`, then closes
   * every connection and socket. Idempotent.
   *
   * @param drainMs How long to wait for queues to empty.
   * @example
   * ```ts
   * import { EventBroker } from "./_event_broker.ts";
   *
   * await new EventBroker({ socketDir: "/s" }).close(0);
   * ```
   */
  async close(drainMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const channels = [...this.#channels.values(), ...this.#firehose ? [this.#firehose] : []];
    for (const channel of channels) channel.listener.close();
    await Promise.all(channels.map((channel) => channel.listener.closed()));
    const subs = channels.flatMap((c) => [...c.subscribers]);
    if (drainMs > 0 && subs.length > 0) {
      const drained = new AbortController();
      await Promise.race([
        Promise.all(subs.map((s) => s.drained())),
        sleep(drainMs, drained.signal).catch(() => {}),
      ]);
      drained.abort();
    }
    for (const sub of subs) sub.end("shutdown");
    this.#flow.close();
  }

  /**
   * Socket paths of every open event socket, the firehose's included.
   *
   * @returns The paths.
   * @example
   * ```ts
   * import { EventBroker } from "./_event_broker.ts";
   * import assert from "node:assert/strict";
   *
   * assert.deepEqual(new EventBroker({ socketDir: "/s" }).socketPaths(), []);
   * ```
   */
  socketPaths(): string[] {
    return [...this.#channels.values(), ...this.#firehose ? [this.#firehose] : []].map((c) =>
      c.path
    );
  }
}
