/**
 * The benchmark's messages: `state_update` envelopes padded to a target body
 * size, carrying the publisher index, a counter and a publish timestamp under
 * keys the subscriber finds without a full JSON parse.
 *
 * @module
 */

import { encodeFrame } from "../protocol/mod.ts";

/**
 * Builds one framed message.
 *
 * @param type The event type.
 * @param fields `p` publisher index, `n` counter, `t` timestamp (ms), `size`
 *   target body bytes, `probe` marks a registration probe.
 * @returns The frame.
 */
export function benchFrame(
  type: string,
  fields: { p: number; n: number; t: number; size: number; probe?: boolean },
): Uint8Array {
  const value: Record<string, unknown> = {
    bench_p: fields.p,
    bench_n: fields.n,
    bench_t: fields.t,
    pad: "",
  };
  if (fields.probe) value.bench_probe = true;
  const message = {
    message_id: crypto.randomUUID(),
    timestamp: new Date().toISOString(),
    event_type: type,
    payload: { type: "state_update", state_key: "bench", state_value: value },
  };
  const bare = JSON.stringify(message).length;
  value.pad = "x".repeat(Math.max(0, fields.size - bare));
  return encodeFrame(message);
}

/**
 * Reads the number that follows `key` in `text`.
 *
 * @param text A message body.
 * @param key The key with its quotes and colon, e.g. `"seq":`.
 * @returns The number, or NaN when the key is absent.
 */
export function numberAfter(text: string, key: string): number {
  const i = text.indexOf(key);
  if (i < 0) return NaN;
  return parseFloat(text.slice(i + key.length, i + key.length + 24));
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
