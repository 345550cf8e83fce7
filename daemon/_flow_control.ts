/**
 * The slow-subscriber policy in one place (DESIGN.md "Slow subscribers", as
 * nats-server does it): each subscriber has a bounded queue; one that rises
 * above half its limit while still reading holds publishers back for a
 * short, bounded time per read, so a monitor that is merely slower catches
 * up and nothing is lost; one that stops reading stops holding anyone back
 * and is cut off when its queue reaches the limit.
 *
 * @module
 */
import { abortable, sleep } from "../transport/mod.ts";

/** Largest write assembled from a subscriber's queued frames. */
export const COALESCE_BYTES = 64 * 1024;
/**
 * A subscriber that made no write progress for this long counts as stalled:
 * it no longer holds publishers back, and its queue fills until it is cut off.
 * A write completes only when the kernel finds the socket writable again, which
 * for a Unix socket means the reader drained three quarters of its buffer: a
 * reader that is slow but reading (on a loaded machine, 300-600 ms between
 * completions was measured) must not count as stalled. A stalled one costs
 * publishers about this long, once.
 */
export const STALL_MS = 750;
/**
 * Longest a publisher's read is held back, in total, while subscribers
 * catch up: nats-server's `stallTotalAllowed`, 10 ms per read-loop pass.
 */
export const MAX_STALL_PER_READ_MS = 10;
/** Bytes read from a publisher at once. */
export const READ_BYTES = 64 * 1024;
/** Bytes read at once, shared among the publishers, while under pressure. */
export const PRESSURED_READ_BYTES = 4 * 1024;
/** The smallest read under pressure, however many publishers share it. */
const MIN_READ_BYTES = 512;

/** What the policy reads of a subscriber. */
export interface FlowSubscriber {
  /** Bytes queued and not yet written. */
  readonly queuedBytes: number;
  /** `performance.now()` of its last write progress. */
  readonly lastProgressAt: number;
}

/** Options of {@linkcode FlowControl}. */
export interface FlowControlOptions {
  /** Bytes queued per subscriber before it is cut off. */
  queueLimit: number;
  /**
   * Longest total hold-back of one publisher read, in milliseconds.
   *
   * @default {10}
   */
  maxStallPerRead?: number;
  /**
   * Waits `ms` or until `signal` aborts; the timer every hold-back uses.
   *
   * @default {setTimeout}
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * Decides when a subscriber is cut off, when publishers are held back, for
 * how long and how much they read. Subscribers report crossing half their limit
 * through {@linkcode FlowControl.pressure} and {@linkcode FlowControl.relief}; publishers call
 * {@linkcode FlowControl.readSize} before and {@linkcode FlowControl.throttle}
 * after each read.
 */
export class FlowControl {
  /** Bytes queued per subscriber before it is cut off. */
  readonly queueLimit: number;
  /** Bytes queued above which a subscriber that is still reading holds publishers back. */
  readonly pressureBytes: number;
  #maxStall: number;
  #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  #pressured = new Set<FlowSubscriber>();
  /** The hold-back in progress, shared by every publisher waiting. */
  #window: { done: Promise<void>; abort: AbortController } | null = null;

  /** @param options See {@linkcode FlowControlOptions}. */
  constructor(options: FlowControlOptions) {
    this.queueLimit = options.queueLimit;
    this.pressureBytes = options.queueLimit / 2;
    this.#maxStall = options.maxStallPerRead ?? MAX_STALL_PER_READ_MS;
    this.#sleep = options.sleep ?? sleep;
  }

  /**
   * Whether a subscriber with `queued` bytes queued must be cut off rather
   * than queue `adding` more.
   */
  overLimit(queued: number, adding: number): boolean {
    return queued + adding > this.queueLimit;
  }

  /** A subscriber's queue rose above {@linkcode FlowControl.pressureBytes}. */
  pressure(sub: FlowSubscriber): void {
    this.#pressured.add(sub);
  }

  /** A subscriber's queue fell back to {@linkcode FlowControl.pressureBytes} or below, or it ended. */
  relief(sub: FlowSubscriber): void {
    if (this.#pressured.delete(sub) && this.#pressured.size === 0) this.#release();
  }

  /**
   * Whether a subscriber that is still making progress has more than half
   * its queue limit queued: publishers are then held back after each read.
   */
  get pressured(): boolean {
    if (this.#pressured.size === 0) return false;
    const now = performance.now();
    for (const sub of this.#pressured) {
      if (now - sub.lastProgressAt < STALL_MS) return true;
    }
    return false;
  }

  /**
   * How many bytes a publisher reads next. Under pressure the reads of all
   * publishers together admit {@linkcode PRESSURED_READ_BYTES} per hold-back,
   * so ten publishers go at the pace of one.
   *
   * @param publishers Publishers connected now.
   */
  readSize(publishers: number): number {
    if (!this.pressured) return READ_BYTES;
    return Math.max(MIN_READ_BYTES, Math.floor(PRESSURED_READ_BYTES / Math.max(1, publishers)));
  }

  /**
   * After a read: while under pressure, waits for relief, at most
   * `maxStallPerRead`. Publishers share one wait: a publisher that comes
   * while one is in progress waits for the rest of it, so a read is never
   * held back longer however many publishers there are, and each publisher
   * reads once per wait.
   *
   * @param signal Ends the wait early.
   */
  async throttle(signal?: AbortSignal): Promise<void> {
    if (!this.pressured || signal?.aborted) return;
    if (this.#window === null) {
      const abort = new AbortController();
      const window = {
        abort,
        done: this.#sleep(this.#maxStall, abort.signal).catch(() => {}).finally(() => {
          if (this.#window === window) this.#window = null;
        }),
      };
      this.#window = window;
    }
    await abortable(this.#window.done, signal).catch(() => {});
  }

  #release(): void {
    this.#window?.abort.abort();
    this.#window = null;
  }

  /** Ends any hold-back in progress (at shutdown). */
  close(): void {
    this.#pressured.clear();
    this.#release();
  }
}
