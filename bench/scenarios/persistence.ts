/**
 * What the store costs: 1 -> 1 throughput of a fresh daemon with the store
 * against a fresh daemon with `--no-persist`, in interleaved pairs whose
 * order alternates (store first, then no-store first), each warmed up in the
 * same way. Rows: the `--no-persist` figure, and the cost in percent.
 *
 * @module
 */

import { type Context, median, type Scenario } from "../_registry.ts";
import { floodOnce } from "./fanout.ts";

/** The persistence rows. */
export const persistence: Scenario = {
  id: "persistence",
  async run(ctx: Context): Promise<void> {
    const pairs = ctx.quick ? 2 : Math.max(4, ctx.runs);
    const spec = {
      types: ["bench"],
      subscribersPerType: 1,
      messages: ctx.quick ? 60_000 : 300_000,
    };
    const store: number[] = [];
    const noStore: number[] = [];
    const cpu: { store: number[]; noStore: number[] } = { store: [], noStore: [] };
    for (let i = 0; i < pairs; i++) {
      for (const persist of i % 2 === 0 ? [true, false] : [false, true]) {
        const { rate, cpuUsPerMessage } = await floodOnce(
          ctx,
          "daemon",
          spec,
          `persistence ${persist ? "store" : "--no-persist"} pair ${i + 1}`,
          { persist },
        );
        (persist ? store : noStore).push(rate);
        (persist ? cpu.store : cpu.noStore).push(cpuUsPerMessage);
      }
    }
    // Each pair ran back to back: the median of the pairs' costs cancels
    // slow phases of a shared machine better than a ratio of medians.
    const perPair = store.map((s, i) => 1 - s / (noStore[i] ?? NaN));
    const cost = median(perPair);
    const cpuCost = median(cpu.store) / median(cpu.noStore) - 1;
    ctx.detail("persistence", { store, noStore, cpu });
    ctx.addRow({
      id: "fanout_1_no_persist",
      figure: "fan-out 1 -> 1, daemon --no-persist",
      unit: "msg/s",
      values: { daemon: median(noStore) },
      samples: { daemon: noStore },
      delivered: noStore.every(Number.isFinite) && store.every(Number.isFinite),
    });
    ctx.addRow({
      id: "persistence",
      figure: "persistence cost (1 -> 1, store vs --no-persist)",
      unit: "%",
      values: { daemon: cost * 100 },
      samples: { daemon: perPair.map((c) => c * 100) },
      target: "< 20%",
      pass: cost < 0.2,
      note: `median of ${pairs} pairs of fresh daemons, order alternating; per pair ${
        perPair.map((c) => `${(c * 100).toFixed(0)}%`).join(", ")
      }; store ${store.map((x) => Math.round(x / 1000)).join("/")}k, --no-persist ${
        noStore.map((x) => Math.round(x / 1000)).join("/")
      }k msg/s; daemon CPU per message ${median(cpu.store).toFixed(2)} vs ${
        median(cpu.noStore).toFixed(2)
      } us (${(cpuCost * 100).toFixed(0)}% more with the store)`,
    });
  },
};
