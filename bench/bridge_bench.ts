/**
 * The bridge benchmark: two daemons (processes, store on) as hosts A and B,
 * a real broker (`nats-server -js`, then `mosquitto`), a bridge per host
 * under its own permission flags (A forwards, B imports), and this process
 * publishing on A and subscribing on B to `hosta.bench`:
 *
 * - throughput: 20 000 messages published on A as fast as the publisher
 *   goes; messages per second from the first publish to the last arrival on B;
 * - latency: 5 000 messages at 1 000 msg/s; p50 and p99 of the time from
 *   the publish on A to the arrival on B.
 *
 * Every run checks that B got every message once, in order.
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-net --allow-env --allow-run bench/bridge_bench.ts [--json]
 * ```
 *
 * @module
 */

import { DaemonPublisher } from "../publisher/mod.ts";
import { subscribe } from "../monitor/mod.ts";
import { daemonPermissionFlags } from "../service/permissions.ts";
import { Broker, Proc, SKIP_REASON, startBridge } from "../tests/bridge/_servers.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** One row of the bridge table. */
export interface BridgeRow {
  figure: string;
  unit: string;
  value: number;
}

async function waitFor(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const end = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function startDaemonProc(root: string): { proc: Proc; socketDir: string } {
  const socketDir = `${root}/sockets`;
  const stateDir = `${root}/state`;
  const proc = new Proc(Deno.execPath(), [
    "run",
    "--quiet",
    ...daemonPermissionFlags({ socketDir, stateDir }),
    `${ROOT}main.ts`,
    "serve",
    "--socket-dir",
    socketDir,
    "--state-dir",
    stateDir,
    "--log-level",
    "error",
    "--history-limit",
    "30000",
  ]);
  return { proc, socketDir };
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Message counts of one bridge run. */
export interface BridgeRunOptions {
  /** Messages for the throughput figure. */
  count: number;
  /** Messages at 1 000 msg/s for the latency figures. */
  paced: number;
}

/** One run against one broker: throughput and latency p50/p99 rows. */
export async function runBroker(
  kind: "nats" | "mqtt",
  options: BridgeRunOptions = { count: 20_000, paced: 5000 },
): Promise<BridgeRow[]> {
  const tmp = await Deno.makeTempDir({ prefix: "dotfiles-bridge-bench-" });
  const procs: Proc[] = [];
  const controller = new AbortController();
  try {
    await Deno.mkdir(`${tmp}/broker`);
    await Deno.mkdir(`${tmp}/a/sockets`, { recursive: true });
    await Deno.mkdir(`${tmp}/b/sockets`, { recursive: true });
    const broker = kind === "nats"
      ? await Broker.nats(`${tmp}/broker`)
      : await Broker.mqtt(`${tmp}/broker`);
    try {
      const a = startDaemonProc(`${tmp}/a`);
      const b = startDaemonProc(`${tmp}/b`);
      procs.push(a.proc, b.proc);
      await waitFor(
        async () => {
          try {
            await Deno.stat(`${a.socketDir}/query.sock`);
            await Deno.stat(`${b.socketDir}/query.sock`);
            return true;
          } catch {
            return false;
          }
        },
        20_000,
        "the daemons",
      );
      const bridgeA = startBridge(broker.url, {
        socketDir: a.socketDir,
        stateDir: `${tmp}/a/bridge`,
        host: "hosta",
        args: ["--types", "bench"],
      });
      const bridgeB = startBridge(broker.url, {
        socketDir: b.socketDir,
        stateDir: `${tmp}/b/bridge`,
        host: "hostb",
        args: ["--import"],
      });
      procs.push(bridgeA, bridgeB);
      await waitFor(
        () =>
          bridgeA.text.includes("Connected") &&
          (kind === "nats"
            ? bridgeB.text.includes("Connected")
            : bridgeB.text.includes("Importing from")),
        20_000,
        "the bridges",
      );

      const received: { n: number; latency: number }[] = [];
      const subscription = subscribe("hosta.bench", {
        socketDir: b.socketDir,
        signal: controller.signal,
        since: 0,
      });
      const reading = (async (): Promise<void> => {
        for await (const message of subscription) {
          const p = message.payload as unknown as { n: number; t: number };
          received.push({ n: p.n, latency: now() - p.t });
        }
      })();
      await using publisher = new DaemonPublisher({ socketDir: a.socketDir });
      const send = (n: number): Promise<boolean> =>
        publisher.publish({
          event_type: "bench",
          payload: { type: "custom", n, t: now(), pad: "x".repeat(120) },
        });
      // Warm-up: the type exists on B and the subscription is live.
      let total = 0;
      await send(total++);
      await waitFor(() => received.length >= 1, 20_000, "the first message on B");

      const check = (from: number, to: number): void => {
        const got = received.filter((r) => r.n >= from && r.n < to).map((r) => r.n);
        if (got.length !== to - from || got.some((n, i) => n !== from + i)) {
          throw new Error(`B got ${got.length} of ${to - from} messages, or out of order`);
        }
      };

      // Throughput.
      const count = options.count;
      const start = total;
      const t0 = now();
      for (let i = 0; i < count; i++) await send(total++);
      await waitFor(() => received.length >= total, 120_000, "all messages on B").catch((e) => {
        throw new Error(
          `${e.message}: ${received.length} of ${total}\n${bridgeA.text}\n${bridgeB.text}`,
        );
      });
      const throughput = count / ((now() - t0) / 1000);
      check(start, total);

      // Latency at 1k msg/s.
      const rate = 1000;
      const paced = options.paced;
      const from = total;
      const p0 = performance.now();
      for (let i = 0; i < paced; i++) {
        const wait = p0 + (i * 1000) / rate - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        await send(total++);
      }
      await waitFor(() => received.length >= total, 60_000, "the paced messages on B");
      check(from, total);
      const latencies = received.filter((r) => r.n >= from).map((r) => r.latency).sort((x, y) =>
        x - y
      );
      controller.abort();
      await reading;
      const name = kind === "nats" ? "NATS (JetStream)" : "MQTT (QoS 1)";
      return [
        { figure: `bridge ${name} A -> broker -> B throughput`, unit: "msg/s", value: throughput },
        {
          figure: `bridge ${name} A -> B latency p50 at 1k msg/s`,
          unit: "ms",
          value: percentile(latencies, 50),
        },
        {
          figure: `bridge ${name} A -> B latency p99 at 1k msg/s`,
          unit: "ms",
          value: percentile(latencies, 99),
        },
      ];
    } finally {
      controller.abort();
      for (const proc of procs.reverse()) {
        proc.kill("SIGTERM");
        await proc.wait();
      }
      await broker.stop();
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/**
 * Runs the bridge benchmark against NATS, then MQTT.
 *
 * @returns The rows, or none (with the reason on stderr) when a broker is not installed.
 */
export async function bridgeBench(): Promise<BridgeRow[]> {
  if (SKIP_REASON !== null) {
    // deno-lint-ignore no-console
    console.error(`bridge bench skipped: ${SKIP_REASON}`);
    return [];
  }
  return [...await runBroker("nats"), ...await runBroker("mqtt")];
}

if (import.meta.main) {
  const rows = await bridgeBench();
  if (Deno.args.includes("--json")) {
    // deno-lint-ignore no-console
    console.log(JSON.stringify(rows, null, 2));
  } else {
    const lines = [
      "| figure | unit | value |",
      "| --- | --- | --- |",
      ...rows.map((r) =>
        `| ${r.figure} | ${r.unit} | ${
          r.unit === "ms" ? r.value.toFixed(2) : `${(r.value / 1000).toFixed(1)}k`
        } |`
      ),
    ];
    // deno-lint-ignore no-console
    console.log(lines.join("\n"));
  }
}
