/**
 * The benchmark's messages: `state_update` envelopes padded to a target body
 * size. The publisher index and the counter travel in the `message_id`, a
 * UUID-shaped string at a fixed offset (`PPPPPPPP-0000-4000-8000-NNNNNNNNNNNN`),
 * so a subscriber checks order on the raw bytes without decoding or parsing
 * (the check must cost far less than the relays it measures). The publish
 * timestamp (latency runs) is in the payload as `bench_t`.
 *
 * @module
 */

const encoder = new TextEncoder();

/** The publisher index that marks a registration probe. */
export const PROBE = 0xffffffff;

/** Offset of the publisher index in a body: after `{"message_id":"`. */
const P_AT = 15;
/** Offset of the counter: the UUID's last group. */
const N_AT = P_AT + 24;

/**
 * Builds one message body (the JSON bytes, unframed).
 *
 * @param type The event type.
 * @param fields `p` publisher index ({@linkcode PROBE} for probes), `n`
 *   counter, `t` timestamp (ms since the epoch), `size` target body bytes.
 * @returns The body.
 */
export function benchBody(
  type: string,
  fields: { p: number; n: number; t: number; size: number },
): Uint8Array {
  const id = `${fields.p.toString(16).padStart(8, "0")}-0000-4000-8000-${
    fields.n.toString(16).padStart(12, "0")
  }`;
  const value = { bench_t: fields.t, pad: "" };
  const message = {
    message_id: id,
    timestamp: new Date().toISOString(),
    event_type: type,
    payload: { type: "state_update", state_key: "bench", state_value: value },
  };
  const bare = JSON.stringify(message).length;
  value.pad = "x".repeat(Math.max(0, fields.size - bare));
  return encoder.encode(JSON.stringify(message));
}

function hexAt(b: Uint8Array, at: number, len: number): number {
  let v = 0;
  for (let i = at; i < at + len; i++) {
    const c = b[i]!;
    v = v * 16 + (c <= 57 ? c - 48 : (c | 32) - 87);
  }
  return v;
}

/** Whether `b` starts as a bench body does (`{"message_id":"` ... `-4000-8000-`). */
export function isBenchBody(b: Uint8Array): boolean {
  return b.byteLength > N_AT + 12 && b[0] === 123 && b[P_AT - 1] === 34 && b[N_AT - 1] === 45 &&
    b[N_AT + 12] === 34;
}

/** The publisher index of a bench body. */
export function publisherOf(b: Uint8Array): number {
  return hexAt(b, P_AT, 8);
}

/** The counter of a bench body. */
export function counterOf(b: Uint8Array): number {
  return hexAt(b, N_AT, 12);
}

/**
 * The `seq` the daemon spliced in as the body's last key (`…,"seq":42}`),
 * or -1 when there is none (the relay, Redis and NATS forward bodies as sent,
 * which end in `}}}`).
 */
export function seqOf(b: Uint8Array): number {
  let i = b.byteLength - 2;
  let c = b[i]!;
  if (c < 48 || c > 57) return -1;
  let seq = 0;
  let m = 1;
  while (c >= 48 && c <= 57) {
    seq += (c - 48) * m;
    m *= 10;
    c = b[--i]!;
  }
  return seq;
}

/**
 * Writes all of `bytes` (a socket write may be partial).
 *
 * @param conn The connection.
 * @param bytes The bytes.
 */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.byteLength) off += await conn.write(bytes.subarray(off));
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
