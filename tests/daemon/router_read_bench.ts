/**
 * The router's per-read path as the command server drives it:
 * `deno bench --allow-env --allow-read --allow-write tests/daemon/router_read_bench.ts`.
 * Each iteration routes one 64 KiB read of ~250-byte `state_update` messages
 * (what the throughput benchmark's publisher sends) with `routeAll` and
 * takes the batch, with the in-memory store behind the state, and once with
 * the SQLite store (a temp dir), whose commit per read is then included. The
 * figure per message is the time per iteration divided by the messages per
 * read (printed in the bench names).
 *
 * @module
 */
import { SqliteStore } from "../../daemon/_sqlite_store.ts";
import { routerHarness } from "./_router_harness.ts";

const encoder = new TextEncoder();

function body(n: number, fields: { id: boolean; type: string }): Uint8Array {
  const message: Record<string, unknown> = {
    ...(fields.id
      ? {
        message_id: crypto.randomUUID(),
        timestamp: new Date(1_796_000_000_000 + n).toISOString(),
      }
      : {}),
    event_type: "bench",
    payload: {
      type: fields.type,
      state_key: "bench",
      state_value: { bench_p: 0, bench_n: n, bench_t: 1_796_000_000_000 + n, pad: "" },
    },
  };
  const bare = JSON.stringify(message).length;
  (message.payload as { state_value: { pad: string } }).state_value.pad = "x".repeat(
    Math.max(0, 250 - bare),
  );
  return encoder.encode(JSON.stringify(message));
}

/** One read's worth of bodies: as many as fit in 64 KiB with their prefixes. */
function read(fields: { id: boolean; type: string }): Uint8Array[] {
  const bodies: Uint8Array[] = [];
  for (let size = 0, n = 0; size + 254 <= 64 * 1024; n++) {
    bodies.push(body(n, fields));
    size += 4 + bodies[n]!.byteLength;
  }
  return bodies;
}

const dir = Deno.makeTempDirSync({ prefix: "router-bench-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

for (
  const [label, fields, store] of [
    ["state_update", { id: true, type: "state_update" }, "memory"],
    ["custom type", { id: true, type: "wallpaper_changed" }, "memory"],
    [
      "state_update, Python-style (no message_id/timestamp)",
      { id: false, type: "state_update" },
      "memory",
    ],
    [
      "state_update, SQLite store (one commit per read)",
      { id: true, type: "state_update" },
      "sqlite",
    ],
  ] as const
) {
  const bodies = read(fields);
  const { router, state } = routerHarness({
    logLevel: "warn",
    ...(store === "sqlite" ? { store: SqliteStore.open(`${dir}/state.db`) } : {}),
  });
  globalThis.addEventListener("unload", () => state.close());
  Deno.bench({
    name: `routeAll + take: ${bodies.length} messages, ${label}`,
    group: "read",
    baseline: label === "state_update",
    fn: () => {
      router.routeAll(bodies);
      router.take();
    },
  });
}
