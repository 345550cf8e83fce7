/**
 * Start-up: spawn to the first accepted connection, for every system.
 *
 * @module
 */

import { type Context, medians, rotate, type Scenario } from "../_registry.ts";
import type { SystemKind } from "../_systems.ts";

/** The start-up row. */
export const startup: Scenario = {
  id: "startup",
  async run(ctx: Context): Promise<void> {
    const n = ctx.quick ? 2 : 5;
    const samples: Partial<Record<SystemKind, number[]>> = {};
    for (let i = 0; i < n; i++) {
      for (const kind of rotate(ctx.systems, i)) {
        const s = await ctx.start(kind);
        (samples[kind] ??= []).push(s.startupMs);
        await ctx.stop(s);
      }
    }
    ctx.addRow({
      id: "startup",
      figure: "start-up to first accepted connection",
      unit: "ms",
      values: medians(samples),
      samples,
      note: "spawn to the first successful connect() (command.sock, the Redis socket, the NATS " +
        "port); the daemon opens its store first",
    });
  },
};
