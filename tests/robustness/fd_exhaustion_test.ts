/**
 * Item 1 of issue 12: running out of file descriptors must never end a
 * listener, and a connection burst on one socket must not keep `status`
 * from answering. The daemon runs under `prlimit --nofile=128`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { RawClient, withTmpDir } from "../_helpers.ts";
import { assertExchange, type Obj, sleep, spawnDaemon } from "./_fixture.ts";

const FD_LIMIT = 128;
const prlimit = ["prlimit", `--nofile=${FD_LIMIT}:${FD_LIMIT}`, "--"];

/** Why the tests cannot run here, or `null`: they need util-linux's prlimit. */
const missing = await new Deno.Command("prlimit", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output()
  .then((out) => out.success ? null : "prlimit --version failed")
  .catch(() => "prlimit (util-linux) is not installed");
if (missing !== null) {
  // deno-lint-ignore no-console
  console.log(`fd_exhaustion_test: skipping: ${missing}`);
}

async function status(socketDir: string, waitMs = 0): Promise<Obj> {
  using q = await RawClient.connect(`${socketDir}/query.sock`, waitMs);
  return ((await q.query("get_daemon_status", "daemon")).payload as Obj).result as Obj;
}

async function hold(path: string, n: number): Promise<Deno.UnixConn[]> {
  const conns: Deno.UnixConn[] = [];
  for (let i = 0; i < n; i++) {
    try {
      conns.push(await Deno.connect({ transport: "unix", path }));
    } catch {
      break; // the backlog is full
    }
  }
  return conns;
}

Deno.test({
  name:
    `With its fd limit at ${FD_LIMIT}, a burst of connections to query.sock held then closed: every listener survives, status answers again at once`,
  ignore: missing !== null,
}, async () => {
  await using tmp = await withTmpDir();
  const socketDir = `${tmp.path}/sockets`;
  await using daemon = await spawnDaemon(
    socketDir,
    `${tmp.path}/state`,
    ["--max-connections", "10000", "--event-types", "t"],
    true,
    prlimit,
  );
  const conns = await hold(`${socketDir}/query.sock`, 3 * FD_LIMIT);
  assert.ok(conns.length > FD_LIMIT, `only ${conns.length} connections`);
  await sleep(500);
  for (const conn of conns) conn.close();
  const closedAt = performance.now();
  let recovered = Infinity;
  while (performance.now() - closedAt < 10_000) {
    try {
      await status(socketDir);
      recovered = performance.now() - closedAt;
      break;
    } catch {
      await sleep(10);
    }
  }
  // deno-lint-ignore no-console
  console.log(
    `fd burst: ${conns.length} connections to query.sock at an fd limit of ${FD_LIMIT}; ` +
      `status answered ${recovered.toFixed(0)} ms after they closed`,
  );
  assert.ok(recovered < 3000, `status did not answer again: ${daemon.stderr()}`);
  const s = await status(socketDir);
  assert.ok(((s.counters as Obj).accept_errors as number) > 0, "the burst did not exhaust fds");
  assert.match(daemon.stderr(), /cannot accept a connection; retrying/);
  // Every other listener survived too.
  await assertExchange({ sock: (name) => `${socketDir}/${name}` }, "t");
});

Deno.test({
  name:
    "A burst on command.sock over --max-connections is closed at once, and status answers during it",
  ignore: missing !== null,
}, async () => {
  await using tmp = await withTmpDir();
  const socketDir = `${tmp.path}/sockets`;
  await using _daemon = await spawnDaemon(
    socketDir,
    `${tmp.path}/state`,
    ["--max-connections", "40"],
    true,
    prlimit,
  );
  const conns = await hold(`${socketDir}/command.sock`, 3 * FD_LIMIT);
  try {
    await sleep(300);
    const s = await status(socketDir, 2000);
    const c = s.counters as Obj;
    const refused = (c.connections_refused as Obj)["command.sock"] as number;
    assert.ok(refused >= conns.length - 40, `refused ${refused} of ${conns.length}`);
    assert.equal(c.publishers_connected, 40);
    assert.equal(c.accept_errors, 0, "the cap should keep fds from running out");
  } finally {
    for (const conn of conns) conn.close();
  }
});
