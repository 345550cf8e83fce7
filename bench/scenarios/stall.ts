/**
 * Routing stalls: the longest a message waits while the daemon answers the
 * largest queries and commits bursts. The client paces 5000 msg/s to one
 * subscriber (as the latency rows do) while a load worker (`bench/_load.ts`)
 * asks, back to back on `query.sock`, for a type's whole history (1000 kept
 * messages, ~300 KB) and every type's state (50 types), and every 100 ms
 * writes a 64 KiB burst (256 messages: one store commit with history
 * pruning) to a type nobody subscribes to. The figure is the maximum
 * publish-to-receipt latency over the measured window: a query or commit
 * that held the routing thread for 5 ms shows as a message at least 5 ms
 * late. The relay takes the same paced stream and bursts (it has no
 * queries): its maximum is what the machine itself adds.
 *
 * @module
 */

import { type ClientResult, runClient } from "../_proc.ts";
import { type Context, median, medians, rotate, type Scenario, withSystem } from "../_registry.ts";
import type { SystemKind } from "../_systems.ts";

/** The routing-stall row. */
export const stall: Scenario = {
  id: "stall",
  async run(ctx: Context): Promise<void> {
    const max: Partial<Record<SystemKind, number[]>> = {};
    const burstsOnly: number[] = [];
    const raw: Record<string, ClientResult[]> = {};
    let delivered = true;
    // "bursts": the daemon with the bursts but no queries, to tell the two apart.
    const variants = ["daemon", "relay", "bursts"] as const;
    for (let i = 0; i < ctx.runs; i++) {
      for (const variant of rotate([...variants], i)) {
        const kind = variant === "bursts" ? "daemon" : variant;
        await withSystem(ctx, kind, async (s) => {
          const result = await runClient({
            mode: "latency",
            endpoint: s.endpoint,
            types: ["bench"],
            subscribersPerType: 1,
            size: 250,
            rate: 5000,
            durationMs: ctx.quick ? 1200 : 5000,
            warmupMs: 500,
            load: {
              queries: variant === "daemon",
              historyMessages: 1000,
              stateTypes: 50,
              burstEveryMs: 100,
              burstMessages: 256,
            },
          }, 40_000);
          (raw[variant] ??= []).push(result);
          const ok = ctx.delivered(`stall ${variant} run ${i + 1}`, result);
          delivered &&= ok;
          if (variant === "bursts") burstsOnly.push(ok ? Number(result.maxMs) : NaN);
          else (max[kind] ??= []).push(ok ? Number(result.maxMs) : NaN);
          const load = (result.load ?? {}) as Record<string, unknown>;
          ctx.log(
            `stall ${variant} run ${i + 1}: max ${Number(result.maxMs).toFixed(2)} ms, p99.9 ${
              Number(result.p999Ms).toFixed(2)
            } ms, ${result.over5Ms} over 5 ms; ${load.queries} queries (slowest ${
              Number(load.maxQueryMs).toFixed(1)
            } ms, ${load.maxResponseBytes} B), ${load.bursts} bursts`,
          );
        });
      }
    }
    ctx.detail("stall", raw);
    const values = medians(max);
    const d = (raw.daemon ?? []).map((r) => (r.load ?? {}) as Record<string, unknown>);
    ctx.addRow({
      id: "stall",
      figure: "longest routing stall under queries + commits",
      unit: "ms",
      values,
      samples: max,
      target: "<= 5 ms",
      pass: values.daemon! <= 5,
      delivered,
      note: `max publish-to-receipt latency at 5k msg/s while ${
        d.map((x) => x.queries).join("/")
      } queries (history of 1000, state of 50 types; slowest answer ${
        Math.max(...d.map((x) => Number(x.maxQueryMs))).toFixed(1)
      } ms) and 64 KiB bursts ran; the daemon with the bursts alone: ${
        median(burstsOnly).toFixed(1)
      } ms; relay: same stream and bursts, no queries`,
    });
  },
};
