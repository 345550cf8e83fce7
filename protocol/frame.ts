// This module is browser compatible.

import { FrameError } from "./errors.ts";

/**
 * The default largest frame body, in bytes (1 MiB).
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_MESSAGE_SIZE } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_MAX_MESSAGE_SIZE, 1048576);
 * ```
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024;

/** The size of a frame header: a 4-byte unsigned big-endian length. @example
 * ```ts
 * import { FRAME_HEADER_SIZE } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * assert.equal(FRAME_HEADER_SIZE, 4);
 * ```
 */
export const FRAME_HEADER_SIZE = 4;

const encoder = new TextEncoder();

/** First buffer for a body split across reads; it doubles as bytes arrive. */
const INITIAL_BODY_BYTES = 4096;
const EMPTY = new Uint8Array(0);

/**
 * Frames a message: a 4-byte unsigned big-endian length, then the body.
 * An object is serialised as UTF-8 JSON; bytes are framed as they are.
 *
 * @param message A message object, or a body that is already UTF-8 JSON.
 * @returns The frame.
 * @throws {RangeError} When the body is empty or longer than 2^32 - 1 bytes.
 *
 * @example
 * ```ts
 * import { encodeFrame } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const frame = encodeFrame({ a: 1 });
 * assert.deepEqual([...frame.subarray(0, 4)], [0, 0, 0, 7]);
 * assert.equal(new TextDecoder().decode(frame.subarray(4)), '{"a":1}');
 * ```
 */
export function encodeFrame(message: object | Uint8Array): Uint8Array {
  if (message instanceof Uint8Array) {
    const frame = new Uint8Array(FRAME_HEADER_SIZE + message.byteLength);
    writeHeader(frame, message.byteLength);
    frame.set(message, FRAME_HEADER_SIZE);
    return frame;
  }
  const json = JSON.stringify(message);
  // Worst case 3 bytes per UTF-16 unit; encodeInto avoids a second copy.
  const buffer = new Uint8Array(FRAME_HEADER_SIZE + json.length * 3);
  const { written } = encoder.encodeInto(json, buffer.subarray(FRAME_HEADER_SIZE));
  writeHeader(buffer, written);
  return buffer.subarray(0, FRAME_HEADER_SIZE + written);
}

function writeHeader(frame: Uint8Array, length: number): void {
  if (length < 1 || length > 0xffffffff) {
    throw new RangeError(
      `Cannot encode frame: body length must be from 1 to 4294967295 bytes, received ${length}`,
    );
  }
  frame[0] = length >>> 24;
  frame[1] = (length >>> 16) & 0xff;
  frame[2] = (length >>> 8) & 0xff;
  frame[3] = length & 0xff;
}

/**
 * Options of {@linkcode FrameDecoderStream}.
 *
 * @example
 * ```ts
 * import type { FrameDecoderStreamOptions } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const o: FrameDecoderStreamOptions = { maxMessageSize: 4096 };
 * assert.equal(o.maxMessageSize, 4096);
 * ```
 */
export interface FrameDecoderStreamOptions {
  /**
   * The largest body accepted, in bytes. A header announcing more errors the
   * stream at once, before any of the body is buffered.
   *
   * @default {1048576}
   */
  maxMessageSize?: number;
}

/**
 * Splits a byte stream into frame bodies. Frames may be split across chunks
 * or packed many to a chunk; a body that lies whole inside one chunk is
 * passed on as a view of it, without copying. The stream errors with a
 * {@linkcode FrameError}: `empty` for length 0, `oversized` for a length over
 * `maxMessageSize` (decided from the header alone), `truncated` when the
 * input ends inside a frame.
 *
 * @example Decode two frames delivered one byte at a time
 * ```ts
 * import { encodeFrame, FrameDecoderStream } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const bytes = [...encodeFrame({ a: 1 }), ...encodeFrame({ b: 2 })];
 * const bodies = ReadableStream.from(bytes.map((b) => new Uint8Array([b])))
 *   .pipeThrough(new FrameDecoderStream());
 * const texts = [];
 * for await (const body of bodies) texts.push(new TextDecoder().decode(body));
 * assert.deepEqual(texts, ['{"a":1}', '{"b":2}']);
 * ```
 */
export class FrameDecoderStream extends TransformStream<Uint8Array, Uint8Array> {
  /**
   * Creates the decoder.
   *
   * @param options The size limit.
   * @throws {RangeError} When `maxMessageSize` is not a positive integer.
   */
  constructor(options: FrameDecoderStreamOptions = {}) {
    const { maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE } = options;
    if (!Number.isInteger(maxMessageSize) || maxMessageSize < 1) {
      throw new RangeError(
        `Cannot create frame decoder: maxMessageSize must be a positive integer, received ${maxMessageSize}`,
      );
    }
    const decoder = new FrameDecoder(maxMessageSize);
    super({
      transform: (chunk, controller) => decoder.push(chunk, (body) => controller.enqueue(body)),
      flush: () => decoder.end(),
    });
  }
}

/**
 * The incremental decoder behind {@linkcode FrameDecoderStream}, usable
 * directly on a read loop where a stream would add overhead.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameDecoder } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const decoder = new FrameDecoder(1024);
 * const bodies: Uint8Array[] = [];
 * decoder.push(encodeFrame({ a: 1 }), (body) => bodies.push(body));
 * decoder.end();
 * assert.equal(bodies.length, 1);
 * ```
 */
