/**
 * One listening socket of the daemon and its accept loop: command.sock,
 * query.sock and every event socket go through it.
 *
 * @module
 */
import { closeQuietly, listenUnix, sleep } from "../transport/mod.ts";
import type { Counters } from "./_counters.ts";
import type { Logger } from "./_logger.ts";

/** Options of {@linkcode Listener}. */
export interface ListenerOptions {
  /** The socket path. */
  path: string;
  /** Counts accepted connections. */
  counters: Counters;
  /** Logs a listener that fails while open. */
  logger: Logger;
  /** Serves one accepted connection; the listener waits for it at close. */
  serve(conn: Deno.UnixConn): Promise<void> | void;
  /**
   * Connections kept open at most; beyond it the newest is closed at once
   * and counted in `connections_refused`.
   *
   * @default {Infinity}
   */
  maxConnections?: number;
  /** Connections open now. @default {the connections it is serving} */
  open?: () => number;
}

/** First wait after a failed accept; it doubles while accepts keep failing (Go's net/http)... */
const ACCEPT_BACKOFF_MIN_MS = 5;
/** ...up to this. */
const ACCEPT_BACKOFF_MAX_MS = 1000;

/** Listens at once (mode 0600) and serves every connection until closed. */
export class Listener {
  /** The socket path. */
  readonly path: string;
  #listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;
  #accepting: Promise<void>;
  #serving = new Set<Promise<void>>();
  #closing = false;

  /** @throws When the path cannot be listened on. */
  constructor(options: ListenerOptions) {
    this.path = options.path;
    this.#listener = listenUnix(options.path);
    this.#accepting = this.#accept(options);
  }

  /** Whether {@linkcode Listener.close} was called. */
  get closing(): boolean {
    return this.#closing;
  }

  /**
   * Accepts until closed. A failed accept (out of file descriptors and the
   * like, which a burst of clients causes and which passes when they close)
   * never ends the loop: it is counted in `accept_errors`, logged
   * (rate-limited) and retried after 5 ms, doubling to 1 s while it keeps
   * failing. The wait is a timer only while accepts fail.
   */
  async #accept(options: ListenerOptions): Promise<void> {
    const { counters, logger, serve, maxConnections = Infinity } = options;
    const open = options.open ?? (() => this.#serving.size);
    const socket = this.path.slice(this.path.lastIndexOf("/") + 1);
    let backoff = 0;
    for (;;) {
      let conn: Deno.UnixConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing || error instanceof Deno.errors.BadResource) return;
        backoff = backoff === 0
          ? ACCEPT_BACKOFF_MIN_MS
          : Math.min(ACCEPT_BACKOFF_MAX_MS, backoff * 2);
        counters.acceptErrors++;
        logger.limited("error", `accept_failed ${socket}`, "cannot accept a connection; retrying", {
          socket: this.path,
          error: error instanceof Error ? error.message : String(error),
          retry_ms: backoff,
        });
        await sleep(backoff);
        continue;
      }
      if (backoff !== 0) {
        logger.info("accepting connections again", { socket: this.path });
        backoff = 0;
      }
      if (this.#closing) {
        closeQuietly(conn);
        return;
      }
      if (open() >= maxConnections) {
        counters.refuse(socket);
        logger.limited("warn", `connection_limit ${socket}`, "connection refused: limit reached", {
          socket: this.path,
          max_connections: maxConnections,
        });
        closeQuietly(conn);
        continue;
      }
      counters.connectionsAccepted++;
      const serving = serve(conn);
      if (serving instanceof Promise) {
        this.#serving.add(serving);
        serving.finally(() => this.#serving.delete(serving));
      }
    }
  }

  /** Stops accepting; connections already accepted go on. Idempotent. */
  close(): void {
    this.#closing = true;
    closeQuietly(this.#listener);
  }

  /** Resolves once the accept loop and every connection it serves have ended. */
  async closed(): Promise<void> {
    await this.#accepting;
    await Promise.allSettled(this.#serving);
  }
}
