/**
 * The bridge rows: throughput and end-to-end latency from host A through a
 * broker to host B at 1 000 msg/s (p50, p99), for NATS (JetStream) and MQTT
 * (QoS 1). Each run starts its own broker, two daemons and two bridges
 * (`bench/bridge_bench.ts`); skipped, with the reason, when `nats-server`
 * or `mosquitto` is not installed.
 *
 * @module
 */

import type { Context, Scenario } from "../_registry.ts";
import { median } from "../_registry.ts";
import { type BridgeRow, runBroker } from "../bridge_bench.ts";
import { SKIP_REASON } from "../../tests/bridge/_servers.ts";

/** The bridge scenario. */
export const bridge: Scenario = {
  id: "bridge",
  async run(ctx: Context): Promise<void> {
    if (SKIP_REASON !== null) {
      ctx.log(`bridge rows skipped: ${SKIP_REASON}`);
      return;
    }
    const options = ctx.quick ? { count: 2000, paced: 1000 } : { count: 20_000, paced: 5000 };
    for (const kind of ["nats", "mqtt"] as const) {
      const runs: BridgeRow[][] = [];
      for (let i = 0; i < ctx.runs; i++) {
        ctx.log(`bridge over ${kind}: run ${i + 1} of ${ctx.runs}`);
        try {
          runs.push(await runBroker(kind, options));
        } catch (err) {
          ctx.fail(
            `bridge over ${kind}: ${err instanceof Error ? err.message.split("\n")[0] : err}`,
          );
        }
      }
      if (runs.length === 0) continue;
      for (let r = 0; r < runs[0]!.length; r++) {
        const samples = runs.map((run) => run[r]!.value);
        const row = runs[0]![r]!;
        ctx.addRow({
          id: "bridge",
          figure: row.figure,
          unit: row.unit,
          values: { daemon: median(samples) },
          samples: { daemon: samples },
          delivered: runs.length === ctx.runs,
          note: r === 0
            ? `${
              kind === "nats" ? "nats-server -js" : "mosquitto (set_tcp_nodelay)"
            }, two daemons and two bridges as processes on one machine; every message once, in order`
            : "",
        });
      }
    }
  },
};
