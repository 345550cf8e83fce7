/**
 * The soak's verdict on growth: RSS, file descriptors and query round trip
 * compared between the two halves of the samples taken after a fixed
 * warm-up, or no verdict when too little was sampled after it.
 *
 * @module
 */

/** One soak sample, as the verdict reads it. */
export interface GrowthSample {
  /** Seconds since the run started. */
  t: number;
  rssMiB: number;
  fds: number;
  /** Median query round trip in the sample's window, ms. */
  lagP50: number;
}

/** Options of {@linkcode judgeGrowth}. */
export interface GrowthOptions {
  /**
   * Seconds ignored at the start: V8 grows its heap to the allocation rate
   * and then holds it (measured: 75 MiB at 10 s, 135 MiB by 180 s, then flat,
   * at 300 msg/s).
   *
   * @default {180}
   */
  warmupSeconds?: number;
  /**
   * Seconds that must be sampled after the warm-up to judge.
   *
   * @default {100}
   */
  judgedSeconds?: number;
  /**
   * Short-lived subscribers per second: their connections are the fds' swing.
   *
   * @default {4}
   */
  churnPerSecond?: number;
}

/** Means of the earlier and the later half, and whether it is flat. */
export interface Trend {
  earlier: number;
  later: number;
  flat: boolean;
}

/** What {@linkcode judgeGrowth} finds. */
export type Growth =
  | { judged: false; reason: string }
  | { judged: true; from: number; to: number; rss: Trend; fds: Trend; lag: Trend; flat: boolean };

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Judges growth from the samples after the warm-up, earlier half against
 * later half: flat when RSS is within 10 % + 5 MiB, fds within the churn
 * swing (+2), and the median round trip has not doubled (+1 ms). With less
 * than `judgedSeconds` sampled after the warm-up, no verdict: warm-up growth
 * would read as a leak.
 *
 * @param samples The samples, in time order.
 * @param options Warm-up, judged span, churn.
 * @returns The verdict, or why there is none.
 *
 * @example
 * ```ts
 * import { judgeGrowth } from "./_verdict.ts";
 * import assert from "node:assert/strict";
 *
 * const sample = (i: number) => ({ t: 10 * (i + 1), rssMiB: 100, fds: 50, lagP50: 1 });
 * const flat = Array.from({ length: 60 }, (_, i) => sample(i));
 * assert.equal(judgeGrowth(flat).judged, true);
 * assert.equal(judgeGrowth(flat.slice(0, 18)).judged, false);
 * ```
 */
export function judgeGrowth(samples: GrowthSample[], options: GrowthOptions = {}): Growth {
  const { warmupSeconds = 180, judgedSeconds = 100, churnPerSecond = 4 } = options;
  const after = samples.filter((s) => s.t > warmupSeconds);
  const span = (after.at(-1)?.t ?? warmupSeconds) - warmupSeconds;
  if (after.length < 2 || span < judgedSeconds) {
    const minutes = Math.ceil((warmupSeconds + judgedSeconds) / 60);
    return {
      judged: false,
      reason:
        `${span} s sampled after the ${warmupSeconds} s warm-up, ${judgedSeconds} s needed: ` +
        `run at least ${minutes} minutes`,
    };
  }
  const half = Math.floor(after.length / 2);
  const earlier = after.slice(0, half);
  const later = after.slice(after.length - half);
  const trend = (
    pick: (s: GrowthSample) => number,
    isFlat: (a: number, b: number) => boolean,
  ): Trend => {
    const a = mean(earlier.map(pick));
    const b = mean(later.map(pick));
    return { earlier: a, later: b, flat: isFlat(a, b) };
  };
  const rss = trend((s) => s.rssMiB, (a, b) => b <= a * 1.1 + 5);
  const fds = trend((s) => s.fds, (a, b) => b <= a + churnPerSecond * 5 + 2);
  const lag = trend((s) => s.lagP50, (a, b) => b <= a * 2 + 1);
  return {
    judged: true,
    from: earlier[0]!.t,
    to: later.at(-1)!.t,
    rss,
    fds,
    lag,
    flat: rss.flat && fds.flat && lag.flat,
  };
}
