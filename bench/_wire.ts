/**
 * The benchmark client's three wires, behind one publisher and one subscriber
 * shape, so every scenario drives the daemon, the baseline relay, Redis and
 * NATS with the same messages, batch size and checks:
 *
 * - `dotfiles` (daemon and relay): frames on Unix sockets, raw bytes; a
 *   batch is one write of concatenated frames.
 * - `redis`: a minimal RESP client on the Unix socket. Publishers pipeline
 *   `PUBLISH` commands in one write per batch and read the integer replies,
 *   keeping at most {@linkcode REDIS_WINDOW} unanswered (Redis has no other
 *   backpressure to a publisher). Subscribers parse the pushed
 *   `message` arrays in place.
 * - `nats`: the official client (`@nats-io/transport-node`). Publishes of a
 *   batch are issued in one synchronous loop with the client's flush
 *   threshold set to the batch size, so the client writes them as one
 *   64 KiB write; a window of `flush()` round trips keeps the publisher at
 *   most {@linkcode NATS_WINDOW} batches ahead of the server.
 *
 * @module
 */

import type { ConnectionOptions, NatsConnection } from "@nats-io/transport-node";
import { sleep, writeAll } from "./_message.ts";

/** Which wire a system speaks. */
export type Protocol = "dotfiles" | "redis" | "nats";

/** Where a system listens. */
export interface Endpoint {
  protocol: Protocol;
  /** dotfiles: the socket dir; redis: the socket path; nats: `host:port`. */
  address: string;
}

