/**
 * Half-received frames across every connection: the bytes they hold are
 * capped together, and a frame that has not completed within the frame
 * timeout closes its connection. One timer, armed only while some frame is
 * half-received: idle stays idle.
 *
 * @module
 */

import type { Counters } from "./_counters.ts";
import type { Logger } from "./_logger.ts";

/** Options of {@linkcode PartialFrames}. */
export interface PartialFramesOptions {
  /** Bytes all half-received frames may hold together. */
  maxBytes: number;
  /** Milliseconds a frame may take from its first byte to its last. */
  timeout: number;
  /** `bad_frames.partial_bytes_limit` and `bad_frames.frame_timeout`. */
  counters: Counters;
  /** Rate-limited lines. */
  logger: Logger;
}

interface Entry {
  bytes: number;
  since: number;
  close: () => void;
  socket: string;
}

/** The accountant; each connection reports its decoder after every read. */
export class PartialFrames implements Disposable {
  #options: PartialFramesOptions;
  #entries = new Map<object, Entry>();
  #bytes = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = new WeakSet<object>();

  /** @param options See {@linkcode PartialFramesOptions}. */
  constructor(options: PartialFramesOptions) {
    this.#options = options;
  }

  /** Bytes held by half-received frames now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Half-received frames now. */
  get count(): number {
    return this.#entries.size;
  }

  /**
   * Reports a connection's decoder after a read. Returns `false` when the
   * connection must be closed: its frame pushed the total over the cap.
   *
   * @param key The connection.
   * @param idle Whether its decoder is between frames.
   * @param bytes What its decoder holds.
   * @param socket The socket's name, for the log.
   * @param close Closes the connection (on timeout).
   */
  update(key: object, idle: boolean, bytes: number, socket: string, close: () => void): boolean {
    const entry = this.#entries.get(key);
    if (idle) {
      if (entry !== undefined) this.#remove(key, entry);
      return true;
    }
    if (entry === undefined) {
      this.#entries.set(key, { bytes, since: performance.now(), close, socket });
      this.#bytes += bytes;
      this.#arm();
    } else {
      this.#bytes += bytes - entry.bytes;
      entry.bytes = bytes;
    }
    if (this.#bytes <= this.#options.maxBytes) return true;
    this.#options.counters.bad("partial_bytes_limit");
    this.#options.logger.limited(
      "warn",
      "partial_bytes_limit",
      "closing connection: half-received frames hold too many bytes",
      { socket, bytes: this.#bytes, max_bytes: this.#options.maxBytes },
    );
    this.forget(key);
    return false;
  }

  /** The connection is gone. */
  forget(key: object): void {
    const entry = this.#entries.get(key);
    if (entry !== undefined) this.#remove(key, entry);
  }

  /** Whether the connection was closed here for taking too long. */
  timedOut(key: object): boolean {
    return this.#closed.has(key);
  }

  #remove(key: object, entry: Entry): void {
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
    if (this.#entries.size === 0 && this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#entries.size === 0) return;
    let oldest = Infinity;
    for (const entry of this.#entries.values()) oldest = Math.min(oldest, entry.since);
    const delay = Math.max(0, oldest + this.#options.timeout - performance.now());
    this.#timer = setTimeout(() => this.#expire(), delay);
  }

  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (const [key, entry] of this.#entries) {
      if (now - entry.since < this.#options.timeout) continue;
      this.#remove(key, entry);
      this.#closed.add(key);
      this.#options.counters.bad("frame_timeout");
      this.#options.logger.limited(
        "warn",
        "frame_timeout",
        "closing connection: frame not completed in time",
        {
          socket: entry.socket,
          timeout_ms: this.#options.timeout,
          bytes: entry.bytes,
        },
      );
      entry.close();
    }
    this.#arm();
  }

  /** Stops the timer. */
  [Symbol.dispose](): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#entries.clear();
    this.#bytes = 0;
  }
}
