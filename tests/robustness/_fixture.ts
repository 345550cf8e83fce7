/**
 * Shared helpers of the robustness suite: the daemon harness (in this
 * process or a child), counters, a seeded PRNG, and the "well-behaved
 * publisher and subscriber still exchange messages" check.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  counters,
  type Obj,
  progress,
  RawClient,
  type Running,
  startDaemon,
  until,
} from "../_helpers.ts";
import { sleep } from "../../transport/mod.ts";
import { Prng as BasePrng } from "../protocol/_prng.ts";
import { type ChildDaemon, daemonArgs as harnessArgs, spawnDaemon as spawn } from "../_daemon.ts";

export { sleep };

export { counters, type Obj, progress, type Running, startDaemon, until };

/** The seeded PRNG of the fuzz tests (mulberry32), with random bytes too. */
export class Prng extends BasePrng {
  /** `n` random bytes. */
  bytes(n: number): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/**
 * The seed of this run: `ROBUSTNESS_SEED` when set (to reproduce a failure),
 * else a fresh one. Printed so that a failing run can be replayed.
 */
export function runSeed(testName: string): number {
  const fromEnv = Deno.env.get("ROBUSTNESS_SEED");
  const seed = fromEnv !== undefined ? Number(fromEnv) : (Math.random() * 2 ** 32) >>> 0;
  // deno-lint-ignore no-console
  console.log(`${testName}: seed ${seed} (replay with ROBUSTNESS_SEED=${seed})`);
  return seed;
}

/**
 * The health check after every batch: a fresh publisher sends `n` messages
 * of `eventType`; a fresh subscriber of that type and one of the firehose
 * each receive all of them, in order, with consecutive seq numbers.
 */
export async function assertExchange(
  d: { sock(name: string): string },
  eventType: string,
  n = 50,
  tag = crypto.randomUUID().slice(0, 8),
): Promise<void> {
  using sub = await RawClient.connect(d.sock(`${eventType}_events.sock`));
  using fire = await RawClient.connect(d.sock("events.sock"));
  // The subscriber counts only once the daemon has accepted it: wait for that.
  await until(async () => {
    const c = await counters(d.sock("query.sock"));
    return (c.subscribers_connected as number) >= 2;
  }, "the health-check subscribers");
  using pub = await RawClient.connect(d.sock("command.sock"));
  await pub.send(...Array.from({ length: n }, (_, i) => progress(eventType, i, tag)));
  for (const client of [sub, fire]) {
    const got = await client.readN(n, 5000);
    const firstSeq = got[0]!.seq as number;
    got.forEach((m, i) => {
      assert.equal(m.message_id, `${tag}-${i}`, "health check: message lost or reordered");
      assert.equal(m.seq, firstSeq + i, "health check: seq not consecutive");
    });
  }
}

/** Names in a dir (not recursive), sorted. */
export async function listDir(path: string): Promise<string[]> {
  const names = [];
  for await (const entry of Deno.readDir(path)) names.push(entry.name);
  return names.sort();
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
  return new TextDecoder().decode(out.stdout);
}

/**
 * Resident set size of a process, in KiB. Through `ps`, because Deno asks
 * for `--allow-all` to read another process's /proc files.
 */
export async function rssKiB(pid: number): Promise<number> {
  return Number((await run("ps", ["-o", "rss=", "-p", String(pid)])).trim());
}

/** Open file descriptors of a process: entries of /proc/<pid>/fd, listed by `ls`. */
export async function fdCount(pid: number): Promise<number> {
  return (await run("ls", ["-1", `/proc/${pid}/fd`])).split("\n").filter((l) => l !== "").length;
}

/** A daemon in a child process (the one harness's). */
export type { ChildDaemon };

/** `deno run` arguments for a daemon process (`cli/serve.ts`) on the given dirs. */
export function daemonArgs(socketDir: string, stateDir: string, extra: string[] = []): string[] {
  return harnessArgs({ socketDir, stateDir, args: extra });
}

/**
 * Spawns `deno run <least flags> _run_daemon.ts <socketDir> --state-dir <stateDir>`
 * at log level warn, through the one harness, and waits until it is ready.
 */
export function spawnDaemon(
  socketDir: string,
  stateDir: string,
  extra: string[] = [],
  waitReady = true,
  wrapper: string[] = [],
): Promise<ChildDaemon> {
  return spawn({
    socketDir,
    stateDir,
    args: ["--log-level", "warn", ...extra],
    ready: waitReady,
    ...(wrapper.length > 0 ? { wrapper } : {}),
  });
}

/** What {@linkcode runDaemonToExit} saw. */
export interface DaemonExit {
  /** The exit code, or `null` when it was still running at the deadline (then killed). */
  code: number | null;
  stderr: string;
}

/**
 * Runs a daemon process that is expected to exit by itself (refusing to
 * start); one that is still running after `ms` is stopped with SIGTERM and
 * reported with code `null`, so a test fails instead of hanging.
 */
export async function runDaemonToExit(
  socketDir: string,
  stateDir: string,
  extra: string[] = [],
  ms = 10_000,
): Promise<DaemonExit> {
  const child = new Deno.Command(Deno.execPath(), {
    args: daemonArgs(socketDir, stateDir, ["--log-level", "warn", ...extra]),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGTERM");
  }, ms);
  const out = await child.output();
  clearTimeout(timer);
  return { code: timedOut ? null : out.code, stderr: new TextDecoder().decode(out.stderr).trim() };
}
