/**
 * Soak test (not part of CI): runs the daemon in a child process for N
 * minutes at a steady publish rate, with long-lived subscribers that must
 * receive everything and short-lived ones that come and go, and prints the
 * daemon's RSS, open file descriptors and query round-trip latency (the
 * event-loop lag as a client sees it) over time, then a verdict: flat or not
 * (last third of the samples against the middle third; the first third is
 * warm-up, while V8 sizes its heap to the allocation rate).
 *
 * ```sh
 * deno task soak --minutes 10
 * deno run --allow-read --allow-write --allow-net --allow-env --allow-run soak/soak.ts --minutes 3 --rate 500
 * ```
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { parseArgs } from "node:util";
import { RawClient, rawFrame, withTmpDir } from "../tests/_helpers.ts";
import { sleep, writeAll } from "../transport/mod.ts";
import { fdCount, rssKiB, spawnDaemon } from "../tests/robustness/_fixture.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    minutes: { type: "string", default: "10" },
    rate: { type: "string", default: "300" },
    "sample-seconds": { type: "string", default: "10" },
    churn: { type: "string", default: "4" },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
const sampleSeconds = Number(values["sample-seconds"]);
const churnPerSecond = Number(values.churn);
if (![minutes, rate, sampleSeconds, churnPerSecond].every((n) => Number.isFinite(n) && n > 0)) {
  console.error("soak: --minutes, --rate, --sample-seconds and --churn must be positive numbers");
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
    const frames: Uint8Array[] = [];
    while (due >= 1) {
      due--;
      const type = TYPES[sent % TYPES.length]!;
      sentByType.set(type, (sentByType.get(type) ?? 0) + 1);
      frames.push(rawFrame(JSON.stringify({
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
      })));
      sent++;
    }
    const total = frames.reduce((n, f) => n + f.byteLength, 0);
    const all = new Uint8Array(total);
    let off = 0;
    for (const f of frames) {
      all.set(f, off);
      off += f.byteLength;
    }
    await writeAll(pub.conn, all);
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
const third = Math.max(1, Math.floor(samples.length / 3));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
// The first third is warm-up (V8 grows its heap to the allocation rate, then
// holds it): growth is judged from the middle third to the last.
const first = samples.slice(third, samples.length - third);
const last = samples.slice(-third);
const rssFirst = mean(first.map((s) => s.rssMiB));
const rssLast = mean(last.map((s) => s.rssMiB));
const fdFirst = mean(first.map((s) => s.fds));
const fdLast = mean(last.map((s) => s.fds));
const lagFirst = mean(first.map((s) => s.lagP50));
const lagLast = mean(last.map((s) => s.lagP50));
// Flat: RSS within 10 % (+5 MiB for GC noise), fds within the churners' swing, lag not doubled (+1 ms).
const rssFlat = rssLast <= rssFirst * 1.1 + 5;
const fdFlat = fdLast <= fdFirst + churnPerSecond * 5 + 2;
const lagFlat = lagLast <= lagFirst * 2 + 1;
const lossless = tallies.every((t) =>
  t.errors === 0 &&
  t.received ===
    (t.name === "events.sock" ? sent : sentByType.get(t.name.replace("_events.sock", "")))
);
console.log(`\nsent ${sent} messages; ${churned} short-lived subscribers came and went`);
for (const t of tallies) {
  console.log(`  ${t.name}: received ${t.received}, seq gaps or errors ${t.errors}`);
}
console.log(
  `RSS middle third ${rssFirst.toFixed(1)} MiB, last third ${rssLast.toFixed(1)} MiB: ${
    rssFlat ? "flat" : "GROWING"
  }`,
);
console.log(
  `fds middle third ${fdFirst.toFixed(1)}, last third ${fdLast.toFixed(1)}: ${
    fdFlat ? "flat" : "GROWING"
  }`,
);
console.log(
  `query round trip p50 middle third ${lagFirst.toFixed(2)} ms, last third ${
    lagLast.toFixed(2)
  } ms: ${lagFlat ? "flat" : "GROWING"}`,
);
const verdict = rssFlat && fdFlat && lagFlat && lossless;
console.log(
  `verdict: ${verdict ? "FLAT" : "NOT FLAT"}${
    lossless ? "" : " (long-lived subscribers lost messages)"
  }`,
);
Deno.exitCode = verdict ? 0 : 1;
