/**
 * The benchmark baseline: a minimal relay that speaks the daemon's wire
 * protocol and adds nothing. Frames read from `command.sock` are routed by
 * their `event_type` to every connection on `<type>_events.sock` (and on
 * `events.sock`), as the same bytes, in order. No validation beyond reading
 * `event_type`, no `seq`, no state, no history, no limits: unbounded queues,
 * the frames of one read sent to each subscriber as one buffer, one coalescing
 * writer per subscriber. It measures what the runtime itself
 * allows, so the suite can quote the daemon's figures as ratios to it.
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
import { FrameDecoder } from "../protocol/mod.ts";

const decoder = new TextDecoder();

/** One subscriber connection with its pending frames. */
class Subscriber {
  readonly conn: Deno.UnixConn;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #writing = false;
  closed = false;

  constructor(conn: Deno.UnixConn) {
    this.conn = conn;
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    this.#pending.push(frame);
    this.#pendingBytes += frame.byteLength;
    if (!this.#writing) this.#flush();
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#pending.length > 0 && !this.closed) {
        let chunk: Uint8Array;
        if (this.#pending.length === 1) {
          chunk = this.#pending[0]!;
        } else {
          chunk = new Uint8Array(this.#pendingBytes);
          let off = 0;
          for (const f of this.#pending) {
            chunk.set(f, off);
            off += f.byteLength;
          }
        }
        this.#pending = [];
        this.#pendingBytes = 0;
        let off = 0;
        while (off < chunk.byteLength) off += await this.conn.write(chunk.subarray(off));
      }
    } catch {
      this.close();
    } finally {
      this.#writing = false;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#pending = [];
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

/** Subscribers of one socket; the listener is kept for shutdown. */
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

function channelFor(eventType: string): Channel {
  let channel = channels.get(eventType);
  if (channel === undefined) {
    channel = openChannel(`${socketDir}/${eventType}_events.sock`);
    channels.set(eventType, channel);
  }
  return channel;
}

const firehose = openChannel(`${socketDir}/events.sock`);

/** Frames routed from one read, per channel, sent as one buffer. */
const batch = new Map<Channel, Uint8Array[]>();

function route(body: Uint8Array): void {
  let eventType: unknown;
  try {
    eventType = JSON.parse(decoder.decode(body)).event_type;
  } catch {
    return;
  }
  if (typeof eventType !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(eventType)) {
    return;
  }
  const channel = channelFor(eventType);
  for (const target of [channel, firehose]) {
    if (target.subscribers.size === 0) continue;
    let frames = batch.get(target);
    if (frames === undefined) batch.set(target, frames = []);
    frames.push(body);
  }
}

/** Sends each channel's frames from this read to its subscribers, copied once. */
function flushBatch(): void {
  for (const [channel, bodies] of batch) {
    let size = 0;
    for (const b of bodies) size += 4 + b.byteLength;
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    let off = 0;
    for (const b of bodies) {
      view.setUint32(off, b.byteLength, false);
      out.set(b, off + 4);
      off += 4 + b.byteLength;
    }
    for (const sub of channel.subscribers) sub.send(out);
  }
  batch.clear();
}

async function servePublisher(conn: Deno.UnixConn): Promise<void> {
  const frames = new FrameDecoder(Number.MAX_SAFE_INTEGER);
  const buf = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      try {
        frames.push(buf.subarray(0, n), route);
      } finally {
        flushBatch();
      }
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
