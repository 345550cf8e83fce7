/**
 * What a benchmark scenario is and what it gets from the suite. A scenario
 * is one file in `bench/scenarios/`, listed once in `bench/scenarios/mod.ts`;
 * it starts the systems it needs through {@linkcode Context.start} (fresh
 * processes on temp dirs, stopped by the suite even when it throws), runs
 * clients, and adds rows. `bench/run.ts` runs the selected scenarios in
 * order and prints one table.
 *
 * To add a row: write `bench/scenarios/my_row.ts` exporting a
 * {@linkcode Scenario}, add it to the list in `bench/scenarios/mod.ts`, and
 * describe it in the README's Benchmarks section.
 *
 * @module
 */

import type { ClientResult } from "./_proc.ts";
import type { System, SystemKind, SystemOptions } from "./_systems.ts";

/** One line of the table: a figure per system, with the daemon's target. */
export interface Row {
  id: string;
  figure: string;
  /** `msg/s`, `ms`, `MB`, `us`, `ms/min`, `%`. */
  unit: string;
  /** Median per system; a missing system prints `-`. */
  values: Partial<Record<SystemKind, number>>;
  /** Every run's figure per system (in the JSON output). */
  samples: Partial<Record<SystemKind, number[]>>;
  /** The target, as text ("≥ 0.5× relay"); empty when there is none. */
  target?: string;
  /** Whether the daemon meets it; null when there is no target. */
  pass?: boolean | null;
  /** Whether every run of every system delivered every message, once, in order. */
  delivered?: boolean | null;
  /** What limits the figure or how it was taken (printed under the table). */
  note?: string;
}

/** What the suite gives a scenario. */
export interface Context {
  /** `--quick`: fewer messages, fewer runs; the whole suite under a minute. */
  quick: boolean;
  /** Runs per figure (`--runs`). */
  runs: number;
  /** Systems that can run here, in table order (Redis and NATS only when installed). */
  systems: SystemKind[];
  /** Logs a progress line on stderr. */
  log(text: string): void;
  addRow(row: Row): void;
  /** Records a failure: printed under the table; the suite exits 1. */
  fail(text: string): void;
  /** Keeps raw results for `--json`. */
  detail(key: string, value: unknown): void;
  /** Starts a fresh system; the suite stops it at the end if the scenario does not. */
  start(kind: SystemKind, options?: SystemOptions): Promise<System>;
  stop(system: System): Promise<void>;
  /**
   * Checks a client result: true when everything arrived once, in order;
   * otherwise records a failure naming `label`.
   */
  delivered(label: string, result: ClientResult): boolean;
}

/** One scenario: a few rows of the table. */
export interface Scenario {
  /** Name for `--only`. */
  id: string;
  run(ctx: Context): Promise<void>;
}

/** The median of the finite values, or NaN. */
export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Medians of every system's samples. */
export function medians(
  samples: Partial<Record<SystemKind, number[]>>,
): Partial<Record<SystemKind, number>> {
  const out: Partial<Record<SystemKind, number>> = {};
  for (const [k, xs] of Object.entries(samples)) out[k as SystemKind] = median(xs);
  return out;
}

/** `systems` rotated by `i`, so no system always runs first or last. */
export function rotate<T>(systems: T[], i: number): T[] {
  const k = i % Math.max(1, systems.length);
  return [...systems.slice(k), ...systems.slice(0, k)];
}

/** Starts `kind`, runs `fn` with it, stops it. */
export async function withSystem<T>(
  ctx: Context,
  kind: SystemKind,
  fn: (system: System) => Promise<T>,
  options?: SystemOptions,
): Promise<T> {
  const system = await ctx.start(kind, options);
  try {
    return await fn(system);
  } finally {
    await ctx.stop(system);
  }
}
