/**
 * Write-behind batching of the daemon's state: changes accumulate in
 * memory and go to the store in one transaction, `flushDelay` after the
 * first of a burst, or at once on {@linkcode WriteBehind.flush}. A failed
 * write is reported once per run of failures and retried with the next
 * batch; the state in memory is unaffected.
 *
 * @module
 */

import { errorText } from "./_state_operations.ts";
import { emptyBatch, type Store, type StoreBatch } from "./store.ts";

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
  /** Gets the warnings: a failed write, a recovered one, a failed close. */
  onWarning: (text: string) => void;
}

/** The flush timer and the store writes; the timer exists only while changes wait. */
export class WriteBehind {
  #store: Store;
  #delay: number;
  #sources: WriteSource[];
  #onWarning: (text: string) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #failing = false;
  #closed = false;
  #writes = 0;
  #failures = 0;

  /** @param options See {@linkcode WriteBehindOptions}. */
  constructor(options: WriteBehindOptions) {
    this.#store = options.store;
    this.#delay = options.delay;
    this.#sources = options.sources;
    this.#onWarning = options.onWarning;
  }

  /** Whether a write is scheduled. */
  get scheduled(): boolean {
    return this.#timer !== undefined;
  }

  /** Schedules a write unless one is scheduled (or the state is closed). */
  schedule(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, this.#delay);
  }

  /** Whether any source has something to write. */
  get pending(): boolean {
    return this.#sources.some((source) => source.pending);
  }

  /** Writes every pending change now, in one transaction. */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (!this.pending) return;
    const batch = emptyBatch();
    for (const source of this.#sources) source.addTo(batch);
    try {
      this.#store.write(batch);
    } catch (error) {
      this.#failures++;
      if (!this.#failing) {
        this.#failing = true;
        this.#onWarning(
          `Cannot write state to the store, keeping it in memory: ${errorText(error)}`,
        );
      }
      return;
    }
    if (this.#failing) {
      this.#failing = false;
      this.#onWarning("Writing state to the store works again");
    }
    this.#writes++;
    for (const source of this.#sources) source.written();
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
