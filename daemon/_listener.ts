/**
 * One listening socket of the daemon and its accept loop: command.sock,
 * query.sock and every event socket go through it.
 *
 * @module
 */
import { closeQuietly, listenUnix } from "../transport/mod.ts";
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
}

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

  async #accept({ counters, logger, serve }: ListenerOptions): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        counters.connectionsAccepted++;
        const serving = serve(conn);
        if (serving instanceof Promise) {
          this.#serving.add(serving);
          serving.finally(() => this.#serving.delete(serving));
        }
      }
    } catch (error) {
      if (!this.#closing) {
        logger.error("listener failed", { socket: this.path, error: String(error) });
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
