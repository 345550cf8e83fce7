/**
 * The `watch --format waybar` renderer, as pure functions of a message
 * sequence: {@linkcode WaybarRenderer.apply} folds messages into a small
 * state, {@linkcode WaybarRenderer.output} gives the object a waybar custom
 * module with `"return-type": "json"` reads, one per line:
 *
 * | class and alt | when | text | percentage |
 * | --- | --- | --- | --- |
 * | `running` | an operation runs | `NAME PCT%` (`+N` more) | its overall progress |
 * | `completed` | the last operation finished | `✓ NAME` | 100 |
 * | `failed` | the last operation failed | `✗ NAME` | 0 |
 * | `idle` | no operation seen | the state value (or the idle text) | 0 |
 * | `disconnected` | no daemon answers | `daemon down` | 0 |
 *
 * The tooltip lists running operations, the last finished one and every
 * state key (`type key = value`). `text` and `tooltip` are Pango markup
 * (waybar parses them unless `"escape": true`): what comes from events is
 * escaped, `text` is one line, cut without splitting an entity.
 *
 * @module
 */

import type { Message } from "../protocol/message.ts";
import {
  escapeMarkup,
  formatDuration,
  formatValue,
  oneLine,
  percent,
  renderTemplate,
  truncateMarkup,
} from "./_format.ts";

/** The states a bar module can be in: both its CSS class and its `alt`. */
export type WaybarState = "running" | "completed" | "failed" | "idle" | "disconnected";

/** One line of `watch --format waybar` output. */
export interface WaybarOutput {
  /** The module's text: escaped Pango markup, one line. */
  text: string;
  /** For `format-icons` keyed by state: the same as `class`. */
  alt: WaybarState;
  /** Hover text: escaped Pango markup, lines joined by `\n`. */
  tooltip: string;
  /** CSS class: `running`, `completed`, `failed`, `idle` or `disconnected`. */
  class: WaybarState;
  /** An integer 0..100, for `format-icons` by percentage. */
  percentage: number;
}

/** Options for {@linkcode WaybarRenderer}. */
export interface WaybarRendererOptions {
  /**
   * Named in the tooltip while the daemon is down.
   *
   * @default {""}
   */
  socketDir?: string;
  /**
   * The state key whose value the idle text shows (of any watched type);
   * without it, the key updated last.
   */
  stateKey?: string;
  /**
   * How the idle text shows the state value: `{path}` fields of the value
   * (see `renderTemplate`); without it, the value as `formatValue` shows it.
   */
  stateText?: string;
  /**
   * The idle text when there is no state value to show.
   *
   * @default {""}
   */
  idleText?: string;
  /**
   * The longest `text`, in visible characters.
   *
   * @default {40}
   */
  maxLength?: number;
}

interface RunningOp {
  eventType: string;
  name: string;
  step: string | null;
  percent: number | null;
}

interface FinishedOp {
  ok: boolean;
  eventType: string;
  name: string;
  detail: string;
}

