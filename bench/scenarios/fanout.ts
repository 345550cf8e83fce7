/**
 * Throughput: one publisher writing 64 KiB batches of ~250-byte messages to
 * N subscribers of one type, on every system; plus two daemon-vs-relay rows
 * (ten publishers; 200 types). Each run starts every system fresh (so no run
 * inherits another's history, WAL or heap), warms it up with a fifth of the
 * messages in the same client, then measures; systems run in a rotating
 * order.
 *
 * @module
 */

import { type ClientResult, cpuDelta, cpuTime, runClient } from "../_proc.ts";
import { type Context, medians, rotate, type Scenario, withSystem } from "../_registry.ts";
import type { SystemKind } from "../_systems.ts";

/** One throughput row. */
export interface FloodRow {
  id: string;
  figure: string;
  /** Client spec fields (types, subscribersPerType, publishers, messages). */
  spec: { types: string[]; subscribersPerType: number; publishers?: number; messages: number };
  /** Systems to run; default every available one. */
  only?: SystemKind[];
  /** Minimum daemon/relay ratio. */
  target?: number;
  /** Also add a row of each system's CPU time per published message. */
  cpuRow?: boolean;
}

const TYPES_200 = Array.from({ length: 200 }, (_, i) => `t${String(i).padStart(3, "0")}`);

function rows(quick: boolean): FloodRow[] {
  const m = (n: number) => Math.round(n * (quick ? 0.15 : 1));
  return [
    {
      id: "fanout_1",
      figure: "fan-out 1 -> 1 subscriber",
      spec: { types: ["bench"], subscribersPerType: 1, messages: m(600_000) },
      target: 0.5,
      cpuRow: true,
    },
    {
      id: "fanout_10",
      figure: "fan-out 1 -> 10 subscribers",
      spec: { types: ["bench"], subscribersPerType: 10, messages: m(200_000) },
      target: 0.7,
      cpuRow: true,
    },
    {
      id: "fanout_100",
      figure: "fan-out 1 -> 100 subscribers",
      spec: { types: ["bench"], subscribersPerType: 100, messages: m(30_000) },
      target: 0.9,
      cpuRow: true,
    },
    {
      id: "publishers_10",
      figure: "10 publishers -> 1 type, 1 subscriber",
      spec: { types: ["bench"], subscribersPerType: 1, publishers: 10, messages: m(40_000) },
      only: ["daemon", "relay"],
    },
    {
      id: "types_200",
      figure: "200 types, 1 subscriber each",
      spec: { types: TYPES_200, subscribersPerType: 1, messages: m(150_000) },
      only: ["daemon", "relay"],
    },
  ];
}

/** Runs one flood on a fresh `kind`; NaN when anything was lost. */
export async function floodOnce(
  ctx: Context,
  kind: SystemKind,
  spec: FloodRow["spec"],
  label: string,
  options?: Parameters<Context["start"]>[1],
): Promise<{ rate: number; result: ClientResult; cpuUsPerMessage: number }> {
  return await withSystem(ctx, kind, async (s) => {
    const before = await cpuTime(s.pid);
    const result = await runClient({
      mode: "flood",
      endpoint: s.endpoint,
      size: 250,
      batchBytes: 64 * 1024,
      warmupMessages: Math.round(spec.messages / 5),
      ...spec,
    }, ctx.quick ? 30_000 : 90_000);
    const after = await cpuTime(s.pid);
    const ok = ctx.delivered(label, result);
    const rate = ok ? Number(result.deliveredPerSec) : NaN;
    // CPU of every thread of the system over the whole client run (probes,
    // warm-up and measured pass), per message published.
    const published = (spec.messages + Math.round(spec.messages / 5)) * (spec.publishers ?? 1);
    const cpuUsPerMessage = cpuDelta(before, after).schedNs / 1000 / published;
    ctx.log(`${label}: ${Math.round(rate)} delivered/s, ${cpuUsPerMessage.toFixed(2)} us CPU/msg`);
    return { rate, result, cpuUsPerMessage };
  }, options);
}

/** Runs one throughput row on every system and adds it. */
export async function floodRow(ctx: Context, row: FloodRow): Promise<void> {
  const kinds = ctx.systems.filter((k) => row.only === undefined || row.only.includes(k));
  const samples: Partial<Record<SystemKind, number[]>> = {};
  const cpu: Partial<Record<SystemKind, number[]>> = {};
  const raw: Record<string, ClientResult[]> = {};
  let delivered = true;
  for (let i = 0; i < ctx.runs; i++) {
    for (const kind of rotate(kinds, i)) {
      const { rate, result, cpuUsPerMessage } = await floodOnce(
        ctx,
        kind,
        row.spec,
        `${row.id} ${kind} run ${i + 1}`,
      );
      (samples[kind] ??= []).push(rate);
      (cpu[kind] ??= []).push(cpuUsPerMessage);
      (raw[kind] ??= []).push(result);
      delivered &&= Number.isFinite(rate);
    }
  }
  ctx.detail(row.id, raw);
  const values = medians(samples);
  const ratio = values.daemon! / values.relay!;
  ctx.addRow({
    id: row.id,
    figure: row.figure,
    unit: "msg/s",
    values,
    samples,
    target: row.target !== undefined ? `>= ${row.target}x relay` : "",
    pass: row.target !== undefined ? ratio >= row.target : null,
    delivered,
  });
  if (row.cpuRow) {
    ctx.addRow({
      id: `${row.id}_cpu`,
      figure: `  CPU per message, ${row.figure.replace("fan-out ", "")}`,
      unit: "us",
      values: medians(cpu),
      samples: cpu,
      ...(row.id === "fanout_1"
        ? {
          note: "CPU time of all the system's threads (/proc/<pid>/task/*/schedstat) over the " +
            "client run, per published message: steadier than msg/s when other jobs share " +
            "the machine",
        }
        : {}),
    });
  }
}

/** The throughput rows. */
export const fanout: Scenario = {
  id: "throughput",
  async run(ctx: Context): Promise<void> {
    for (const row of rows(ctx.quick)) await floodRow(ctx, row);
  },
};
