/**
 * `DaemonPublisher.publish()`: `Deno.bench` of `bench/publisher_bench.ts`
 * against a live daemon and against the relay (the publisher's own cost:
 * serialise, frame, write; not delivery).
 *
 * @module
 */

import { publisherBench } from "../_proc.ts";
import type { Context, Scenario } from "../_registry.ts";

const KEY = "publish() a prebuilt 250-byte message";

/** The publish() row. */
export const publish: Scenario = {
  id: "publish",
  async run(ctx: Context): Promise<void> {
    const n = ctx.quick ? 2_000 : 20_000;
    const us: Record<string, number> = {};
    const raw: Record<string, unknown> = {};
    for (const kind of ["daemon", "relay"] as const) {
      const s = await ctx.start(kind);
      try {
        const r = await publisherBench(s.socketDir, n, 120_000);
        raw[kind] = r;
        if (r.error !== undefined) ctx.fail(`publish bench on ${kind}: ${r.error}`);
        us[kind] = ((r[KEY] as { avgNs?: number } | undefined)?.avgNs ?? NaN) / 1000;
      } finally {
        await ctx.stop(s);
      }
    }
    ctx.detail("publish", raw);
    ctx.addRow({
      id: "publish",
      figure: "DaemonPublisher.publish() (Deno.bench avg)",
      unit: "us",
      values: { daemon: us.daemon!, relay: us.relay! },
      samples: { daemon: [us.daemon!], relay: [us.relay!] },
      note: "resolves once the frame is written to command.sock",
    });
  },
};
