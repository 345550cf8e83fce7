/**
 * The history of one event type: `(seq, body)` pairs, oldest first, bound
 * by a count and by the bodies' total length. Two parallel arrays and a
 * head index; dropped entries are compacted away in bulk.
 *
 * @module
 */

/** The history of one event type. */
export class HistoryRing {
  /** Entries kept at most. */
  readonly capacity: number;
  /** Bodies' total length (UTF-16 units) kept at most; the newest entry is always kept. */
  readonly maxBytes: number;
  #seqs: number[] = [];
  #bodies: string[] = [];
  /** Index of the oldest entry kept. */
  #head = 0;
  #bytes = 0;

  constructor(capacity: number, maxBytes = Infinity) {
    this.capacity = capacity;
    this.maxBytes = maxBytes;
  }

  /** Entries kept. */
  get size(): number {
    return this.#seqs.length - this.#head;
  }

  /** The bodies' total length kept. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The oldest `seq` kept, or `null`. */
  get oldestSeq(): number | null {
    return this.size === 0 ? null : this.#seqs[this.#head]!;
  }

  /** The newest `seq` kept, or `null`. */
  get newestSeq(): number | null {
    return this.size === 0 ? null : this.#seqs[this.#seqs.length - 1]!;
  }

  /** Adds the newest entry; `true` when older ones were dropped (or nothing is kept). */
  push(seq: number, body: string): boolean {
    if (this.capacity === 0) return true;
    this.#seqs.push(seq);
    this.#bodies.push(body);
    this.#bytes += body.length;
    let dropped = false;
    while (this.size > this.capacity || (this.#bytes > this.maxBytes && this.size > 1)) {
      this.#bytes -= this.#bodies[this.#head]!.length;
      this.#bodies[this.#head] = "";
      this.#head++;
      dropped = true;
    }
    if (this.#head > 64 && this.#head * 2 > this.#seqs.length) {
      this.#seqs = this.#seqs.slice(this.#head);
      this.#bodies = this.#bodies.slice(this.#head);
      this.#head = 0;
    }
    return dropped;
  }

  /** The `seq` of the `i`-th oldest entry. */
  seqAt(i: number): number {
    return this.#seqs[this.#head + i]!;
  }

  /** The body of the `i`-th oldest entry. */
  bodyAt(i: number): string {
    return this.#bodies[this.#head + i]!;
  }

  /** Index of the first entry whose `seq` is greater than `seq` (binary search). */
  indexAfter(seq: number): number {
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqAt(mid) <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
