/**
 * The `watch --format waybar` renderer, as pure functions of a message
 * sequence: {@linkcode WaybarRenderer.apply} folds messages into a small
 * state, {@linkcode WaybarRenderer.output} gives the object a waybar custom
 * module with `"return-type": "json"` reads, one per line:
 *
 * | class | when | text | percentage |
 * | --- | --- | --- | --- |
 * | `running` | an operation runs | `NAME PCT%` (`+N` more) | its overall progress |
 * | `completed` | the last operation finished | `✓ NAME` | 100 |
 * | `failed` | the last operation failed | `✗ NAME` | 0 |
 * | `idle` | no operation seen | the last state value | 0 |
 * | `disconnected` | no daemon answers | `daemon down` | 0 |
 *
 * The tooltip lists running operations, the last finished one and every
 * state key (`type key = value`).
 *
 * @module
 */

import type { Message } from "../protocol/mod.ts";
import { formatDuration, formatValue, percent, truncate } from "./_format.ts";

/** One line of `watch --format waybar` output. */
export interface WaybarOutput {
  /** The module's text. */
  text: string;
  /** Hover text (lines joined by `\n`). */
  tooltip: string;
  /** CSS class: `running`, `completed`, `failed`, `idle` or `disconnected`. */
  class: "running" | "completed" | "failed" | "idle" | "disconnected";
  /** 0..100, for `format-icons` by percentage. */
  percentage: number;
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
  #state = new Map<string, unknown>();
  #lastState: string | null = null;
  #last: FinishedOp | null = null;
  #socketDir: string;

  /**
   * Makes an empty renderer.
   *
   * @param socketDir Named in the tooltip while the daemon is down.
   */
  constructor(socketDir = "") {
    this.#socketDir = socketDir;
  }

  /**
   * Marks the daemon as reachable or not.
   *
   * @param connected Whether a daemon answers.
   */
  setConnected(connected: boolean): void {
    this.#connected = connected;
  }

  /** Forgets running operations and state (before a fresh snapshot). */
  reset(): void {
    this.#ops.clear();
    this.#state.clear();
    this.#lastState = null;
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
        const stateKey = `${message.event_type} ${String(p.state_key)}`;
        this.#state.delete(stateKey);
        this.#state.set(stateKey, p.state_value);
        this.#lastState = stateKey;
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
      return {
        text: "daemon down",
        tooltip: `dotfiles-daemon is not running${
          this.#socketDir === "" ? "" : ` (no answer at ${this.#socketDir})`
        }`,
        class: "disconnected",
        percentage: 0,
      };
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
    for (const [key, value] of this.#state) tooltip.push(`${key} = ${formatValue(value, 80)}`);
    const tip = tooltip.join("\n");

    const newest = running.at(-1);
    if (newest !== undefined) {
      const pct = newest.percent === null ? "" : ` ${Math.round(newest.percent)}%`;
      const more = running.length > 1 ? ` +${running.length - 1}` : "";
      return {
        text: `${truncate(newest.name, 30)}${pct}${more}`,
        tooltip: tip,
        class: "running",
        percentage: Math.round(newest.percent ?? 0),
      };
    }
    if (this.#last !== null) {
      return {
        text: `${this.#last.ok ? "✓" : "✗"} ${truncate(this.#last.name, 30)}`,
        tooltip: tip,
        class: this.#last.ok ? "completed" : "failed",
        percentage: this.#last.ok ? 100 : 0,
      };
    }
    const text = this.#lastState === null ? "" : formatValue(this.#state.get(this.#lastState), 40);
    return { text, tooltip: tip, class: "idle", percentage: 0 };
  }
}
