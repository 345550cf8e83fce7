/**
 * Micro-benchmarks of the router's per-message checks (`deno bench
 * --allow-read tests/protocol/`): the regex timestamp check against the
 * hand-written one, the zod envelope schema against the written-out check,
 * decoding a body per message against once per read, and `JSON.parse`
 * against a plain byte loop (the floor for a byte-level scanner in JS).
 *
 * @module
 */

import { isIsoTimestamp } from "../../protocol/mod.ts";
import { checkIsoTimestamp } from "../../protocol/_timestamp.ts";
import { envelopeIssue } from "../../protocol/_envelope.ts";
import { messageSchema } from "../../protocol/_schemas.ts";
import { validateMessage } from "../../protocol/message_validator.ts";
import { BodyTexts } from "../../protocol/_body_text.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A 250-byte `state_update`, as the bench's publisher sends. */
function benchBody(n: number): string {
  const message = {
    message_id: crypto.randomUUID(),
    timestamp: new Date(1_796_000_000_000 + n).toISOString(),
    event_type: "bench",
    payload: {
      type: "state_update",
      state_key: "bench",
      state_value: { bench_p: 0, bench_n: n, bench_t: 1_796_000_000_000 + n, pad: "" },
    },
  };
  const bare = JSON.stringify(message).length;
  message.payload.state_value.pad = "x".repeat(Math.max(0, 250 - bare));
  return JSON.stringify(message);
}

const texts = Array.from({ length: 256 }, (_, n) => benchBody(n));
const bodies = texts.map((t) => encoder.encode(t));
const values = texts.map((t) => JSON.parse(t) as Record<string, unknown>);
const chunk = new Uint8Array(bodies.reduce((n, b) => n + b.byteLength, 0));
{
  let off = 0;
  for (const b of bodies) {
    chunk.set(b, off);
    off += b.byteLength;
  }
}
const stamps = [
  "2026-11-25T11:40:00.123456",
  "2026-11-25T11:40:00.123Z",
  "2026-11-25 11:40:00+01:00",
];
let sink = 0;
let i = 0;

Deno.bench("timestamp: isIsoTimestamp (regex)", { group: "timestamp", baseline: true }, () => {
  if (isIsoTimestamp(stamps[i++ % 3]!)) sink++;
});
Deno.bench("timestamp: checkIsoTimestamp (hand-written)", { group: "timestamp" }, () => {
  if (checkIsoTimestamp(stamps[i++ % 3]!)) sink++;
});

Deno.bench("envelope: zod messageSchema.safeParse", { group: "envelope", baseline: true }, () => {
  if (messageSchema.safeParse(values[i++ & 255]).success) sink++;
});
Deno.bench("envelope: validateMessage (check + copy)", { group: "envelope" }, () => {
  if (validateMessage(values[i++ & 255]).ok) sink++;
});
Deno.bench("envelope: envelopeIssue (check only)", { group: "envelope" }, () => {
  if (envelopeIssue(values[i++ & 255]!) === null) sink++;
});

Deno.bench("parse: decode + JSON.parse per message", { group: "parse", baseline: true }, () => {
  const v = JSON.parse(decoder.decode(bodies[i++ & 255]!));
  if (v.event_type === "bench") sink++;
});
Deno.bench("parse: JSON.parse of a slice of one decode per read", { group: "parse" }, (b) => {
  const text = decoder.decode(chunk);
  b.start();
  let off = 0;
  for (const body of bodies) {
    const v = JSON.parse(text.slice(off, off + body.byteLength));
    if (v.event_type === "bench") sink++;
    off += body.byteLength;
  }
  b.end();
});
Deno.bench("decode: fatal decode of one 64 KiB read", { group: "decode", baseline: true }, () => {
  sink += decoder.decode(chunk).length;
});
const bodyTexts = new BodyTexts();
Deno.bench("decode: BodyTexts.decode of one read (256 bodies, lenient + check)", {
  group: "decode",
}, () => {
  sink += bodyTexts.decode(bodies).length;
});
Deno.bench("decode: fatal decode of each of 256 bodies", { group: "decode" }, () => {
  for (const body of bodies) sink += decoder.decode(body).length;
});

globalThis.addEventListener("unload", () => {
  if (sink < 0) throw new Error("unreachable");
});

/**
 * A lower bound for a byte-level scanner written in JS: one pass that only
 * tracks strings and nesting (no UTF-8 or grammar checks, no key lookup).
 */
function skim(body: Uint8Array): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let k = 0; k < body.byteLength; k++) {
    const c = body[k]!;
    if (inString) {
      if (c === 0x5c) k++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}
Deno.bench("parse: JS byte skim of one message (scanner lower bound)", { group: "parse" }, () => {
  sink += skim(bodies[i++ & 255]!);
});
Deno.bench("parse: JSON.parse of one pre-decoded message", { group: "parse" }, () => {
  const v = JSON.parse(texts[i++ & 255]!);
  if (v.event_type === "bench") sink++;
});