function str(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

/** Folds messages into what a status bar shows. */
export class WaybarRenderer {
  #connected = true;
  #ops = new Map<string, RunningOp>();
  #state = new Map<string, { key: string; value: unknown }>();
  #lastState: string | null = null;
  #last: FinishedOp | null = null;
  #socketDir: string;
  #stateKey: string | undefined;
  #stateText: string | undefined;
  #idleText: string;
  #max: number;

  /**
   * Makes an empty renderer.
   *
   * @param options Socket dir for the tooltip, and what the idle text shows.
   */
  constructor(options: WaybarRendererOptions = {}) {
    const { socketDir = "", stateKey, stateText, idleText = "", maxLength = 40 } = options;
    this.#socketDir = socketDir;
    this.#stateKey = stateKey;
    this.#stateText = stateText;
    this.#idleText = idleText;
    this.#max = maxLength;
  }

  /**
   * Marks the daemon as reachable or not.
   *
   * @param connected Whether a daemon answers.
   */
  setConnected(connected: boolean): void {
    this.#connected = connected;
  }

  /** Forgets operations and state (before a fresh snapshot). */
  reset(): void {
    this.#ops.clear();
    this.#state.clear();
    this.#lastState = null;
    this.#last = null;
  }

  /**
   * Applies one message.
   *
   * @param message A routed (or snapshot) message.
   */
  apply(message: Message): void {
    const p = message.payload;
    const key = `${message.event_type}\0${String(p.operation_id)}`;
    switch (p.type) {
      case "operation_started":
      case "operation_progress": {
        let op = this.#ops.get(key);
        if (op === undefined) {
          op = {
            eventType: message.event_type,
            name: str(p.operation_name) ?? String(p.operation_id),
            step: null,
            percent: null,
          };
          this.#ops.set(key, op);
        }
        if (p.type === "operation_started") op.name = str(p.operation_name) ?? op.name;
        else {
          op.step = str(p.step_name) ?? str(p.step_id) ?? op.step;
          op.percent = percent(p.overall_progress) ?? op.percent;
        }
        return;
      }
      case "operation_completed":
      case "operation_failed": {
        const op = this.#ops.get(key);
        this.#ops.delete(key);
        const ok = p.type === "operation_completed";
        const detail = ok
          ? typeof p.duration_seconds === "number" ? formatDuration(p.duration_seconds) : ""
          : [str(p.error_code), str(p.error_message)].filter((x) => x !== null).join(": ");
        this.#last = {
          ok,
          eventType: message.event_type,
          name: op?.name ?? String(p.operation_id),
          detail,
        };
        return;
      }
      case "state_update": {
        const key = String(p.state_key);
        const label = `${message.event_type} ${key}`;
        this.#state.delete(label);
        this.#state.set(label, { key, value: p.state_value });
        if (this.#stateKey === undefined || this.#stateKey === key) this.#lastState = label;
        return;
      }
    }
  }

  /**
   * The object to print now.
   *
   * @returns The waybar JSON object.
   */
  output(): WaybarOutput {
    if (!this.#connected) {
      return this.#line(
        "disconnected",
        "daemon down",
        [`dotfiles-daemon is not running${
          this.#socketDir === "" ? "" : ` (no answer at ${this.#socketDir})`
        }`],
        0,
      );
    }
    const tooltip: string[] = [];
    const running = [...this.#ops.values()];
    for (const op of running) {
      const pct = op.percent === null ? "" : ` ${Math.round(op.percent)}%`;
      tooltip.push(`▶ ${op.name}${pct}${op.step === null ? "" : ` (${op.step})`}`);
    }
    if (this.#last !== null) {
      const l = this.#last;
      tooltip.push(`${l.ok ? "✓" : "✗"} ${l.name}${l.detail === "" ? "" : ` ${l.detail}`}`);
    }
    for (const [label, { value }] of this.#state) {
      tooltip.push(`${label} = ${formatValue(value, 80)}`);
    }

    const newest = running.at(-1);
    if (newest !== undefined) {
      const pct = newest.percent === null ? "" : ` ${Math.round(newest.percent)}%`;
      const more = running.length > 1 ? ` +${running.length - 1}` : "";
      return this.#line("running", newest.name, tooltip, newest.percent ?? 0, `${pct}${more}`);
    }
    if (this.#last !== null) {
      const ok = this.#last.ok;
      return this.#line(
        ok ? "completed" : "failed",
        `${ok ? "✓" : "✗"} ${this.#last.name}`,
        tooltip,
        ok ? 100 : 0,
      );
    }
    const state = this.#lastState === null ? undefined : this.#state.get(this.#lastState);
    const text = state === undefined
      ? this.#idleText
      : this.#stateText === undefined
      ? formatValue(state.value, Infinity)
      : renderTemplate(this.#stateText, state.value);
    return this.#line("idle", text, tooltip, 0);
  }

  /** Escapes, folds and cuts: `text` (then `suffix`, never cut) and the tooltip lines. */
  #line(
    state: WaybarState,
    text: string,
    tooltip: string[],
    percentage: number,
    suffix = "",
  ): WaybarOutput {
    const cut = truncateMarkup(escapeMarkup(oneLine(text)), Math.max(1, this.#max - suffix.length));
    return {
      text: `${cut}${escapeMarkup(suffix)}`,
      alt: state,
      tooltip: tooltip.map((line) => escapeMarkup(oneLine(line))).join("\n"),
      class: state,
      percentage: Math.round(percent(percentage) ?? 0),
    };
  }
}
