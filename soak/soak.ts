/**
 * Soak test (not part of CI): runs the daemon in a child process for N
 * minutes at a steady publish rate, with long-lived subscribers that must
 * receive everything and short-lived ones that come and go, and prints the
 * daemon's RSS, open file descriptors and query round-trip latency (the
 * event-loop lag as a client sees it) over time, then a verdict: flat or not
 * (the samples after a fixed warm-up, while V8 sizes its heap to the
 * allocation rate, earlier half against later half), or none when the run
 * is too short to sample 100 s after the warm-up.
 *
 * ```sh
 * deno task soak --minutes 10
 * deno run --allow-read --allow-write --allow-net --allow-env --allow-run soak/soak.ts --minutes 5 --rate 500
 * ```
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { parseArgs } from "node:util";
import { RawClient, withTmpDir } from "../tests/_helpers.ts";
import { sleep } from "../transport/mod.ts";
import { fdCount, rssKiB, spawnDaemon } from "../tests/robustness/_fixture.ts";
import { judgeGrowth, type Trend } from "./_verdict.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    minutes: { type: "string", default: "10" },
    rate: { type: "string", default: "300" },
    "sample-seconds": { type: "string", default: "10" },
    churn: { type: "string", default: "4" },
    "warmup-seconds": { type: "string", default: "180" },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
const sampleSeconds = Number(values["sample-seconds"]);
const churnPerSecond = Number(values.churn);
const warmupSeconds = Number(values["warmup-seconds"]);
if (![minutes, rate, sampleSeconds, churnPerSecond].every((n) => Number.isFinite(n) && n > 0)) {
  console.error("soak: --minutes, --rate, --sample-seconds and --churn must be positive numbers");
  Deno.exit(2);
}
if (!(Number.isFinite(warmupSeconds) && warmupSeconds >= 0)) {
  console.error("soak: --warmup-seconds must be a number of seconds, 0 or more");
  Deno.exit(2);
}

const TYPES = ["wallpaper", "backup", "theme"];
await using tmp = await withTmpDir("dotfiles-soak-");
const socketDir = `${tmp.path}/sockets`;
await using daemon = await spawnDaemon(socketDir, `${tmp.path}/state`, [
  "--event-types",
  TYPES.join(","),
]);
const sock = (name: string) => `${socketDir}/${name}`;
const stopAt = Date.now() + minutes * 60_000;
let running = true;

// ---- long-lived subscribers: one per type and the firehose; they must miss nothing
interface Tally {
  name: string;
  received: number;
  lastSeq: number;
  errors: number;
}
const tallies: Tally[] = [];
async function longLived(name: string): Promise<void> {
  const tally: Tally = { name, received: 0, lastSeq: 0, errors: 0 };
  tallies.push(tally);
  using client = await RawClient.connect(sock(name));
  const perType = new Map<string, number>();
  while (running) {
    const m = await client.read(5000).catch(() => undefined);
    if (m === undefined) continue; // quiet for 5 s (only at the very end)
    if (m === null) {
      tally.errors++;
      return;
    }
    const type = m.event_type as string;
    const seq = m.seq as number;
    const last = perType.get(type);
    if (last !== undefined && seq !== last + 1) tally.errors++;
    perType.set(type, seq);
    tally.received++;
    tally.lastSeq = seq;
  }
}

// ---- short-lived subscribers: connect, read a while (or not at all), go away
let churned = 0;
async function churner(): Promise<void> {
  const name = `${TYPES[Math.floor(Math.random() * TYPES.length)]}_events.sock`;
  try {
    using client = await RawClient.connect(sock(name));
    const until = Date.now() + 500 + Math.random() * 4500;
    const readsAtAll = Math.random() < 0.8;
    while (Date.now() < until && running) {
      if (readsAtAll) await client.read(1000).catch(() => null);
      else await sleep(200);
    }
    churned++;
  } catch (error) {
    console.error(`soak: churner failed: ${error}`);
  }
}

// ---- publisher: steady rate in 100 ms ticks
let sent = 0;
const sentByType = new Map<string, number>();
async function publish(): Promise<void> {
  using pub = await RawClient.connect(sock("command.sock"));
  const perTick = rate / 10;
  let due = 0;
  while (Date.now() < stopAt) {
    const tickStart = Date.now();
    due += perTick;
    const bodies: object[] = [];
    while (due >= 1) {
      due--;
      const type = TYPES[sent % TYPES.length]!;
      sentByType.set(type, (sentByType.get(type) ?? 0) + 1);
      bodies.push({
        message_id: crypto.randomUUID(),
        timestamp: new Date().toISOString(),
        event_type: type,
        payload: sent % 7 === 0
          ? { type: "state_update", state_key: `k${sent % 50}`, state_value: { n: sent } }
          : {
            type: "operation_progress",
            operation_id: `op-${Math.floor(sent / 100) % 20}`,
            step_id: "s",
            step_progress: sent % 101,
            overall_progress: sent % 101,
            pad: "x".repeat(200),
          },
      });
      sent++;
    }
    await pub.send(...bodies);
    await sleep(Math.max(0, 100 - (Date.now() - tickStart)));
  }
}

// ---- probes: RSS, fds, query round trip once a second; printed per sample window
interface Sample {
  t: number;
  rssMiB: number;
  fds: number;
  lagP50: number;
  lagMax: number;
  sent: number;
  subscribers: number;
}
const samples: Sample[] = [];
async function probe(): Promise<void> {
  using q = await RawClient.connect(sock("query.sock"));
  const started = Date.now();
  let lags: number[] = [];
  let nextSample = started + sampleSeconds * 1000;
  console.log("   t(s)  rss(MiB)  fds  query_rtt_p50(ms)  query_rtt_max(ms)  sent  subscribers");
  while (Date.now() < stopAt) {
    const t0 = performance.now();
    const r = await q.query("get_daemon_status");
    lags.push(performance.now() - t0);
    if (Date.now() >= nextSample) {
      nextSample += sampleSeconds * 1000;
      lags.sort((a, b) => a - b);
      const counters = ((r.payload as Record<string, unknown>).result as Record<string, unknown>)
        .counters as Record<string, number>;
      const s: Sample = {
        t: Math.round((Date.now() - started) / 1000),
        rssMiB: (await rssKiB(daemon.pid)) / 1024,
        fds: await fdCount(daemon.pid),
        lagP50: lags[Math.floor(lags.length / 2)]!,
        lagMax: lags[lags.length - 1]!,
        sent,
        subscribers: counters.subscribers_connected!,
      };
      samples.push(s);
      console.log(
        `${String(s.t).padStart(7)}  ${s.rssMiB.toFixed(1).padStart(8)}  ${
          String(s.fds).padStart(3)
        }  ${s.lagP50.toFixed(2).padStart(17)}  ${s.lagMax.toFixed(2).padStart(17)}  ${
          String(s.sent).padStart(6)
        }  ${String(s.subscribers).padStart(11)}`,
      );
      lags = [];
    }
    await sleep(1000);
  }
}

console.log(
  `soak: ${minutes} min, ${rate} msg/s over ${TYPES.length} types, ${churnPerSecond} subscribers/s coming and going, daemon pid ${daemon.pid}`,
);
const longLivedDone = [...TYPES.map((t) => `${t}_events.sock`), "events.sock"].map(longLived);
await sleep(300);
const churning = (async () => {
  const pending = new Set<Promise<void>>();
  while (Date.now() < stopAt) {
    const p = churner();
    pending.add(p);
    p.finally(() => pending.delete(p));
    await sleep(1000 / churnPerSecond);
  }
  await Promise.all(pending);
})();
await Promise.all([publish(), probe(), churning]);
await sleep(2000); // let the last frames arrive
running = false;
await Promise.all(longLivedDone);

// ---- verdict
const growth = judgeGrowth(samples, { warmupSeconds, churnPerSecond });
const lossless = tallies.every((t) =>
  t.errors === 0 &&
  t.received ===
    (t.name === "events.sock" ? sent : sentByType.get(t.name.replace("_events.sock", "")))
);
console.log(`\nsent ${sent} messages; ${churned} short-lived subscribers came and went`);
for (const t of tallies) {
  console.log(`  ${t.name}: received ${t.received}, seq gaps or errors ${t.errors}`);
}
if (growth.judged) {
  const line = (what: string, trend: Trend, digits: number, unit: string): void => {
    console.log(
      `${what} ${growth.from}-${growth.to} s, earlier half ${
        trend.earlier.toFixed(digits)
      }${unit}, ` +
        `later half ${trend.later.toFixed(digits)}${unit}: ${trend.flat ? "flat" : "GROWING"}`,
    );
  };
  line("RSS", growth.rss, 1, " MiB");
  line("fds", growth.fds, 1, "");
  line("query round trip p50", growth.lag, 2, " ms");
}
const lost = lossless ? "" : " (long-lived subscribers lost messages)";
if (!growth.judged) {
  console.log(`verdict: NOT JUDGED: ${growth.reason}${lost}`);
  // 0 is FLAT only; a lossy run is NOT FLAT whatever its length.
  Deno.exitCode = lossless ? 3 : 1;
} else {
  const verdict = growth.flat && lossless;
  console.log(`verdict: ${verdict ? "FLAT" : "NOT FLAT"}${lost}`);
  Deno.exitCode = verdict ? 0 : 1;
}
