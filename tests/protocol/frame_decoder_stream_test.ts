import assert from "node:assert/strict";
import {
  DEFAULT_MAX_MESSAGE_SIZE,
  encodeFrame,
  FrameDecoder,
  FrameDecoderStream,
  FrameError,
} from "../../protocol/mod.ts";

const text = new TextDecoder();

async function decodeAll(chunks: Uint8Array[], maxMessageSize?: number): Promise<string[]> {
  const out: string[] = [];
  const stream = ReadableStream.from(chunks).pipeThrough(
    new FrameDecoderStream(maxMessageSize === undefined ? {} : { maxMessageSize }),
  );
  for await (const body of stream) out.push(text.decode(body));
  return out;
}

function header(length: number): Uint8Array {
  const h = new Uint8Array(4);
  new DataView(h.buffer).setUint32(0, length);
  return h;
}

Deno.test("encodeFrame() writes a 4-byte big-endian length before the UTF-8 JSON body", () => {
  const frame = encodeFrame({ k: "é" });
  assert.deepEqual([...frame.subarray(0, 4)], [0, 0, 0, 10]);
  assert.equal(text.decode(frame.subarray(4)), '{"k":"é"}');
  assert.deepEqual([...encodeFrame(new Uint8Array([1, 2]))], [0, 0, 0, 2, 1, 2]);
  assert.throws(() => encodeFrame(new Uint8Array(0)), RangeError);
});

Deno.test("FrameDecoderStream decodes a frame fed one byte at a time", async () => {
  const frame = encodeFrame({ hello: "world", n: [1, 2, 3] });
  const chunks = [...frame].map((b) => new Uint8Array([b]));
  assert.deepEqual(await decodeAll(chunks), ['{"hello":"world","n":[1,2,3]}']);
});

Deno.test("FrameDecoderStream decodes 1000 frames packed in one chunk, in order", async () => {
  const frames = Array.from({ length: 1000 }, (_, i) => encodeFrame({ i }));
  const all = new Uint8Array(frames.reduce((n, f) => n + f.byteLength, 0));
  let off = 0;
  for (const f of frames) {
    all.set(f, off);
    off += f.byteLength;
  }
  const out = await decodeAll([all]);
  assert.equal(out.length, 1000);
  out.forEach((body, i) => assert.equal(JSON.parse(body).i, i));
});

Deno.test("FrameDecoderStream decodes frames split across chunk boundaries at every offset", async () => {
  const a = encodeFrame({ a: "x".repeat(37) });
  const b = encodeFrame({ b: 2 });
  const joined = new Uint8Array([...a, ...b]);
  for (let cut = 1; cut < joined.length; cut++) {
    const out = await decodeAll([joined.subarray(0, cut), joined.subarray(cut)]);
    assert.equal(out.length, 2, `cut at ${cut}`);
  }
});

Deno.test("FrameDecoderStream passes a body inside one chunk on without copying", () => {
  const frame = encodeFrame({ a: 1 });
  const decoder = new FrameDecoder();
  let seen: Uint8Array | undefined;
  decoder.push(frame, (body) => seen = body);
  assert.equal(seen!.buffer, frame.buffer);
});

Deno.test("FrameDecoderStream errors with code empty on a length of 0", async () => {
  await assert.rejects(
    decodeAll([header(0)]),
    (e: unknown) => e instanceof FrameError && e.code === "empty" && /length is 0/.test(e.message),
  );
});

Deno.test("FrameDecoderStream rejects an oversized length from the header alone", async () => {
  // Only the header is sent: the error must not wait for (or buffer) the body.
  const decoder = new FrameDecoder(DEFAULT_MAX_MESSAGE_SIZE);
  assert.throws(
    () => decoder.push(header(DEFAULT_MAX_MESSAGE_SIZE + 1), () => {}),
    (e: unknown) =>
      e instanceof FrameError && e.code === "oversized" &&
      e.message.includes(`${DEFAULT_MAX_MESSAGE_SIZE + 1}`),
  );
  await assert.rejects(
    decodeAll([header(0xffffffff)], 1024),
    (e: unknown) => e instanceof FrameError && e.code === "oversized",
  );
  // Exactly the limit is fine.
  const body = new Uint8Array(1024).fill(0x20);
  body[0] = 0x7b;
  assert.equal((await decodeAll([new Uint8Array([...header(1024), ...body])], 1024)).length, 1);
});

Deno.test("FrameDecoderStream errors with code truncated when the input ends inside a frame", async () => {
  const frame = encodeFrame({ a: 1 });
  await assert.rejects(
    decodeAll([frame.subarray(0, 2)]),
    (e: unknown) =>
      e instanceof FrameError && e.code === "truncated" && /2 of 4 header bytes/.test(e.message),
  );
  await assert.rejects(
    decodeAll([frame.subarray(0, 6)]),
    (e: unknown) =>
      e instanceof FrameError && e.code === "truncated" && /2 of 7 body bytes/.test(e.message),
  );
});

Deno.test("FrameDecoderStream refuses a maxMessageSize that is not a positive integer", () => {
  assert.throws(() => new FrameDecoderStream({ maxMessageSize: 0 }), RangeError);
  assert.throws(() => new FrameDecoderStream({ maxMessageSize: 1.5 }), RangeError);
});
