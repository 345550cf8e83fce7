/**
 * The pure router alone, without sockets:
 * `deno bench --allow-env tests/daemon/router_bench.ts`.
 *
 * Each iteration routes one read's worth of ~250-byte messages (the size
 * the throughput benchmark sends) and takes the batch, with the in-memory
 * store behind the state, as the daemon does with `--no-persist`.
 *
 * @module
 */
import type { Router } from "../../daemon/_router.ts";
import { routerHarness } from "./_router_harness.ts";

const encoder = new TextEncoder();
const PER_READ = 256;

function routerOn(types: number): { router: Router; bodies: Uint8Array[] } {
  const { router } = routerHarness({ logLevel: "error" });
  const bodies = Array.from({ length: PER_READ }, (_, i) =>
    encoder.encode(JSON.stringify({
      message_id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      timestamp: "2026-11-25T11:40:00.123456",
      event_type: `bench${i % types}`,
      payload: {
        type: "operation_progress",
        operation_id: "op-1",
        step_id: "download",
        step_progress: i % 100,
        overall_progress: i % 100,
        pad: "x".repeat(40),
      },
    })));
  return { router, bodies };
}

for (const types of [1, 200]) {
  const { router, bodies } = routerOn(types);
  Deno.bench({
    name: `route ${PER_READ} messages of ${types} type${types === 1 ? "" : "s"} and take the batch`,
    group: "router",
    baseline: types === 1,
    fn: () => {
      for (const body of bodies) router.route(body);
      router.take()!.all();
    },
  });
}

{
  const { router, bodies } = routerOn(1);
  const python = bodies.map((b) => {
    const m = JSON.parse(new TextDecoder().decode(b));
    delete m.message_id;
    delete m.timestamp;
    return encoder.encode(JSON.stringify(m));
  });
  Deno.bench({
    name: `route ${PER_READ} messages without message_id and timestamp (filled in)`,
    group: "router",
    fn: () => {
      for (const body of python) router.route(body);
      router.take();
    },
  });
}
