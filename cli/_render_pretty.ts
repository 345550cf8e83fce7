/**
 * The `watch --format pretty` renderer, as pure functions of a message
 * sequence: {@linkcode PrettyRenderer.apply} takes one message and returns
 * the finished lines to print (state updates, ✓/✗ lines), and
 * {@linkcode PrettyRenderer.frame} draws the live block of progress bars for
 * the operations still running, at a given clock. The terminal side (cursor
 * moves, erasing, wrapping) is left to `log-update`; plain mode prints
 * {@linkcode PrettyRenderer.plain} lines instead.
 *
 * @module
 */

import type { Message } from "../protocol/mod.ts";
import {
  formatDuration,
  formatElapsed,
  formatValue,
  parseTimestamp,
  percent,
  truncate,
} from "./_format.ts";

/** One running operation as the renderer tracks it. */
export interface PrettyOperation {
  /** The operation's event type. */
  eventType: string;
  /** Its `operation_id`. */
  operationId: string;
  /** Its `operation_name`, else the id. */
  name: string;
  /** The latest step name or id, if any. */
  step: string | null;
  /** The latest overall progress 0..100, if any. */
  percent: number | null;
  /** When it started, in epoch ms (message timestamp), if known. */
  startedAt: number | null;
}

/** Options for {@linkcode PrettyRenderer.frame}. */
export interface FrameOptions {
  /** The clock, epoch ms, for the elapsed column. */
  now: number;
  /**
   * Terminal width in columns (0 or less means unknown: 80).
   *
   * @default {80}
   */
  width?: number;
  /**
   * Width of the bar itself, in cells.
   *
   * @default {20}
   */
  barWidth?: number;
}

/**
 * The width to draw for: the terminal's columns, or 80 when it reports none
 * (0, as some terminals and `script` do, or not a number), so a frame is
 * never wrapped one character per line.
 *
 * @param columns What `Deno.consoleSize().columns` said.
 * @returns A width of at least 1.
 */
export function terminalWidth(columns: number | undefined): number {
  return typeof columns === "number" && Number.isFinite(columns) && columns >= 1
    ? Math.floor(columns)
    : 80;
}

/**
 * The height to draw for: the terminal's rows, or 24 when it reports none
 * (0, which log-update takes as "draw nothing").
 *
 * @param rows What `Deno.consoleSize().rows` said.
 * @returns A height of at least 1.
 */
export function terminalHeight(rows: number | undefined): number {
  return typeof rows === "number" && Number.isFinite(rows) && rows >= 1 ? Math.floor(rows) : 24;
}

/** Options for {@linkcode PrettyRenderer}. */
export interface PrettyRendererOptions {
  /**
   * Wrap ✓ in green and ✗ in red (ANSI SGR).
   *
   * @default {false}
   */
  color?: boolean;
}

const GREEN = "\x1b[32m";
const RED = "\x1b[31m";
const RESET = "\x1b[39m";