export class FrameDecoder {
  #max: number;
  #header = new Uint8Array(FRAME_HEADER_SIZE);
  #headerFill = 0;
  /** The partial body's buffer: grown as bytes arrive, never past `#bodySize`. */
  #body: Uint8Array | null = null;
  /** The length the partial body's header announced. */
  #bodySize = 0;
  #bodyFill = 0;

  /**
   * Creates the decoder.
   *
   * @param maxMessageSize The largest body accepted, in bytes.
   */
  constructor(maxMessageSize: number = DEFAULT_MAX_MESSAGE_SIZE) {
    this.#max = maxMessageSize;
  }

  /** Whether the decoder is between frames (no partial frame buffered). @example
   * ```ts
   * import { FrameDecoder } from "@dotfiles/daemon/protocol";
   * import assert from "node:assert/strict";
   *
   * assert.ok(new FrameDecoder().idle);
   * ```
   */
  get idle(): boolean {
    return this.#headerFill === 0 && this.#body === null;
  }

  /**
   * Bytes held for the partial frame: its buffer, which grows with what has
   * arrived (at most twice that), not with the length its header announced.
   *
   * @example A 1 MiB header alone holds no body buffer
   * ```ts
   * import { FrameDecoder } from "@dotfiles/daemon/protocol";
   * import assert from "node:assert/strict";
   *
   * const decoder = new FrameDecoder();
   * decoder.push(new Uint8Array([0, 16, 0, 0]), () => {});
   * assert.equal(decoder.buffered, 0);
   * decoder.push(new Uint8Array(10), () => {});
   * assert.ok(decoder.buffered < 8192);
   * ```
   */
  get buffered(): number {
    return this.#body === null ? 0 : this.#body.byteLength;
  }

  /**
   * Feeds bytes; calls `onBody` for each complete frame body, in order.
   * A body inside `chunk` is a view of it: copy it to keep it past the call
   * if the chunk's buffer is reused.
   *
   * @param chunk The bytes read.
   * @param onBody Receives each body.
   * @throws {FrameError} On length 0 or a length over the limit.
   */
  push(chunk: Uint8Array, onBody: (body: Uint8Array) => void): void {
    let offset = 0;
    const length = chunk.byteLength;
    while (offset < length) {
      if (this.#body !== null) {
        const take = Math.min(this.#bodySize - this.#bodyFill, length - offset);
        const fill = this.#bodyFill + take;
        if (fill > this.#body.byteLength) {
          // Grow by doubling, so a header alone costs nothing and a frame
          // arriving in many reads is copied a bounded number of times.
          const grown = new Uint8Array(
            Math.min(this.#bodySize, Math.max(fill, this.#body.byteLength * 2, INITIAL_BODY_BYTES)),
          );
          grown.set(this.#body.subarray(0, this.#bodyFill));
          this.#body = grown;
        }
        this.#body.set(chunk.subarray(offset, offset + take), this.#bodyFill);
        this.#bodyFill = fill;
        offset += take;
        if (fill === this.#bodySize) {
          const body = this.#body;
          this.#body = null;
          this.#bodyFill = 0;
          this.#bodySize = 0;
          onBody(body);
        }
        continue;
      }
      let size: number;
      if (this.#headerFill === 0 && length - offset >= FRAME_HEADER_SIZE) {
        size = ((chunk[offset]! << 24) >>> 0) + (chunk[offset + 1]! << 16) +
          (chunk[offset + 2]! << 8) + chunk[offset + 3]!;
        offset += FRAME_HEADER_SIZE;
      } else {
        while (this.#headerFill < FRAME_HEADER_SIZE && offset < length) {
          this.#header[this.#headerFill++] = chunk[offset++]!;
        }
        if (this.#headerFill < FRAME_HEADER_SIZE) return;
        const h = this.#header;
        size = ((h[0]! << 24) >>> 0) + (h[1]! << 16) + (h[2]! << 8) + h[3]!;
        this.#headerFill = 0;
      }
      this.#checkSize(size);
      if (length - offset >= size) {
        onBody(chunk.subarray(offset, offset + size));
        offset += size;
      } else {
        // Nothing is allocated for the announced length: the buffer grows
        // with what arrives (next turn of the loop, or the next push).
        this.#body = EMPTY;
        this.#bodySize = size;
      }
    }
  }

  /**
   * Signals the end of input.
   *
   * @throws {FrameError} With code `truncated` when a frame is incomplete.
   */
  end(): void {
    if (this.idle) return;
    const got = this.#body === null
      ? `${this.#headerFill} of 4 header bytes`
      : `${this.#bodyFill} of ${this.#bodySize} body bytes`;
    this.#headerFill = 0;
    this.#body = null;
    this.#bodyFill = 0;
    this.#bodySize = 0;
    throw new FrameError(`Cannot read frame: stream ended after ${got}`, "truncated");
  }

  #checkSize(size: number): void {
    if (size === 0) {
      throw new FrameError("Cannot read frame: length is 0, expected at least 1", "empty");
    }
    if (size > this.#max) {
      throw new FrameError(
        `Cannot read frame: length ${size} exceeds the maximum of ${this.#max} bytes`,
        "oversized",
      );
    }
  }
}
