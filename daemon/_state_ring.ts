/**
 * The history of one event type: `(seq, body)` pairs, oldest first, bound
 * by a count and by the bodies' total length. Two parallel arrays and a
 * head index; dropped entries are compacted away in bulk. Bodies read back
 * from the store are answered verbatim only once {@linkcode HistoryRing.check}
 * has found them to be JSON objects.
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
  #dropped = 0;
  #droppedBytes = 0;
  /** Entries from the head up to this index came from the store and are not checked yet. */
  #uncheckedEnd = 0;

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

  /** Entries dropped since it was made (the oldest, past the count or the bytes). */
  get dropped(): number {
    return this.#dropped;
  }

  /** The dropped entries' total length. */
  get droppedBytes(): number {
    return this.#droppedBytes;
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
      const length = this.#bodies[this.#head]!.length;
      this.#bytes -= length;
      this.#dropped++;
      this.#droppedBytes += length;
      this.#bodies[this.#head] = "";
      this.#head++;
      dropped = true;
    }
    if (this.#head > 64 && this.#head * 2 > this.#seqs.length) {
      this.#seqs = this.#seqs.slice(this.#head);
      this.#bodies = this.#bodies.slice(this.#head);
      this.#uncheckedEnd = Math.max(0, this.#uncheckedEnd - this.#head);
      this.#head = 0;
    }
    return dropped;
  }

  /** Adds the newest entry, read back from the store: see {@linkcode HistoryRing.check}. */
  pushStored(seq: number, body: string): boolean {
    const dropped = this.push(seq, body);
    if (this.capacity > 0) this.#uncheckedEnd = this.#seqs.length;
    return dropped;
  }

  /** Entries read back from the store and not checked yet. */
  get unchecked(): number {
    return Math.max(0, this.#uncheckedEnd - this.#head);
  }

  /**
   * Checks the entries read back from the store with `valid` and removes
   * those it refuses (a damaged row would otherwise reach a client as
   * broken JSON). Later calls check nothing until more are stored.
   *
   * @returns How many entries were removed.
   */
  check(valid: (body: string) => boolean): number {
    if (this.unchecked === 0) return 0;
    // Each body is parsed once: the refused ones' indexes, then a rebuild without them.
    const refused: number[] = [];
    for (let i = this.#head; i < this.#uncheckedEnd; i++) {
      if (!valid(this.#bodies[i]!)) refused.push(i);
    }
    if (refused.length > 0) {
      const seqs: number[] = [];
      const bodies: string[] = [];
      let bytes = 0;
      let next = 0;
      for (let i = this.#head; i < this.#seqs.length; i++) {
        if (i === refused[next]) {
          next++;
          continue;
        }
        const body = this.#bodies[i]!;
        seqs.push(this.#seqs[i]!);
        bodies.push(body);
        bytes += body.length;
      }
      this.#seqs = seqs;
      this.#bodies = bodies;
      this.#bytes = bytes;
      this.#head = 0;
    }
    this.#uncheckedEnd = 0;
    return refused.length;
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