/** A publisher connection. */
export interface Publisher {
  /** Groups `[type, body]` messages into batches of about `batchBytes`. */
  prepare(messages: [string, Uint8Array][], batchBytes: number): unknown[];
  /** Sends one prepared batch (waits when the flow-control window is full). */
  write(batch: unknown): Promise<void>;
  /** Waits until the server has taken everything written. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/** A subscriber connection; `onBody` gets each message body (a view, valid during the call). */
export interface Subscription {
  /** Resolves when the connection ends. */
  ended: Promise<void>;
  close(): Promise<void>;
}

/** Redis: most PUBLISH commands in flight before the publisher waits for replies. */
export const REDIS_WINDOW = 4096;
/** NATS: most batches in flight before the publisher waits for a PONG. */
export const NATS_WINDOW = 16;

const enc = new TextEncoder();

async function connectUnix(path: string, waitMs = 10_000): Promise<Deno.UnixConn> {
  const until = performance.now() + waitMs;
  for (;;) {
    try {
      return await Deno.connect({ transport: "unix", path });
    } catch (err) {
      if (performance.now() > until) throw err;
      await sleep(10);
    }
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/** A batch of encoded messages, written at once. */
interface ByteBatch {
  bytes: Uint8Array;
  /** Messages in it. */
  n: number;
}

/** Groups encoded commands into byte batches of about `batchBytes`. */
function byteBatches(encoded: Uint8Array[], batchBytes: number): ByteBatch[] {
  const out: ByteBatch[] = [];
  let pending: Uint8Array[] = [];
  let bytes = 0;
  for (const e of encoded) {
    if (bytes > 0 && bytes + e.byteLength > batchBytes) {
      out.push({ bytes: concat(pending, bytes), n: pending.length });
      pending = [];
      bytes = 0;
    }
    pending.push(e);
    bytes += e.byteLength;
  }
  if (bytes > 0) out.push({ bytes: concat(pending, bytes), n: pending.length });
  return out;
}

/**
 * Reassembles a byte stream into units (frames, RESP arrays) without copying
 * what arrives whole: `parse(buf, end)` consumes complete units from offset 0
 * and returns where the incomplete rest starts; only that rest is copied.
 */
async function readUnits(
  conn: Deno.Conn,
  parse: (buf: Uint8Array) => number,
): Promise<void> {
  const read = new Uint8Array(256 * 1024);
  let carry: Uint8Array | null = null;
  try {
    for (;;) {
      const n = await conn.read(read);
      if (n === null) break;
      let buf: Uint8Array = read.subarray(0, n);
      if (carry !== null) {
        buf = concat([carry, buf], carry.byteLength + n);
        carry = null;
      }
      const used = parse(buf);
      if (used < buf.byteLength) carry = buf.slice(used);
    }
  } catch {
    // reset, or closed by us
  }
}

// ------------------------------------------------------------ dotfiles wire

function frame(body: Uint8Array): Uint8Array {
  const f = new Uint8Array(4 + body.byteLength);
  new DataView(f.buffer).setUint32(0, body.byteLength, false);
  f.set(body, 4);
  return f;
}

/** Calls `onBody` for each complete frame in `buf`; returns the bytes used. */
export function parseFrames(buf: Uint8Array, onBody: (b: Uint8Array) => void): number {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off + 4 <= buf.byteLength) {
    const len = view.getUint32(off, false);
    if (off + 4 + len > buf.byteLength) break;
    onBody(buf.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  return off;
}

async function dotfilesPublisher(socketDir: string): Promise<Publisher> {
  const conn = await connectUnix(`${socketDir}/command.sock`);
  return {
    prepare: (messages, batchBytes) => byteBatches(messages.map(([, b]) => frame(b)), batchBytes),
    write: (batch) => writeAll(conn, (batch as ByteBatch).bytes),
    drain: () => Promise.resolve(),
    close: () => Promise.resolve(conn.close()),
  };
}

async function dotfilesSubscribe(
  socketDir: string,
  type: string,
  onBody: (b: Uint8Array) => void,
): Promise<Subscription> {
  const conn = await connectUnix(`${socketDir}/${type}_events.sock`);
  const ended = readUnits(conn, (buf) => parseFrames(buf, onBody));
  return { ended, close: () => closeAndWait(conn, ended) };
}

async function closeAndWait(conn: Deno.Conn, ended: Promise<void>): Promise<void> {
  try {
    conn.close();
  } catch {
    // already closed
  }
  await ended;
}

// ------------------------------------------------------------ redis wire

function bulk(bytes: Uint8Array): Uint8Array[] {
  return [enc.encode(`$${bytes.byteLength}\r\n`), bytes, enc.encode("\r\n")];
}

/** Encodes a RESP command (an array of bulk strings). */
export function resp(...args: (string | Uint8Array)[]): Uint8Array {
  const parts: Uint8Array[] = [enc.encode(`*${args.length}\r\n`)];
  for (const a of args) parts.push(...bulk(typeof a === "string" ? enc.encode(a) : a));
  return concat(parts, parts.reduce((n, p) => n + p.byteLength, 0));
}

/** Reads a RESP integer/length line at `at` (after the type byte); -1 when incomplete. */
function readLine(buf: Uint8Array, at: number): [value: number, next: number] | null {
  let v = 0;
  let neg = false;
  let i = at;
  if (buf[i] === 45) {
    neg = true;
    i++;
  }
  for (; i < buf.byteLength; i++) {
    const c = buf[i]!;
    if (c === 13) {
      if (i + 1 >= buf.byteLength) return null;
      return [neg ? -v : v, i + 2];
    }
    v = v * 10 + (c - 48);
  }
  return null;
}

/**
 * Parses pushed RESP arrays (`message`, `subscribe` confirmations) in `buf`;
 * calls `onBody` with the payload of each `message`. Returns the bytes used.
 */
export function parsePushes(buf: Uint8Array, onBody: (b: Uint8Array) => void): number {
  let off = 0;
  outer: while (off < buf.byteLength) {
    if (buf[off] !== 42) {
      throw new Error(`Cannot parse RESP push: expected '*', received ${buf[off]}`);
    }
    const head = readLine(buf, off + 1);
    if (head === null) break;
    let [count, at] = head;
    let first: Uint8Array | null = null;
    let last: Uint8Array | null = null;
    for (let k = 0; k < count; k++) {
      if (at >= buf.byteLength) break outer;
      const t = buf[at];
      const line = readLine(buf, at + 1);
      if (line === null) break outer;
      if (t === 36) {
        const [len, start] = line;
        if (start + len + 2 > buf.byteLength) break outer;
        const value = buf.subarray(start, start + len);
        if (k === 0) first = value;
        last = value;
        at = start + len + 2;
      } else {
        at = line[1];
      }
    }
    // "message" is 7 bytes starting with 'm'; its third element is the payload.
    if (first !== null && first.byteLength === 7 && first[0] === 109 && last !== null) {
      onBody(last);
    }
    off = at;
  }
  return off;
}

async function redisPublisher(path: string): Promise<Publisher> {
  const conn = await connectUnix(path);
  let sent = 0;
  let answered = 0;
  let error: string | null = null;
  let wake: (() => void) | null = null;
  const reader = readUnits(conn, (buf) => {
    for (let i = 0; i < buf.byteLength; i++) {
      if (buf[i] === 10) answered++;
      else if (buf[i] === 45 && error === null) {
        error = new TextDecoder().decode(buf.slice(i, i + 80));
      }
    }
    wake?.();
    return buf.byteLength;
  });
  async function until(ok: () => boolean): Promise<void> {
    while (!ok()) {
      if (error !== null) throw new Error(`Redis refused a PUBLISH: ${error}`);
      await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
  }
  return {
    prepare: (messages, batchBytes) =>
      byteBatches(messages.map(([type, body]) => resp("PUBLISH", type, body)), batchBytes),
    write: async (batch) => {
      const { bytes, n } = batch as ByteBatch;
      await until(() => sent - answered + n <= REDIS_WINDOW || sent === answered);
      sent += n;
      await writeAll(conn, bytes);
    },
    drain: () => until(() => answered >= sent),
    close: () => closeAndWait(conn, reader),
  };
}

async function redisSubscribe(
  path: string,
  type: string,
  onBody: (b: Uint8Array) => void,
): Promise<Subscription> {
  const conn = await connectUnix(path);
  await writeAll(conn, resp("SUBSCRIBE", type));
  const ended = readUnits(conn, (buf) => parsePushes(buf, onBody));
  return { ended, close: () => closeAndWait(conn, ended) };
}

// ------------------------------------------------------------ nats wire

/**
 * Connects with the official client, loaded on first use (the daemon's and
 * Redis's clients never load it). `pendingLimit` (hidden) is the client's
 * flush threshold: one write per batch.
 */
async function natsConnect(address: string): Promise<NatsConnection> {
  const { connect } = await import("@nats-io/transport-node");
  const options = { servers: address, pendingLimit: 64 * 1024, noEcho: true };
  return await connect(options as ConnectionOptions);
}

async function natsPublisher(address: string): Promise<Publisher> {
  const nc: NatsConnection = await natsConnect(address);
  const pongs: Promise<void>[] = [];
  return {
    prepare: (messages, batchBytes) => {
      const out: [string, Uint8Array][][] = [];
      let pending: [string, Uint8Array][] = [];
      let bytes = 0;
      for (const m of messages) {
        if (bytes > 0 && bytes + m[1].byteLength > batchBytes) {
          out.push(pending);
          pending = [];
          bytes = 0;
        }
        pending.push(m);
        bytes += m[1].byteLength;
      }
      if (pending.length) out.push(pending);
      return out;
    },
    write: async (batch) => {
      for (const [type, body] of batch as [string, Uint8Array][]) nc.publish(type, body);
      pongs.push(nc.flush());
      while (pongs.length > NATS_WINDOW) await pongs.shift();
    },
    drain: async () => {
      await Promise.all(pongs.splice(0));
      await nc.flush();
    },
    close: () => nc.close(),
  };
}

async function natsSubscribe(
  address: string,
  type: string,
  onBody: (b: Uint8Array) => void,
): Promise<Subscription> {
  const nc = await natsConnect(address);
  nc.subscribe(type, { callback: (_err, msg) => onBody(msg.data) });
  await nc.flush();
  const ended = nc.closed().then(() => {});
  return { ended, close: () => nc.close() };
}

// ------------------------------------------------------------ dispatch

/** Opens a publisher connection to `ep`. */
export function openPublisher(ep: Endpoint): Promise<Publisher> {
  if (ep.protocol === "redis") return redisPublisher(ep.address);
  if (ep.protocol === "nats") return natsPublisher(ep.address);
  return dotfilesPublisher(ep.address);
}

/** Opens a subscriber connection to `type` on `ep`. */
export function openSubscriber(
  ep: Endpoint,
  type: string,
  onBody: (b: Uint8Array) => void,
): Promise<Subscription> {
  if (ep.protocol === "redis") return redisSubscribe(ep.address, type, onBody);
  if (ep.protocol === "nats") return natsSubscribe(ep.address, type, onBody);
  return dotfilesSubscribe(ep.address, type, onBody);
}
