import { closeQuietly } from "../transport/mod.ts";
import { COALESCE_BYTES, type FlowControl } from "./_flow_control.ts";

/** Why a subscriber went away. */
export type SubscriberEnd = "closed" | "error" | "slow" | "shutdown";

/** Called once when a {@linkcode Subscriber} is gone. */
export type SubscriberOnEnd = (sub: Subscriber, reason: SubscriberEnd, error?: unknown) => void;

/**
 * One monitor connection: a bounded queue of frames written in coalesced
 * batches, and a read loop that discards what the monitor sends and notices
 * when it goes away. No timers: both loops wait on the socket.
 */
export class Subscriber {
  readonly id: number;
  readonly channel: string;
  #conn: Deno.UnixConn;
  #flow: FlowControl;
  #onEnd: SubscriberOnEnd;
  #queue: Uint8Array[] = [];
  #head = 0;
  #queued = 0;
  #writing = false;
  #pressured = false;
  #ended = false;
  #drained: PromiseWithResolvers<void> | null = null;
  lastProgressAt = 0;

  constructor(
    id: number,
    channel: string,
    conn: Deno.UnixConn,
    flow: FlowControl,
    onEnd: SubscriberOnEnd,
  ) {
    this.id = id;
    this.channel = channel;
    this.#conn = conn;
    this.#flow = flow;
    this.#onEnd = onEnd;
    this.#readLoop();
  }

  get queuedBytes(): number {
    return this.#queued;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Queues a frame; disconnects the subscriber when its queue would exceed the limit. */
  send(frame: Uint8Array): void {
    if (this.#ended) return;
    if (this.#flow.overLimit(this.#queued, frame.byteLength)) {
      this.end("slow");
      return;
    }
    this.#queue.push(frame);
    this.#queued += frame.byteLength;
    if (!this.#pressured && this.#queued > this.#flow.pressureBytes) {
      this.#pressured = true;
      this.#flow.pressure(this);
    }
    if (!this.#writing) {
      this.#writing = true;
      this.lastProgressAt = performance.now();
      this.#writeLoop();
    }
  }

  /** Resolves when the queue is empty (or the subscriber has ended). */
  drained(): Promise<void> {
    if (this.#queued === 0 || this.#ended) return Promise.resolve();
    this.#drained ??= Promise.withResolvers();
    return this.#drained.promise;
  }

  #take(): Uint8Array {
    const first = this.#queue[this.#head]!;
    let end = this.#head + 1;
    let size = first.byteLength;
    while (end < this.#queue.length && size + this.#queue[end]!.byteLength <= COALESCE_BYTES) {
      size += this.#queue[end]!.byteLength;
      end++;
    }
    let chunk: Uint8Array;
    if (end === this.#head + 1) {
      chunk = first;
    } else {
      chunk = new Uint8Array(size);
      let offset = 0;
      for (let i = this.#head; i < end; i++) {
        chunk.set(this.#queue[i]!, offset);
        offset += this.#queue[i]!.byteLength;
      }
    }
    // Release references; compact the array once the consumed prefix is large.
    for (let i = this.#head; i < end; i++) this.#queue[i] = undefined as unknown as Uint8Array;
    this.#head = end;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return chunk;
  }

  async #writeLoop(): Promise<void> {
    try {
      while (!this.#ended && this.#head < this.#queue.length) {
        const chunk = this.#take();
        let offset = 0;
        while (offset < chunk.byteLength) {
          offset += await this.#conn.write(chunk.subarray(offset));
          this.lastProgressAt = performance.now();
        }
        this.#queued -= chunk.byteLength;
        if (this.#pressured && this.#queued <= this.#flow.pressureBytes) {
          this.#pressured = false;
          this.#flow.relief(this);
        }
      }
    } catch (error) {
      this.end("error", error);
    } finally {
      this.#writing = false;
      if (this.#queued === 0 || this.#ended) {
        this.#drained?.resolve();
        this.#drained = null;
      }
    }
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(512);
    try {
      while (await this.#conn.read(buffer) !== null) {
        // Monitors have nothing to say; bytes they send are discarded.
      }
      this.end("closed");
    } catch (error) {
      this.end(this.#ended ? "shutdown" : "error", error);
    }
  }

  /** Disconnects; idempotent. */
  end(reason: SubscriberEnd, error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#pressured) {
      this.#pressured = false;
      this.#flow.relief(this);
    }
    this.#queue = [];
    this.#head = 0;
    this.#queued = 0;
    closeQuietly(this.#conn);
    this.#drained?.resolve();
    this.#drained = null;
    this.#onEnd(this, reason, error);
  }
}
