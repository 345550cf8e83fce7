/**
 * The cost of `DaemonPublisher.publish()` for a ~250-byte message, against the
 * relay whose socket directory is in `BENCH_SOCKET_DIR` (the suite passes a
 * live daemon's, then the baseline relay's), or, when it is unset, against a
 * sink in this process that reads and discards. `BENCH_N` sets the iterations
 * per bench (default 20000).
 *
 * ```sh
 * deno bench --allow-read --allow-write --allow-net --allow-env bench/publisher_bench.ts
 * ```
 *
 * @module
 */

import { MessageBuilder } from "../protocol/mod.ts";
import { DaemonPublisher } from "../publisher/mod.ts";

async function startSink(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dotfiles-bench-sink-" });
  const listener = Deno.listen({ transport: "unix", path: `${dir}/command.sock` });
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const buf = new Uint8Array(64 * 1024);
        try {
          while ((await conn.read(buf)) !== null) {
            // discarded
          }
        } catch {
          // reset
        }
      })();
    }
  })();
  return dir;
}

const socketDir = Deno.env.get("BENCH_SOCKET_DIR") ?? await startSink();
const publisher = new DaemonPublisher({ socketDir, onWarning: () => {} });
if (!await publisher.connect()) throw new Error(`Cannot benchmark: no relay in ${socketDir}`);

function message(n: number): object {
  return MessageBuilder.stateUpdate({
    eventType: "bench_publish",
    stateKey: "bench",
    stateValue: { bench_p: 0, bench_n: n, bench_t: 0, pad: "x".repeat(14) },
  });
}
const prebuilt = message(0);
let n = 0;
// Iterations per bench: BENCH_N (the suite's --quick passes fewer).
const iterations = Number(Deno.env.get("BENCH_N") ?? 20_000);

Deno.bench({
  name: "publish() a prebuilt 250-byte message",
  group: "publish",
  baseline: true,
  n: iterations,
  warmup: Math.ceil(iterations / 10),
  async fn(): Promise<void> {
    if (!await publisher.publish(prebuilt)) throw new Error("publish returned false");
  },
});

Deno.bench({
  name: "MessageBuilder.stateUpdate() + publish()",
  group: "publish",
  n: iterations,
  warmup: Math.ceil(iterations / 10),
  async fn(): Promise<void> {
    if (!await publisher.publish(message(n++))) throw new Error("publish returned false");
  },
});
