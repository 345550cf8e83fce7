/**
 * A status bar module: RSS of one `main.ts watch TYPE --format waybar` (as a
 * waybar `exec` runs it) connected to the daemon, after its first lines and
 * a second of idle, with its private part (`RssAnon`) and its proportional
 * share (`Pss`) in the note: most of the rest is the deno executable's own
 * pages, shared by every watcher and the daemon.
 *
 * @module
 */

import { MessageBuilder } from "../../protocol/mod.ts";
import { DaemonPublisher } from "../../publisher/mod.ts";
import { LineReader, readProc, RELAY_FLAGS, ROOT, sleep, withTimeout } from "../_proc.ts";
import { type Context, median, type Scenario } from "../_registry.ts";

const MiB = 1048576;
const TARGET_MIB = 40;

function kib(text: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return match ? Number(match[1]) : NaN;
}

/** One watcher's memory, in KiB. */
async function watchOnce(socketDir: string): Promise<{ rss: number; anon: number; pss: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...RELAY_FLAGS,
      `${ROOT}main.ts`,
      "watch",
      "bench_bar",
      "--format",
      "waybar",
      "--socket-dir",
      socketDir,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  // Lines, not reads: the pipe joins lines written in a burst into one read.
  const lines = new LineReader(child.stdout.pipeThrough(new TextDecoderStream()));
  try {
    await withTimeout(lines.next(), 15_000, "the watcher's first line");
    await using publisher = new DaemonPublisher({ socketDir, onWarning: () => {} });
    const ev = { eventType: "bench_bar", operationId: "w" };
    await publisher.publish(MessageBuilder.operationStarted({ ...ev, operationName: "set" }));
    await publisher.publish(MessageBuilder.operationProgress({
      ...ev,
      stepId: "s",
      stepProgress: 50,
      overallProgress: 50,
    }));
    await publisher.publish(MessageBuilder.operationCompleted({ ...ev, durationSeconds: 1 }));
    for (let i = 0; i < 3; i++) await withTimeout(lines.next(), 15_000, "the watcher's lines");
    await sleep(1000);
    const [status, rollup] = await Promise.all([
      readProc(`/proc/${child.pid}/status`),
      readProc(`/proc/${child.pid}/smaps_rollup`),
    ]);
    return { rss: kib(status, "VmRSS"), anon: kib(status, "RssAnon"), pss: kib(rollup, "Pss") };
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await lines.cancel();
  }
}

/** The watcher memory row. */
export const watch: Scenario = {
  id: "watch",
  async run(ctx: Context): Promise<void> {
    const daemon = await ctx.start("daemon");
    try {
      const runs = ctx.quick ? 1 : 3;
      const samples: { rss: number; anon: number; pss: number }[] = [];
      for (let i = 0; i < runs; i++) samples.push(await watchOnce(daemon.socketDir));
      const rss = samples.map((s) => (s.rss * 1024) / MiB);
      const value = median(rss);
      const anon = median(samples.map((s) => s.anon / 1024));
      const pss = median(samples.map((s) => s.pss / 1024));
      ctx.addRow({
        id: "watch_rss",
        figure: "RSS of one watch --format waybar",
        unit: "MB",
        values: { daemon: value },
        samples: { daemon: rss },
        target: `≤ ${TARGET_MIB} MiB`,
        pass: value <= TARGET_MIB,
        note: `idle after three lines, connected; private (RssAnon) ${anon.toFixed(1)} MB, ` +
          `proportional (Pss) ${pss.toFixed(1)} MB: the rest is the deno executable's pages, ` +
          "shared by every watcher and the daemon",
      });
    } finally {
      await ctx.stop(daemon);
    }
  },
};
