/**
 * The benchmark suite (`deno task bench [--quick] [--json] [--runs N] [--only a,b]`):
 * runs the scenarios of `bench/scenarios/mod.ts` against the daemon
 * (`main.ts`, store and validation on), the baseline relay
 * (`bench/baseline_relay.ts`), Redis and NATS, each started fresh by the
 * suite on temp dirs (Redis and NATS skipped, with a reason, when not
 * installed), and prints one table: every system's figure, the daemon's ratio
 * to each, the issue's target and PASS/MISS. Clients run in separate
 * processes (`bench/_client.ts`) and count what every subscriber received.
 *
 * Options:
 * - `--quick`: fewer messages, one run per figure, a short idle window;
 *   under a minute.
 * - `--json`: print the results as JSON instead of the table.
 * - `--runs N`: runs per figure (default 3, quick 1).
 * - `--only a,b`: scenarios to run (startup, throughput, persistence,
 *   latency, stall, publish, idle, bridge, watch).
 * - `--systems a,b`: systems to include besides the daemon and the relay
 *   (default redis,nats).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type ClientResult, readProc } from "./_proc.ts";
import type { Context, Row } from "./_registry.ts";
import { startSystem, type System, type SystemKind, SYSTEMS, unavailable } from "./_systems.ts";
import { SCENARIOS } from "./scenarios/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    runs: { type: "string" },
    only: { type: "string" },
    systems: { type: "string", default: "redis,nats" },
  },
});
const quick = values.quick;
const runs = values.runs !== undefined ? Math.max(1, Number(values.runs)) : quick ? 1 : 3;
const only = values.only === undefined
  ? null
  : new Set(values.only.split(",").map((s) => s.trim()).filter(Boolean));
if (only !== null) {
  const known = new Set(SCENARIOS.map((s) => s.id));
  const bad = [...only].filter((s) => !known.has(s));
  if (bad.length > 0) {
    // deno-lint-ignore no-console
    console.error(
      `Cannot run --only ${bad.join(",")}: expected some of ${[...known].join(", ")}`,
    );
    Deno.exit(2);
  }
}

const rows: Row[] = [];
const details: Record<string, unknown> = {};
const failures: string[] = [];
const skipped: string[] = [];
const live = new Set<System>();

function log(text: string): void {
  // deno-lint-ignore no-console
  console.error(`[bench] ${text}`);
}

async function cleanup(): Promise<void> {
  await Promise.all([...live].map((s) => s.kill()));
  live.clear();
}

function onSignal(): void {
  log("interrupted: stopping systems");
  cleanup().finally(() => Deno.exit(130));
}
Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);

const wanted = new Set(["daemon", "relay", ...values.systems.split(",").map((s) => s.trim())]);
const systems: SystemKind[] = [];
for (const kind of SYSTEMS) {
  if (!wanted.has(kind)) continue;
  const why = await unavailable(kind);
  if (why === null) systems.push(kind);
  else {
    skipped.push(why);
    log(`skipped: ${why}`);
  }
}

const ctx: Context = {
  quick,
  runs,
  systems,
  log,
  addRow: (row) => void rows.push(row),
  fail: (text) => void failures.push(text),
  detail: (key, value) => void (details[key] = value),
  async start(kind, options): Promise<System> {
    const s = await startSystem(kind, options);
    live.add(s);
    return s;
  },
  async stop(system): Promise<void> {
    live.delete(system);
    await system.kill();
  },
  delivered(label: string, r: ClientResult): boolean {
    if (r.ok === true) return true;
    const { error, missing, disorder, seqGaps, malformed, received, expected } = r;
    failures.push(
      `${label}: ${
        error ??
          `received ${received}/${expected}, missing ${missing}, out of order ${disorder}, ` +
            `seq gaps ${seqGaps}, malformed ${malformed}`
      }`,
    );
    return false;
  },
};

// ---------------------------------------------------------------- output

async function machine(): Promise<Record<string, unknown>> {
  const cpuinfo = await readProc("/proc/cpuinfo").catch(() => "");
  const cpu = cpuinfo.match(/^model name\s*:\s*(.*)$/m)?.[1] ?? "unknown";
  const kernel = (await readProc("/proc/sys/kernel/osrelease").catch(() => "")).trim() ||
    "unknown";
  return {
    nproc: navigator.hardwareConcurrency,
    cpu,
    kernel,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    date: new Date().toISOString(),
    loadavgAtStart,
    loadavgAtEnd: (await readProc("/proc/loadavg").catch(() => "")).trim(),
    quick,
    runs,
    systems,
    skipped,
  };
}

function fmt(value: number | undefined, unit: string): string {
  if (value === undefined || !Number.isFinite(value)) return "-";
  if (unit === "msg/s") {
    return value >= 1e6
      ? `${(value / 1e6).toFixed(2)}M`
      : value >= 1000
      ? `${(value / 1000).toFixed(0)}k`
      : value.toFixed(0);
  }
  if (unit === "ms") return value.toFixed(value < 10 ? 2 : 1);
  if (unit === "%") return `${value.toFixed(1)}%`;
  return value.toFixed(1);
}

function ratio(row: Row, peer: SystemKind): string {
  const d = row.values.daemon;
  const p = row.values[peer];
  if (d === undefined || p === undefined || !Number.isFinite(d) || !Number.isFinite(p) || !p) {
    return "-";
  }
  const r = d / p;
  return `${r.toFixed(r < 10 ? 2 : 1)}x`;
}

const NAMES: Record<SystemKind, string> = {
  daemon: "daemon",
  relay: "relay",
  redis: "Redis",
  nats: "NATS",
};

function table(): string {
  const peers = systems.filter((k) => k !== "daemon");
  const header = [
    "figure",
    "unit",
    ...systems.map((k) => NAMES[k]),
    ...peers.map((k) => `÷ ${NAMES[k]}`),
    "target",
    "result",
    "delivery",
  ];
  const body = rows.map((r) => [
    r.figure,
    r.unit,
    ...systems.map((k) => fmt(r.values[k], r.unit)),
    ...peers.map((k) => ratio(r, k)),
    r.target || "-",
    r.pass === null || r.pass === undefined ? "-" : r.pass ? "PASS" : "MISS",
    r.delivered === null || r.delivered === undefined
      ? "-"
      : r.delivered
      ? "all, in order"
      : "FAIL",
  ]);
  const lines = [header, ...body];
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  const render = (l: string[]) => `| ${l.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [
    render(header),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...body.map(render),
  ].join("\n");
}

const started = performance.now();
const loadavgAtStart = (await readProc("/proc/loadavg").catch(() => "")).trim();
log(`load average at start: ${loadavgAtStart}`);
try {
  for (const scenario of SCENARIOS) {
    if (only !== null && !only.has(scenario.id)) continue;
    log(`scenario ${scenario.id}`);
    const t0 = performance.now();
    try {
      await scenario.run(ctx);
      log(`scenario ${scenario.id} took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } catch (err) {
      failures.push(
        `${scenario.id} aborted: ${err instanceof Error ? err.stack ?? err.message : err}`,
      );
    }
  }
} finally {
  await cleanup();
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
}
const elapsedS = (performance.now() - started) / 1000;
const info = await machine();
function report(): string {
  return [
    `dotfiles-daemon benchmarks (${quick ? "quick, " : ""}median of ${runs} run${
      runs > 1 ? "s" : ""
    }; ÷ X = daemon / X)`,
    `machine: ${info.nproc} CPUs, ${info.cpu}, Linux ${info.kernel}, Deno ${info.deno}`,
    `load average at start: ${info.loadavgAtStart}; at end: ${info.loadavgAtEnd}`,
    ...skipped.map((s) => `skipped: ${s}`),
    "",
    table(),
    "",
    ...rows.filter((r) => r.note).map((r) => `- ${r.figure}: ${r.note}`),
    ...(failures.length ? ["", "FAILURES:", ...failures.map((f) => `- ${f}`)] : []),
    "",
    `took ${elapsedS.toFixed(1)} s`,
  ].join("\n");
}
if (values.json) {
  // deno-lint-ignore no-console
  console.log(JSON.stringify({ machine: info, elapsedS, rows, failures, details }, null, 2));
  // The table too, on stderr, so a JSON run can be read and quoted.
  // deno-lint-ignore no-console
  console.error(report());
} else {
  // deno-lint-ignore no-console
  console.log(report());
}
Deno.exit(failures.length > 0 ? 1 : 0);
