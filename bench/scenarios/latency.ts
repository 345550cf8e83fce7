/**
 * Latency at a paced 5000 msg/s to 10 subscribers, on every system: one
 * publisher in a worker of the client (`Atomics.wait` between messages), the
 * publish time in the payload, every receipt at every subscriber timed on the
 * same clock, after a 500 ms unmeasured lead-in. Fresh systems, rotating
 * order.
 *
 * @module
 */

import { type ClientResult, runClient } from "../_proc.ts";
import { type Context, medians, rotate, type Scenario, withSystem } from "../_registry.ts";
import type { SystemKind } from "../_systems.ts";

/** The latency rows. */
export const latency: Scenario = {
  id: "latency",
  async run(ctx: Context): Promise<void> {
    const p50: Partial<Record<SystemKind, number[]>> = {};
    const p99: Partial<Record<SystemKind, number[]>> = {};
    const max: Partial<Record<SystemKind, number[]>> = {};
    const raw: Record<string, ClientResult[]> = {};
    let delivered = true;
    for (let i = 0; i < ctx.runs; i++) {
      for (const kind of rotate(ctx.systems, i)) {
        await withSystem(ctx, kind, async (s) => {
          const result = await runClient({
            mode: "latency",
            endpoint: s.endpoint,
            types: ["bench"],
            subscribersPerType: 10,
            size: 250,
            rate: 5000,
            durationMs: ctx.quick ? 1000 : 4000,
            warmupMs: 500,
          }, 40_000);
          (raw[kind] ??= []).push(result);
          const ok = ctx.delivered(`latency ${kind} run ${i + 1}`, result);
          delivered &&= ok;
          (p50[kind] ??= []).push(ok ? Number(result.p50Ms) : NaN);
          (p99[kind] ??= []).push(ok ? Number(result.p99Ms) : NaN);
          (max[kind] ??= []).push(ok ? Number(result.maxMs) : NaN);
          ctx.log(
            `latency ${kind} run ${i + 1}: p50 ${Number(result.p50Ms).toFixed(3)} p99 ${
              Number(result.p99Ms).toFixed(3)
            } max ${Number(result.maxMs).toFixed(2)} ms`,
          );
        });
      }
    }
    ctx.detail("latency", raw);
    ctx.addRow({
      id: "latency_p50",
      figure: "latency p50 at 5k msg/s, 10 subscribers",
      unit: "ms",
      values: medians(p50),
      samples: p50,
      delivered,
    });
    const v99 = medians(p99);
    ctx.addRow({
      id: "latency_p99",
      figure: "latency p99 at 5k msg/s, 10 subscribers",
      unit: "ms",
      values: v99,
      samples: p99,
      target: "<= 1.2x relay",
      pass: v99.daemon! <= 1.2 * v99.relay!,
      delivered,
    });
    ctx.addRow({
      id: "latency_max",
      figure: "latency max at 5k msg/s, 10 subscribers",
      unit: "ms",
      values: medians(max),
      samples: max,
      delivered,
    });
  },
};
