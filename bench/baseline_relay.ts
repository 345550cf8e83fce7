/**
 * The benchmark baseline: a minimal relay that speaks the daemon's wire
 * protocol, validates nothing and adds nothing, written to be as fast as the
 * runtime allows, so the suite can quote the daemon's figures as ratios to
 * "what Deno can do". Frames read from `command.sock` are routed by their
 * `event_type` to every connection on `<type>_events.sock` (and on
 * `events.sock`), as the same bytes, in order:
 *
 * - **runs of frames**: consecutive complete frames of one type in a read are
 *   forwarded as one slice; the type is found by a byte scan for
 *   `"event_type":"` (at the previous frame's offset first), decoded only when
 *   a run starts. No JSON parse, no validation, no `seq`, no store.
 * - **one copy per read**, shared by every subscriber of every run in it.
 * - **coalesced writes**: a subscriber's pending slices go out as one write of
 *   up to 256 KiB (slices of 64 KiB or more are written without a copy).
 * - **lossless backpressure**: when a subscriber has more than 4 MiB pending,
 *   the relay stops reading from that publisher until it is under 1 MiB.
 *   Nothing is ever dropped; a stalled subscriber stalls its publishers.
 *
 * It is a yardstick, not a router: it trusts its publishers (the first
 * `"event_type"` key anywhere in a body wins).
 *
 * Usage (the daemon's flags are accepted; those it has no use for are ignored):
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-net bench/baseline_relay.ts SOCKET_DIR [--event-types a,b]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";

/** Pending bytes above which a subscriber pauses its publishers. */
const HIGH_WATER = 4 * 1024 * 1024;
/** Pending bytes under which paused publishers resume. */
const LOW_WATER = 1024 * 1024;
/** Most bytes joined into one write. */
const MAX_WRITE = 64 * 1024;
/** Slices at least this big are written as they are. */
const DIRECT_WRITE = 32 * 1024;

const decoder = new TextDecoder();
/** `"event_type"` as bytes. */
const KEY = new TextEncoder().encode('"event_type"');

/** One subscriber connection with its pending slices. */
class Subscriber {
  readonly conn: Deno.UnixConn;
  #pending: Uint8Array[] = [];
  #head = 0;
  pendingBytes = 0;
  #writing = false;
  #drained: (() => void)[] = [];
  closed = false;

  constructor(conn: Deno.UnixConn) {
    this.conn = conn;
  }

  send(slice: Uint8Array): void {
    if (this.closed) return;
    this.#pending.push(slice);
    this.pendingBytes += slice.byteLength;
    if (!this.#writing) this.#flush();
  }

  /** Resolves once pending bytes are under the low-water mark (or it closed). */
  drained(): Promise<void> {
    if (this.closed || this.pendingBytes < LOW_WATER) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  #next(): Uint8Array {
    const first = this.#pending[this.#head]!;
    if (first.byteLength >= DIRECT_WRITE || this.#head + 1 === this.#pending.length) {
      this.#head++;
      return first;
    }
    let size = 0;
    let end = this.#head;
    while (end < this.#pending.length && size + this.#pending[end]!.byteLength <= MAX_WRITE) {
      size += this.#pending[end]!.byteLength;
      end++;
    }
    if (end === this.#head + 1) {
      this.#head++;
      return first;
    }
    const chunk = new Uint8Array(size);
    let off = 0;
    for (let i = this.#head; i < end; i++) {
      chunk.set(this.#pending[i]!, off);
      off += this.#pending[i]!.byteLength;
    }
    this.#head = end;
    return chunk;
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#head < this.#pending.length && !this.closed) {
        const chunk = this.#next();
        if (this.#head === this.#pending.length) {
          this.#pending = [];
          this.#head = 0;
        }
        let off = 0;
        while (off < chunk.byteLength) off += await this.conn.write(chunk.subarray(off));
        this.pendingBytes -= chunk.byteLength;
        if (this.pendingBytes < LOW_WATER) this.#wake();
      }
    } catch {
      this.close();
    } finally {
      this.#writing = false;
    }
  }

  #wake(): void {
    for (const resolve of this.#drained.splice(0)) resolve();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#pending = [];
    this.#head = 0;
    this.pendingBytes = 0;
    this.#wake();
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

/** Subscribers of one socket. */
interface Channel {
  listener: Deno.UnixListener;
  subscribers: Set<Subscriber>;
}

const { positionals, values } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  strict: false,
  options: { "event-types": { type: "string" } },
});
const socketDir = positionals.find((p) => p !== "serve");
if (socketDir === undefined) {
  // deno-lint-ignore no-console
  console.error("usage: baseline_relay.ts SOCKET_DIR [--event-types a,b]");
  Deno.exit(2);
}

const channels = new Map<string, Channel>();
const listeners: Deno.UnixListener[] = [];

function openChannel(path: string): Channel {
  const listener = Deno.listen({ transport: "unix", path });
  listeners.push(listener);
  const channel: Channel = { listener, subscribers: new Set() };
  acceptSubscribers(channel);
  return channel;
}

async function acceptSubscribers(channel: Channel): Promise<void> {
  try {
    for await (const conn of channel.listener) {
      const sub = new Subscriber(conn);
      channel.subscribers.add(sub);
      drainSubscriber(channel, sub);
    }
  } catch {
    // listener closed
  }
}

/** Reads and discards what a subscriber sends, to notice it leaving. */
async function drainSubscriber(channel: Channel, sub: Subscriber): Promise<void> {
  const buf = new Uint8Array(4096);
  try {
    while ((await sub.conn.read(buf)) !== null) {
      // thrown away
    }
  } catch {
    // reset
  }
  channel.subscribers.delete(sub);
  sub.close();
}

const TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function channelFor(eventType: string): Channel | null {
  let channel = channels.get(eventType);
  if (channel === undefined) {
    if (!TYPE_RE.test(eventType)) return null;
    channel = openChannel(`${socketDir}/${eventType}_events.sock`);
    channels.set(eventType, channel);
  }
  return channel;
}

const firehose = openChannel(`${socketDir}/events.sock`);

/** Whether `KEY` is at `at` in `b`. */
function keyAt(b: Uint8Array, at: number): boolean {
  if (at < 0 || at + KEY.byteLength > b.byteLength) return false;
  for (let i = 0; i < KEY.byteLength; i++) if (b[at + i] !== KEY[i]) return false;
  return true;
}

/** The start and end of the `event_type` string value in `b[from..to)`, or null. */
function typeSpan(b: Uint8Array, from: number, to: number, hint: number): [number, number] | null {
  let at = from + hint;
  if (!keyAt(b, at) || at + KEY.byteLength > to) {
    at = -1;
    for (let i = from; i + KEY.byteLength <= to; i++) {
      if (b[i] === 34 && keyAt(b, i)) {
        at = i;
        break;
      }
    }
    if (at < 0) return null;
  }
  let i = at + KEY.byteLength;
  while (i < to && (b[i] === 32 || b[i] === 58 || b[i] === 9 || b[i] === 10 || b[i] === 13)) i++;
  if (b[i] !== 34) return null;
  const start = i + 1;
  let end = start;
  while (end < to && b[end] !== 34) end++;
  return end < to ? [start, end] : null;
}

function sameBytes(b: Uint8Array, s1: number, e1: number, s2: number, e2: number): boolean {
  if (e1 - s1 !== e2 - s2) return false;
  for (let i = 0; i < e1 - s1; i++) if (b[s1 + i] !== b[s2 + i]) return false;
  return true;
}

/** Sends one run of frames to its channel and the firehose; returns the channels written. */
function forward(channel: Channel | null, run: Uint8Array, touched: Set<Channel>): void {
  for (const target of [channel, firehose]) {
    if (target === null || target.subscribers.size === 0) continue;
    for (const sub of target.subscribers) sub.send(run);
    touched.add(target);
  }
}

/**
 * Routes the complete frames in `data` (a copy the subscribers may keep) as
 * runs; returns the bytes used (the rest is a partial frame).
 */
function routeRuns(data: Uint8Array, touched: Set<Channel>): number {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let off = 0;
  let runStart = 0;
  let runChannel: Channel | null = null;
  // Where the current run's type bytes are, and the key's offset in its frames.
  let typeStart = -1;
  let typeEnd = -1;
  let hint = 0;
  while (off + 4 <= data.byteLength) {
    const len = view.getUint32(off, false);
    if (len === 0) throw new Error("Cannot relay: expected a frame length >= 1, received 0");
    if (off + 4 + len > data.byteLength) break;
    const body = off + 4;
    const span = typeSpan(data, body, body + len, hint);
    if (span === null) {
      // No event_type: dropped, as the daemon drops it; ends the run.
      if (off > runStart) forward(runChannel, data.subarray(runStart, off), touched);
      off = body + len;
      runStart = off;
      typeStart = -1;
      continue;
    }
    hint = span[0] - KEY.byteLength - 2 - body;
    if (typeStart < 0 || !sameBytes(data, span[0], span[1], typeStart, typeEnd)) {
      if (off > runStart) forward(runChannel, data.subarray(runStart, off), touched);
      runStart = off;
      runChannel = channelFor(decoder.decode(data.subarray(span[0], span[1])));
    }
    typeStart = span[0];
    typeEnd = span[1];
    off = body + len;
  }
  if (off > runStart) forward(runChannel, data.subarray(runStart, off), touched);
  return off;
}

async function servePublisher(conn: Deno.UnixConn): Promise<void> {
  const read = new Uint8Array(256 * 1024);
  let carry: Uint8Array | null = null;
  const touched = new Set<Channel>();
  try {
    for (;;) {
      const n = await conn.read(read);
      if (n === null) break;
      // The one copy: complete frames of this read (and a carried partial).
      let data: Uint8Array;
      if (carry === null) data = read.slice(0, n);
      else {
        data = new Uint8Array(carry.byteLength + n);
        data.set(carry);
        data.set(read.subarray(0, n), carry.byteLength);
        carry = null;
      }
      const used = routeRuns(data, touched);
      if (used < data.byteLength) carry = data.slice(used);
      // Lossless backpressure: wait for any subscriber that is far behind.
      for (const channel of touched) {
        for (const sub of channel.subscribers) {
          if (sub.pendingBytes > HIGH_WATER) await sub.drained();
        }
      }
      touched.clear();
    }
  } catch {
    // reset or bad frame: drop the connection
  }
  try {
    conn.close();
  } catch {
    // already closed
  }
}

for (const type of String(values["event-types"] ?? "").split(",").filter(Boolean)) {
  channelFor(type);
}
const command = Deno.listen({ transport: "unix", path: `${socketDir}/command.sock` });
listeners.push(command);

function shutdown(): void {
  for (const l of listeners) {
    try {
      l.close();
    } catch {
      // already closed
    }
  }
  Deno.exit(0);
}
Deno.addSignalListener("SIGTERM", shutdown);
Deno.addSignalListener("SIGINT", shutdown);

for await (const conn of command) servePublisher(conn);
