import type { LogFormat, LogLevel } from "./config.ts";

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const encoder = new TextEncoder();

/** Lines per key per window before a key is rate-limited. */
const BURST = 5;
const WINDOW_MS = 10_000;

/**
 * One-line, journald-friendly logs on stderr: `LEVEL message key=value`, or
 * one JSON object per line. Keyed messages are rate-limited so that a flood
 * of bad frames cannot flood the log: after a burst, one line per window
 * says how many were suppressed.
 */
export class Logger {
  #level: number;
  #format: LogFormat;
  #sink: (line: string) => void;
  #limits = new Map<string, { windowStart: number; count: number; suppressed: number }>();

  constructor(level: LogLevel, format: LogFormat, sink?: (line: string) => void) {
    this.#level = LEVELS[level];
    this.#format = format;
    this.#sink = sink ?? ((line) => {
      try {
        Deno.stderr.writeSync(encoder.encode(line + "\n"));
      } catch {
        // stderr gone: nowhere left to log
      }
    });
  }

  enabled(level: LogLevel): boolean {
    return LEVELS[level] >= this.#level;
  }

  log(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
    if (!this.enabled(level)) return;
    if (this.#format === "json") {
      this.#sink(
        JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields }),
      );
      return;
    }
    let line = `${level.toUpperCase()} ${message}`;
    for (const [key, value] of Object.entries(fields)) {
      const text = typeof value === "string" ? value : JSON.stringify(value);
      line += ` ${key}=${/[\s"=]/.test(text) ? JSON.stringify(text) : text}`;
    }
    this.#sink(line);
  }

  debug(message: string, fields?: Record<string, unknown>): void {
    this.log("debug", message, fields);
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.log("info", message, fields);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.log("warn", message, fields);
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.log("error", message, fields);
  }

  /** Logs at most {@linkcode BURST} lines per `key` per 10 s window. */
  limited(
    level: LogLevel,
    key: string,
    message: string,
    fields: Record<string, unknown> = {},
  ): void {
    if (!this.enabled(level)) return;
    const now = Date.now();
    let entry = this.#limits.get(key);
    if (entry === undefined || now - entry.windowStart >= WINDOW_MS) {
      if (entry !== undefined && entry.suppressed > 0) {
        this.log(level, `suppressed ${entry.suppressed} similar lines`, { key });
      }
      if (this.#limits.size > 1000) this.#limits.clear();
      entry = { windowStart: now, count: 0, suppressed: 0 };
      this.#limits.set(key, entry);
    }
    if (entry.count < BURST) {
      entry.count++;
      this.log(level, message, fields);
    } else {
      entry.suppressed++;
    }
  }
}
