/**
 * Idle and memory: RSS after start-up (every system), idle CPU with 100
 * connected subscribers, and RSS with 1000 subscribers (daemon and relay).
 *
 * @module
 */

import { cpuDelta, cpuTime, holdClient, rss, sleep } from "../_proc.ts";
import type { Context, Scenario } from "../_registry.ts";
import type { System, SystemKind } from "../_systems.ts";

const MB = 1048576;

/** The idle and memory rows. */
export const idle: Scenario = {
  id: "idle",
  async run(ctx: Context): Promise<void> {
    const all: System[] = [];
    try {
      for (const kind of ctx.systems) all.push(await ctx.start(kind));
      await sleep(1000);
      const idleRss: Partial<Record<SystemKind, number>> = {};
      for (const s of all) idleRss[s.kind] = (await rss(s.pid)) / MB;
      ctx.addRow({
        id: "rss_idle",
        figure: "RSS idle",
        unit: "MB",
        values: idleRss,
        samples: Object.fromEntries(Object.entries(idleRss).map(([k, v]) => [k, [v]])),
      });
    } finally {
      for (const s of all) await ctx.stop(s);
    }

    // 1000 subscribers on one event socket: over the default of 256
    // connections per socket, which would close the newest at once.
    const both = [
      await ctx.start("daemon", { extraArgs: ["--max-connections", "1024"] }),
      await ctx.start("relay"),
    ];
    try {
      const windowMs = ctx.quick ? 3_000 : 30_000;
      // V8's memory reducer runs up to three GCs in the 40 s or so after the
      // last activity (measured: 14-30 ms of CPU per 10 s between 20 and 40 s,
      // nothing after). The full run waits that out so the figure is the
      // steady state; --quick does not.
      const settleMs = ctx.quick ? 2000 : 45_000;
      const holders = await Promise.all(
        both.map((s) =>
          holdClient(
            { endpoint: s.endpoint, types: ["idle"], subscribersPerType: 100 },
            settleMs + windowMs + 10_000,
          )
        ),
      );
      try {
        await sleep(settleMs);
        const before = await Promise.all(both.map((s) => cpuTime(s.pid)));
        await sleep(windowMs);
        const after = await Promise.all(both.map((s) => cpuTime(s.pid)));
        const perMinute = (i: number) =>
          (cpuDelta(before[i]!, after[i]!).schedNs / 1e6) * (60_000 / windowMs);
        const d = perMinute(0);
        ctx.addRow({
          id: "idle_cpu",
          figure: `idle CPU, 100 subscribers (${windowMs / 1000} s window)`,
          unit: "ms/min",
          values: { daemon: d, relay: perMinute(1) },
          samples: { daemon: [d], relay: [perMinute(1)] },
          target: "< 10 ms/min",
          pass: d < 10,
          note: `sum of the threads' /proc/<pid>/task/*/schedstat run time after a ${
            settleMs / 1000
          } s settle`,
        });
      } finally {
        for (const h of holders) await h.stop();
      }

      const big = await Promise.all(
        both.map((s) =>
          holdClient({ endpoint: s.endpoint, types: ["mem"], subscribersPerType: 1000 }, 60_000)
        ),
      );
      try {
        await sleep(1000);
        const loaded = await Promise.all(both.map(async (s) => (await rss(s.pid)) / MB));
        ctx.addRow({
          id: "rss_1000",
          figure: "RSS with 1000 subscribers",
          unit: "MB",
          values: { daemon: loaded[0]!, relay: loaded[1]! },
          samples: { daemon: [loaded[0]!], relay: [loaded[1]!] },
          target: "< 150 MB",
          pass: loaded[0]! < 150,
          note: "after a probe message reached all 1000 (daemon run with --max-connections 1024)",
        });
      } finally {
        for (const h of big) await h.stop();
      }
    } finally {
      for (const s of both) await ctx.stop(s);
    }
  },
};
