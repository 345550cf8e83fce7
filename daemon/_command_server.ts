/**
 * `command.sock`: managers' connections, read into the router, each read's
 * batch handed to the broker, with the flow-control hold-back between reads.
 *
 * @module
 */
import { FrameDecoder, FrameError } from "../protocol/mod.ts";
import type { Counters } from "./_counters.ts";
import type { FlowControl } from "./_flow_control.ts";
import type { Logger } from "./_logger.ts";
import type { Router } from "./_router.ts";
import type { EventBroker } from "./_event_broker.ts";
import { closeQuietly, sleep } from "../transport/mod.ts";
import { Listener } from "./_listener.ts";
import type { PartialFrames } from "./_partial_frames.ts";

/** At shutdown, how long publishers still sending may go on, and what counts as idle. */
const PUBLISHER_GRACE_MS = 250;
const PUBLISHER_IDLE_MS = 20;
/** After the grace, how long what publishers still send is counted (not routed). */
const UNREAD_COUNT_MS = 100;
/** Most bytes counted per publisher: a Unix stream socket buffers about 208 KiB by default. */
const UNREAD_COUNT_BYTES = 256 * 1024;

/** Options of {@linkcode CommandServer}. */
export interface CommandServerOptions {
  /** The socket path. */
  path: string;
  /** The largest frame body. */
  maxMessageSize: number;
  /** Publishers connected at most; the newest beyond is closed at once. */
  maxConnections: number;
  /** Caps half-received frames' bytes and time, with the query server's. */
  partials: PartialFrames;
  /** Routes each frame body. */
  router: Router;
  /** Broadcasts each read's batch. */
  broker: EventBroker;
  /** Read sizes and the hold-back between reads. */
  flow: FlowControl;
  /** Counts connections and bad frames. */
  counters: Counters;
  /** Logs bad frames. */
  logger: Logger;
}

/**
 * Listens on `command.sock` and serves every publisher connection. The
 * daemon never writes to a publisher. Disposing stops accepting, lets
 * publishers still sending finish (250 ms at most), then closes them.
 */
export class CommandServer implements AsyncDisposable {
  #options: CommandServerOptions;
  #listener: Listener;
  /** Publisher connections and when each last delivered bytes. */
  #publishers = new Map<Deno.UnixConn, number>();
  /** At stop, after the grace: what publishers still sent, counted instead of routed. */
  #unread: { messages: number; bytes: number } | null = null;

  /** Listens at once; throws when it cannot. */
  constructor(options: CommandServerOptions) {
    this.#options = options;
    this.#listener = new Listener({ ...options, serve: (conn) => this.#serve(conn) });
  }

  /** The socket path. */
  get path(): string {
    return this.#listener.path;
  }

  /** Publishers connected now. */
  get publishers(): number {
    return this.#publishers.size;
  }

  async #serve(conn: Deno.UnixConn): Promise<void> {
    const { router, broker, flow, counters, logger, partials } = this.#options;
    this.#publishers.set(conn, performance.now());
    const frames = new FrameDecoder(this.#options.maxMessageSize);
    const buffer = new Uint8Array(flow.readSize(0));
    // The bodies of one read, routed together (one UTF-8 decode per read).
    const bodies: Uint8Array[] = [];
    const onBody = (body: Uint8Array) => {
      if (this.#unread === null) bodies.push(body);
      else this.#unread.messages++;
    };
    let countedHere = 0;
    try {
      for (;;) {
        // Under pressure, smaller reads: each hold-back then admits less.
        const size = flow.readSize(this.#publishers.size);
        const n = await conn.read(size < buffer.byteLength ? buffer.subarray(0, size) : buffer);
        if (n === null) {
          frames.end();
          break;
        }
        this.#publishers.set(conn, performance.now());
        let stopCounting = false;
        if (this.#unread !== null) {
          this.#unread.bytes += n;
          countedHere += n;
          // About what the kernel buffers for one connection: past it, the
          // count would be what the publisher sends while we count.
          stopCounting = countedHere >= UNREAD_COUNT_BYTES;
        }
        try {
          frames.push(buffer.subarray(0, n), onBody);
        } finally {
          router.routeAll(bodies);
          bodies.length = 0;
          const batch = router.take();
          if (batch !== null) broker.publish(batch);
        }
        if (
          !partials.update(
            conn,
            frames.idle,
            frames.buffered,
            "command.sock",
            () => closeQuietly(conn),
          )
        ) {
          break;
        }
        if (stopCounting) break;
        if (flow.pressured && this.#unread === null) await flow.throttle();
      }
    } catch (error) {
      if (error instanceof FrameError) {
        counters.bad(`frame_${error.code}`);
        logger.limited("warn", `frame_${error.code}`, "closing publisher connection", {
          reason: error.message,
        });
      } else if (!this.#listener.closing && !frames.idle && !partials.timedOut(conn)) {
        counters.bad("frame_truncated");
        logger.limited("warn", "frame_truncated", "publisher connection lost mid-frame", {
          error: String(error),
        });
      }
    } finally {
      partials.forget(conn);
      this.#publishers.delete(conn);
      closeQuietly(conn);
    }
  }

  /** Stops accepting connections; those open go on. Idempotent. */
  stopAccepting(): void {
    this.#listener.close();
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
      await sleep(PUBLISHER_IDLE_MS / 2);
    }
  }

  /**
   * After the grace, reads (without routing) what publishers still had in
   * flight, for at most 100 ms and 256 KiB each, and logs how much was left
   * unread.
   */
  async #countUnread(): Promise<void> {
    if (this.#publishers.size === 0) return;
    const unread = this.#unread = { messages: 0, bytes: 0 };
    const start = performance.now();
    const deadline = start + UNREAD_COUNT_MS;
    let sending = false;
    for (;;) {
      // One idle interval at least: a loaded machine delays the reads.
      if (performance.now() - start < PUBLISHER_IDLE_MS) {
        await new Promise((resolve) => setTimeout(resolve, PUBLISHER_IDLE_MS / 2));
        continue;
      }
      const now = performance.now();
      sending = false;
      for (const last of this.#publishers.values()) {
        if (now - last < PUBLISHER_IDLE_MS) sending = true;
      }
      if (!sending || now >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, PUBLISHER_IDLE_MS / 2));
    }
    this.#options.counters.messagesUnreadAtStop = unread.messages;
    if (unread.bytes > 0) {
      this.#options.logger.warn("publishers left messages unread at stop", {
        messages: unread.messages,
        bytes: unread.bytes,
        grace_ms: PUBLISHER_GRACE_MS,
        still_sending: sending,
      });
    }
  }

  /** Stops accepting, lets busy publishers finish, counts what they left, closes every connection. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.stopAccepting();
    await this.#letPublishersFinish();
    await this.#countUnread();
    for (const conn of this.#publishers.keys()) closeQuietly(conn);
    await this.#listener.closed();
  }
}
