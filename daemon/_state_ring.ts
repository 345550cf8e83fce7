/**
 * A fixed-capacity ring of `(seq, body)` pairs, oldest first. Two parallel
 * arrays, so pushing allocates nothing once the ring is full.
 *
 * @module
 */

/** The history of one event type. */
export class HistoryRing {
  readonly capacity: number;
  #seqs: number[] = [];
  #bodies: string[] = [];
  /** Index of the oldest entry once the ring is full. */
  #start = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Entries kept. */
  get size(): number {
    return this.#seqs.length;
  }

  /** The oldest `seq` kept, or `null`. */
  get oldestSeq(): number | null {
    return this.#seqs.length === 0 ? null : this.#seqs[this.#start]!;
  }

  /** The newest `seq` kept, or `null`. */
  get newestSeq(): number | null {
    const n = this.#seqs.length;
    if (n === 0) return null;
    return this.#seqs[(this.#start + n - 1) % n]!;
  }

  /** Appends an entry; returns `true` when an older one was dropped to make room. */
  push(seq: number, body: string): boolean {
    if (this.capacity === 0) return true;
    if (this.#seqs.length < this.capacity) {
      this.#seqs.push(seq);
      this.#bodies.push(body);
      return false;
    }
    this.#seqs[this.#start] = seq;
    this.#bodies[this.#start] = body;
    this.#start = (this.#start + 1) % this.capacity;
    return true;
  }

  /** The `seq` at logical index `i` (0 = oldest). */
  seqAt(i: number): number {
    return this.#seqs[(this.#start + i) % this.#seqs.length]!;
  }

  /** The body at logical index `i` (0 = oldest). */
  bodyAt(i: number): string {
    return this.#bodies[(this.#start + i) % this.#bodies.length]!;
  }

  /** The logical index of the first entry whose `seq` is greater than `seq`. */
  indexAfter(seq: number): number {
    let lo = 0;
    let hi = this.#seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqAt(mid) <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
