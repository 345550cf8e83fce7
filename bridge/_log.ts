/**
 * The bridge's log: one line per event, and never a flood. A line with a key
 * is written the first time; repeats within the window are counted and
 * summed up in one line when the next one comes after the window.
 *
 * @module
 */

/** Where lines go (stderr by default; journald adds the time). */
export type LogSink = (line: string) => void;

/** How long repeats of one key stay silent, in ms. */
export const LOG_WINDOW = 60_000;

/** A rate-limited logger keyed by what the line is about. */
export class BridgeLog {
  #sink: LogSink;
  #window: number;
  #seen = new Map<string, { at: number; suppressed: number }>();
  #once = new Set<string>();

  /**
   * @param sink Receives each line.
   * @param window Silence for repeats of one key, in ms.
   */
  constructor(sink: LogSink, window: number = LOG_WINDOW) {
    this.#sink = sink;
    this.#window = window;
  }

  /** Writes a line now. */
  info(line: string): void {
    this.#sink(line);
  }

  /**
   * Writes a line unless one with the same key was written within the
   * window; the next one written says how many were held back.
   */
  limited(key: string, line: string): void {
    const now = performance.now();
    const seen = this.#seen.get(key);
    if (seen !== undefined && now - seen.at < this.#window) {
      seen.suppressed++;
      return;
    }
    const more = seen !== undefined && seen.suppressed > 0
      ? ` (${seen.suppressed} more like this in the last ${Math.round((now - seen.at) / 1000)} s)`
      : "";
    this.#seen.set(key, { at: now, suppressed: 0 });
    if (this.#seen.size > 10_000) this.#seen.clear();
    this.#sink(line + more);
  }

  /** Writes a line only the first time its key is seen (per process). */
  once(key: string, line: string): void {
    if (this.#once.has(key)) return;
    if (this.#once.size > 10_000) return;
    this.#once.add(key);
    this.#sink(line);
  }

  /** Forgets a key, so the next line about it is written at once. */
  reset(key: string): void {
    this.#seen.delete(key);
  }
}

/** Writes a line to stderr (the default sink). */
export function stderrSink(line: string): void {
  const bytes = new TextEncoder().encode(`${line}\n`);
  let off = 0;
  while (off < bytes.byteLength) off += Deno.stderr.writeSync(bytes.subarray(off));
}
