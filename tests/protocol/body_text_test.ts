import assert from "node:assert/strict";
import { BodyTexts, decodeOne } from "../../protocol/_body_text.ts";
import { fuzzSeed, Prng } from "./_prng.ts";

const encoder = new TextEncoder();
const fatal = new TextDecoder("utf-8", { fatal: true });

/** What the daemon always did with a body: a fatal UTF-8 decode, `null` on error. */
function fatalDecode(body: Uint8Array): string | null {
  try {
    return fatal.decode(body);
  } catch {
    return null;
  }
}

Deno.test("BodyTexts decodes an ASCII read with one decode", () => {
  const texts = new BodyTexts();
  const bodies = ['{"a":1}', '{"b":"x"}', "[]"].map((t) => encoder.encode(t));
  assert.deepEqual(texts.decode(bodies), ['{"a":1}', '{"b":"x"}', "[]"]);
  assert.equal(texts.joined, 1);
});

Deno.test("BodyTexts and decodeOne() answer as a fatal decode of each body for any read", () => {
  const seed = fuzzSeed(0xb0d7_0001);
  const rng = new Prng(seed);
  const pieces = [
    [0x7b, 0x7d], // {}
    [0x22, 0x61, 0x22], // "a"
    [0xc3, 0xa9], // é
    [0xf0, 0x9f, 0x98, 0x80], // 😀
    [0xef, 0xbb, 0xbf], // BOM
    [0xef, 0xbf, 0xbd], // U+FFFD itself
    [0xff], // never valid
    [0xc3], // truncated sequence
    [0xa9], // lone continuation
    [0xed, 0xa0, 0x80], // a surrogate, invalid in UTF-8
    [0xc0, 0xaf], // overlong
    [0x00],
  ];
  const texts = new BodyTexts();
  let joined = 0;
  for (let i = 0; i < 20_000; i++) {
    const bodies: Uint8Array[] = [];
    const count = 1 + rng.int(6);
    for (let b = 0; b < count; b++) {
      const bytes: number[] = [];
      const n = 1 + rng.int(6);
      // Mostly ASCII, so that whole reads take the joined path too.
      for (let p = 0; p < n; p++) {
        bytes.push(...rng.pick(rng.chance(0.9) ? pieces.slice(0, 2) : pieces));
      }
      bodies.push(new Uint8Array(bytes));
    }
    const before = texts.joined;
    const got = [...texts.decode(bodies)];
    if (texts.joined > before) joined++;
    assert.deepEqual(got, bodies.map(fatalDecode), `seed ${seed}, case ${i}`);
    assert.deepEqual(bodies.map(decodeOne), bodies.map(fatalDecode), `seed ${seed}, case ${i}`);
  }
  assert.ok(joined > 1_000, `only ${joined} reads took the joined path`);
});

Deno.test("decodeOne() drops a leading BOM and refuses invalid UTF-8, as the daemon did", () => {
  assert.equal(decodeOne(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d])), "{}");
  assert.equal(decodeOne(new Uint8Array([0x7b, 0xed, 0xa0, 0x80, 0x7d])), null);
});

Deno.test("detach() lets the read a stored string was sliced from be collected", async () => {
  // V8 keeps a slice's parent alive; the router stores strings built from
  // slices of a whole read (history), so each must be flattened. Measured
  // in a child process, where the heap can be collected on demand.
  const script = `
    import { BodyTexts, detach } from ${
    JSON.stringify(new URL("../../protocol/_body_text.ts", import.meta.url).href)
  };
    const encoder = new TextEncoder();
    const texts = new BodyTexts();
    const filler = encoder.encode('{"f":"' + "y".repeat(60000) + '"}');
    const keep = [];
    for (let r = 0; r < 20000; r++) {
      const body = encoder.encode('{"pad":"' + "x".repeat(100) + '","n":' + r + "}");
      const text = texts.decode([filler, body])[1];
      const routed = text.slice(0, -1) + ',"seq":' + r + "}";
      keep[r % 1000] = Deno.args[0] === "detach" ? detach(routed) : routed;
    }
    gc();
    // The decoded reads are external strings: they show in RSS, not the heap.
    console.log(Deno.memoryUsage().rss);
  `;
  async function heapAfter(mode: string): Promise<number> {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--v8-flags=--expose-gc", script, mode],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert.ok(out.success);
    return Number(new TextDecoder().decode(out.stdout));
  }
  const kept = await heapAfter("keep");
  const detached = await heapAfter("detach");
  // 1000 kept reads of 60 KB each, at least 60 MB, unless each string is detached.
  assert.ok(kept - detached > 60e6, `RSS ${kept} bytes kept, ${detached} detached`);
});
