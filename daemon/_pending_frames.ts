/**
 * The frames a read routed, kept until the ledger has them, then written
 * out once: every frame of the read in order into one buffer, and, for a
 * read of several types, each type's frames into one buffer that all its
 * subscribers share (one copy per read, not one per subscriber). Private to
 * the router.
 *
 * @module
 */

/** One event type's frames of a batch, joined into one buffer. */
export interface RoutedFrames {
  /** The event type. */
  eventType: string;
  /** How many frames. */
  frames: number;
  /** The frames, in order, shared by every subscriber. */
  bytes: Uint8Array;
}

/** What one read routed: per type, and all of it in order for the firehose. */
export interface RoutedBatch {
  /** Per event type, in order of first appearance. */
  types: RoutedFrames[];
  /** Every frame of the batch. */
  frames: number;
  /** Every frame in the order routed (joined on first call). */
  all(): Uint8Array;
}

/**
 * Pending frames as parallel arrays: the event type, the bytes (the
 * sender's, kept until {@linkcode PendingFrames.take}), where the added
 * fields go in them, and those fields.
 */
export class PendingFrames {
  #types: string[] = [];
  #sources: Uint8Array[] = [];
  #splits: number[] = [];
  #inserts: string[] = [];
  /** Bytes of the pending frames, length prefixes included. */
  #bytes = 0;
  /** Whether the pending frames are of more than one type. */
  #mixed = false;

  /** Frames pending. */
  get count(): number {
    return this.#types.length;
  }

  /**
   * Adds a frame: `source` with the ASCII text `insert` spliced in at
   * `split` (before the closing brace and whatever follows it).
   */
  add(eventType: string, source: Uint8Array, split: number, insert: string): void {
    if (this.#types.length > 0 && eventType !== this.#types[0]) this.#mixed = true;
    this.#types.push(eventType);
    this.#sources.push(source);
    this.#splits.push(split);
    this.#inserts.push(insert);
    this.#bytes += 4 + source.byteLength + insert.length;
  }

  /** Drops every pending frame. */
  clear(): void {
    this.#types = [];
    this.#sources = [];
    this.#splits = [];
    this.#inserts = [];
    this.#bytes = 0;
    this.#mixed = false;
  }

  /** Writes the pending frames out (see the module) and clears them. */
  take(): RoutedBatch {
    const types = this.#types;
    const count = types.length;
    const out = new Uint8Array(this.#bytes);
    const sources = this.#sources;
    const splits = this.#splits;
    const inserts = this.#inserts;
    // Where each frame starts, to split a read of several types.
    const starts = this.#mixed ? new Array<number>(count + 1) : null;
    let at = 0;
    for (let i = 0; i < count; i++) {
      const source = sources[i]!;
      const split = splits[i]!;
      const insert = inserts[i]!;
      const length = source.byteLength + insert.length;
      if (starts !== null) starts[i] = at;
      out[at] = length >>> 24;
      out[at + 1] = length >>> 16;
      out[at + 2] = length >>> 8;
      out[at + 3] = length;
      at += 4;
      // The whole body, then the added fields (ASCII: one byte per
      // character) over its last bytes, then those bytes again after them:
      // they are only the closing brace and any whitespace after it.
      out.set(source, at);
      at += split;
      for (let k = 0; k < insert.length; k++) out[at++] = insert.charCodeAt(k);
      for (let k = split; k < source.byteLength; k++) out[at++] = source[k]!;
    }
    this.clear();
    if (starts === null) {
      return {
        types: [{ eventType: types[0]!, frames: count, bytes: out }],
        frames: count,
        all: () => out,
      };
    }
    const byType = new Map<string, number[]>();
    for (let i = 0; i < count; i++) {
      const list = byType.get(types[i]!);
      if (list === undefined) byType.set(types[i]!, [i]);
      else list.push(i);
    }
    starts[count] = at;
    const routed: RoutedFrames[] = [];
    for (const [eventType, list] of byType) {
      let size = 0;
      for (const i of list) size += starts[i + 1]! - starts[i]!;
      const bytes = new Uint8Array(size);
      let offset = 0;
      for (const i of list) {
        bytes.set(out.subarray(starts[i]!, starts[i + 1]!), offset);
        offset += starts[i + 1]! - starts[i]!;
      }
      routed.push({ eventType, frames: list.length, bytes });
    }
    return { types: routed, frames: count, all: () => out };
  }
}
