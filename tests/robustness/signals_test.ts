/**
 * Item 6 of issue 12: SIGHUP, a stop signal delivered to a whole process
 * group (`timeout`, Ctrl-C, systemd, `deno task`), and what publishers
 * left unread at stop.
 *
 * @module
 */

import assert from "node:assert/strict";
import { withTmpDir } from "../_helpers.ts";
import { listDir, type Obj, sleep, spawnDaemon } from "./_fixture.ts";
import { RawClient } from "../_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function assertCleanedUp(socketDir: string, stateDir: string): Promise<void> {
  assert.deepEqual(await listDir(socketDir), [], "sockets or lock left behind");
  assert.deepEqual(
    await listDir(stateDir),
    ["state.db", "state.db-seq"],
    "state dir lock left behind",
  );
}

Deno.test("SIGHUP stops the daemon cleanly: exit 0, sockets and both locks removed", async () => {
  await using tmp = await withTmpDir();
  const socketDir = `${tmp.path}/sockets`;
  const stateDir = `${tmp.path}/state`;
  const daemon = await spawnDaemon(socketDir, stateDir, ["--event-types", "x"]);
  daemon.child.kill("SIGHUP");
  const status = await daemon.child.status;
  await daemon.kill9();
  assert.equal(status.code, 0, daemon.stderr());
  await assertCleanedUp(socketDir, stateDir);
});

Deno.test("SIGTERM delivered twice at once (a process group and a forwarding parent) is one clean stop", async () => {
  await using tmp = await withTmpDir();
  const socketDir = `${tmp.path}/sockets`;
  const stateDir = `${tmp.path}/state`;
  const daemon = await spawnDaemon(socketDir, stateDir, ["--event-types", "x"]);
  daemon.child.kill("SIGTERM");
  daemon.child.kill("SIGTERM");
  const status = await daemon.child.status;
  await daemon.kill9();
  assert.equal(status.code, 0, daemon.stderr());
  await assertCleanedUp(socketDir, stateDir);
});

/** Where this run's Deno keeps its cache, so the task under a temp HOME downloads nothing. */
function denoDir(): string {
  const explicit = Deno.env.get("DENO_DIR");
  if (explicit !== undefined) return explicit;
  const cache = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`;
  return `${cache}/deno`;
}

for (const signal of ["TERM", "INT"]) {
  Deno.test(`timeout -s ${signal} stops \`deno task start\` cleanly (the signal reaches the task and the daemon)`, async () => {
    await using tmp = await withTmpDir();
    const env = {
      HOME: tmp.path,
      XDG_CACHE_HOME: `${tmp.path}/cache`,
      XDG_STATE_HOME: `${tmp.path}/state`,
      DENO_DIR: denoDir(),
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      NO_COLOR: "1",
    };
    const socketDir = `${tmp.path}/cache/dotfiles/sockets`;
    const stateDir = `${tmp.path}/state/dotfiles/daemon`;
    const child = new Deno.Command("timeout", {
      args: ["-s", signal, "6", Deno.execPath(), "task", "start"],
      cwd: ROOT,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const out = await child.output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.match(stderr, /daemon started/, stderr);
    assert.match(stderr, /daemon stopped/, `the daemon did not stop cleanly: ${stderr}`);
    await assertCleanedUp(socketDir, stateDir);
  });
}

Deno.test("At stop, what a publisher that never pauses left unread after the grace is counted and logged", async () => {
  await using tmp = await withTmpDir();
  const socketDir = `${tmp.path}/sockets`;
  const stateDir = `${tmp.path}/state`;
  const daemon = await spawnDaemon(socketDir, stateDir, ["--log-level", "info"]);
  const conn = await Deno.connect({ transport: "unix", path: `${socketDir}/command.sock` });
  const body = new TextEncoder().encode(JSON.stringify({
    message_id: "m",
    timestamp: "2026-11-25T10:00:00Z",
    event_type: "flood",
    payload: { type: "operation_progress", operation_id: "o", step_id: "s", step_progress: 1 },
  }));
  const frame = new Uint8Array(4 + body.byteLength);
  new DataView(frame.buffer).setUint32(0, body.byteLength);
  frame.set(body, 4);
  const batch = new Uint8Array(frame.byteLength * 64);
  for (let i = 0; i < 64; i++) batch.set(frame, i * frame.byteLength);
  let written = 0;
  let writing = true;
  const flood = (async () => {
    try {
      while (writing) written += await conn.write(batch);
    } catch {
      // the daemon closed the connection
    }
  })();
  await sleep(500);
  daemon.child.kill("SIGTERM");
  const status = await daemon.child.status;
  writing = false;
  await flood;
  conn.close();
  await daemon.kill9();
  assert.equal(status.code, 0);
  const line = daemon.stderr().split("\n").find((l) => /left messages unread at stop/.test(l));
  assert.ok(line !== undefined, `no line about unread messages: ${daemon.stderr()}`);
  const unread = Number(/messages=(\d+)/.exec(line)![1]);
  assert.ok(unread > 0, line);
  // Routed and unread together are at most what was written.
  await using _again = await spawnDaemon(socketDir, stateDir);
  using q = await RawClient.connect(`${socketDir}/query.sock`);
  const types = (((await q.query("list_event_types")).payload as Obj).result as Obj)
    .event_types as Obj[];
  const routed = types.find((t) => t.event_type === "flood")!.last_seq as number;
  const sent = Math.floor(written / frame.byteLength);
  assert.ok(routed + unread <= sent, `routed ${routed} + unread ${unread} > sent ${sent}`);
  // deno-lint-ignore no-console
  console.log(`sent ${sent}, routed ${routed}, counted unread at stop ${unread}`);
});
