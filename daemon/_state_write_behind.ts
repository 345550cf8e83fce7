/**
 * Write-behind batching of the daemon's state: changes accumulate in
 * memory and go to the store in one transaction, `flushDelay` after the
 * first of a burst, or at once on {@linkcode WriteBehind.flush}. A failed
 * write is reported every time and retried with the next batch (or after a
 * second); the state in memory is unaffected.
 *
 * @module
 */

import { errorText } from "./_state_operations.ts";
import {
  emptyBatch,
  type Store,
  type StoreBatch,
  type StoreHealth,
  StoreWriteError,
} from "./_store.ts";

/** While the store fails, unwritten changes are retried this often. */
const RETRY_DELAY = 1000;

/** A part of the state with changes to write. */
export interface WriteSource {
  /** Whether something is not yet written. */
  readonly pending: boolean;
  /** Adds what is not yet written to a batch. */
  addTo(batch: StoreBatch): void;
  /** The batch was written. */
  written(): void;
}

/** Options of {@linkcode WriteBehind}. */
export interface WriteBehindOptions {
  /** Where batches go. */
  store: Store;
  /** Milliseconds between the first unwritten change and its transaction. */
  delay: number;
  /** The parts whose changes are written together. */
  sources: WriteSource[];
  /** Gets the warnings: a recovered write, a failed close. */
  onWarning: (text: string) => void;
  /** Gets a line for every failed write, as long as they fail. */
  onStoreError: (text: string) => void;
  /** The clock, ms since the epoch. */
  now: () => number;
}

/** The flush timer and the store writes; the timer exists only while changes wait. */
export class WriteBehind {
  #store: Store;
  #delay: number;
  #sources: WriteSource[];
  #onWarning: (text: string) => void;
  #onStoreError: (text: string) => void;
  #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the current run of failed writes began, or `null` while writes work. */
  #failingSince: number | null = null;
  /** A failed write could not save the seqs either. */
  #unsafe = false;
  /** Per type, the highest seq written or saved: what monitors may see while unsafe. */
  #covered = new Map<string, number>();
  #closed = false;
  #writes = 0;
  #failures = 0;

  /** @param options See {@linkcode WriteBehindOptions}. */
  constructor(options: WriteBehindOptions) {
    this.#store = options.store;
    this.#delay = options.delay;
    this.#sources = options.sources;
    this.#onWarning = options.onWarning;
    this.#onStoreError = options.onStoreError;
    this.#now = options.now;
  }

  /** True while a failed write could save neither state nor seqs. */
  get seqsUnsafe(): boolean {
    return this.#unsafe;
  }

  /** The highest seq of a type that is written or saved (0 when none). */
  covered(eventType: string): number {
    return this.#covered.get(eventType) ?? 0;
  }

  /** Records seqs known to be safe (loaded from the store). */
  cover(types: Iterable<{ event_type: string; last_seq: number }>): void {
    for (const t of types) {
      if (t.last_seq > this.covered(t.event_type)) this.#covered.set(t.event_type, t.last_seq);
    }
  }

  /** How the store's writes are going. */
  health(): StoreHealth {
    const since = this.#failingSince;
    const health = since === null ? undefined : this.#store.health?.();
    return {
      ok: since === null,
      error: since === null ? null : (health?.error ?? "write failed"),
      failing_since: since === null ? null : new Date(since).toISOString(),
      failed_writes: since === null ? 0 : (health?.failed_writes ?? this.#failures),
      seqs_saved: !this.#unsafe,
    };
  }

  /** Whether a write is scheduled. */
  get scheduled(): boolean {
    return this.#timer !== undefined;
  }

  /** Schedules a write unless one is scheduled (or the state is closed). */
  schedule(delay = this.#delay): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, delay);
  }

  /** Whether any source has something to write. */
  get pending(): boolean {
    return this.#sources.some((source) => source.pending);
  }

  /**
   * Writes every pending change now, in one transaction. A failed write is
   * reported every time (the daemon rate-limits the lines) and retried with
   * the next batch, or after a second while nothing else comes.
   *
   * @returns Whether every seq recorded so far is safe from reuse: written,
   * or saved by the store beside the failed write.
   */
  flush(): boolean {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (!this.pending) return !this.#unsafe;
    const batch = emptyBatch();
    for (const source of this.#sources) source.addTo(batch);
    try {
      this.#store.write(batch);
    } catch (error) {
      this.#failures++;
      const saved = error instanceof StoreWriteError && error.seqsSaved;
      if (saved) this.cover(batch.eventTypes);
      // Safe again once a later failure still saved every seq handed out.
      this.#unsafe = !saved;
      const now = this.#now();
      if (this.#failingSince === null) this.#failingSince = now;
      this.#onStoreError(
        `Cannot write state to the store (failing for ${
          seconds(now - this.#failingSince)
        }, ${this.#failures} failed writes), keeping it in memory: ${errorText(error)}${
          saved
            ? "; the seqs handed out are saved, so none is reused after a restart"
            : "; messages are not broadcast until the seqs can be saved"
        }`,
      );
      this.schedule(RETRY_DELAY);
      return saved;
    }
    if (this.#failingSince !== null) {
      this.#onWarning(
        `Writing state to the store works again, after ${
          seconds(this.#now() - this.#failingSince)
        }`,
      );
      this.#failingSince = null;
    }
    this.#unsafe = false;
    this.cover(batch.eventTypes);
    this.#writes++;
    for (const source of this.#sources) source.written();
    return true;
  }

  /** Transactions written and failed since start-up. */
  counts(): { store_writes: number; store_write_failures: number } {
    return { store_writes: this.#writes, store_write_failures: this.#failures };
  }

  /** Writes what is pending, stops the timer for good and closes the store. */
  close(): void {
    this.flush();
    this.#closed = true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    try {
      this.#store.close();
    } catch (error) {
      this.#onWarning(`Cannot close the store: ${errorText(error)}`);
    }
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