function str(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

/** Renders `watch --format pretty` output from a message sequence. */
export class PrettyRenderer {
  #ops = new Map<string, PrettyOperation>();
  #color: boolean;

  /**
   * Makes a renderer with no operations.
   *
   * @param options Colour choice.
   */
  constructor(options: PrettyRendererOptions = {}) {
    const { color = false } = options;
    this.#color = color;
  }

  /** The running operations, oldest first. */
  get operations(): PrettyOperation[] {
    return [...this.#ops.values()];
  }

  #key(message: Message): string {
    return `${message.event_type}\0${String(message.payload.operation_id)}`;
  }

  #mark(ok: boolean): string {
    const mark = ok ? "✓" : "✗";
    if (!this.#color) return mark;
    return `${ok ? GREEN : RED}${mark}${RESET}`;
  }

  /**
   * Applies one message and returns the lines that are final (to print
   * above the bars): a state update as `[type] key = value`, a finished
   * operation as one ✓/✗ line with its duration, any other payload as a
   * compact JSON line. Started/progress messages only move the bars.
   *
   * @param message A routed message.
   * @returns Lines to print now (maybe none).
   */
  apply(message: Message): string[] {
    const p = message.payload;
    const tag = `[${message.event_type}]`;
    switch (p.type) {
      case "operation_started":
      case "operation_progress": {
        const key = this.#key(message);
        let op = this.#ops.get(key);
        if (op === undefined) {
          op = {
            eventType: message.event_type,
            operationId: String(p.operation_id),
            name: str(p.operation_name) ?? String(p.operation_id),
            step: null,
            percent: null,
            startedAt: parseTimestamp(message.timestamp),
          };
          this.#ops.set(key, op);
        }
        if (p.type === "operation_started") {
          op.name = str(p.operation_name) ?? op.name;
          op.startedAt = parseTimestamp(message.timestamp) ?? op.startedAt;
        } else {
          op.step = str(p.step_name) ?? str(p.step_id) ?? op.step;
          op.percent = percent(p.overall_progress) ?? op.percent;
        }
        return [];
      }
      case "operation_completed":
      case "operation_failed": {
        const key = this.#key(message);
        const op = this.#ops.get(key);
        this.#ops.delete(key);
        const name = op?.name ?? String(p.operation_id);
        const ok = p.type === "operation_completed";
        let seconds: number | null = typeof p.duration_seconds === "number"
          ? p.duration_seconds
          : null;
        if (seconds === null && op?.startedAt != null) {
          const end = parseTimestamp(message.timestamp);
          if (end !== null) seconds = (end - op.startedAt) / 1000;
        }
        let line = `${tag} ${this.#mark(ok)} ${name}`;
        if (seconds !== null) line += ` ${formatDuration(seconds)}`;
        if (!ok) {
          const code = str(p.error_code);
          const text = str(p.error_message);
          line += `  ${[code, text].filter((x) => x !== null).join(": ")}`;
        }
        return [line.trimEnd()];
      }
      case "state_update":
        return [`${tag} ${String(p.state_key)} = ${formatValue(p.state_value)}`];
      default:
        return [`${tag} ${p.type} ${truncate(JSON.stringify(p), 200)}`];
    }
  }

  /**
   * One plain line per message, for pipes and `NO_COLOR`: every message is
   * printed as it comes (starts and progress too), nothing is redrawn.
   * Call it instead of {@linkcode PrettyRenderer.apply}; it tracks the same
   * operations.
   *
   * @param message A routed message.
   * @returns The lines to print.
   */
  plain(message: Message): string[] {
    const p = message.payload;
    const tag = `[${message.event_type}]`;
    if (p.type === "operation_started" || p.type === "operation_progress") {
      this.apply(message);
      const op = this.#ops.get(this.#key(message));
      if (op === undefined) return [];
      if (p.type === "operation_started") return [`${tag} ▶ ${op.name} started`];
      const pct = op.percent === null ? "--%" : `${Math.round(op.percent)}%`;
      return [`${tag} ${op.name} ${pct}${op.step === null ? "" : ` ${op.step}`}`];
    }
    return this.apply(message);
  }

  /**
   * Draws one line per running operation: name, bar, percent, step and the
   * time since it started. Empty string when nothing runs.
   *
   * @param options The clock and widths.
   * @returns The frame (lines joined by `\n`, no trailing newline).
   */
  frame(options: FrameOptions): string {
    const { now, barWidth = 20 } = options;
    const width = terminalWidth(options.width);
    const lines: string[] = [];
    for (const op of this.#ops.values()) {
      const filled = op.percent === null ? 0 : Math.round((op.percent / 100) * barWidth);
      const bar = "█".repeat(filled) + "░".repeat(barWidth - filled);
      const pct = op.percent === null ? " --%" : `${String(Math.round(op.percent)).padStart(3)}%`;
      const elapsed = op.startedAt === null ? "" : ` ${formatElapsed(now - op.startedAt)}`;
      const head = `[${op.eventType}] ${op.name} `;
      const tail = ` ${bar} ${pct}${op.step === null ? "" : ` ${op.step}`}${elapsed}`;
      lines.push(truncate(truncate(head, Math.max(8, width - tail.length)) + tail, width));
    }
    return lines.join("\n");
  }

  /**
   * Forgets every running operation (after a snapshot replaces them).
   */
  reset(): void {
    this.#ops.clear();
  }
}
