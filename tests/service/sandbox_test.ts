/**
 * The sandbox: the daemon runs under exactly the flags from
 * `service/permissions.ts` (as `deno task start` and `deno task compile`
 * use them) and works, while the same flags refuse reads and writes outside
 * its directories, TCP, subprocesses, ffi, sys and other env.
 */

import assert from "node:assert/strict";
import { daemonPermissionFlags, DENIED_NET } from "../../service/permissions.ts";
import { RawClient, spawnDaemon, untilReady, withTmpDir } from "../_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const PROBE = new URL("./_sandbox_probe.ts", import.meta.url).pathname;

function publishMessage(eventType: string, key: string): Record<string, unknown> {
  return {
    message_id: crypto.randomUUID(),
    timestamp: new Date().toISOString(),
    event_type: eventType,
    payload: { type: "state_update", state_key: key, state_value: { ok: true } },
  };
}

Deno.test("the daemon under the shared permission flags routes a message published on the raw wire", async () => {
  await using sockets = await withTmpDir();
  await using state = await withTmpDir();
  const flags = daemonPermissionFlags({ socketDir: sockets.path, stateDir: state.path });
  await using daemon = await spawnDaemon({
    entry: "main",
    flags,
    socketDir: sockets.path,
    stateDir: state.path,
    args: ["--event-types", "sandbox", "--log-level", "warn"],
  });

  using monitor = await RawClient.connect(`${sockets.path}/sandbox_events.sock`);
  using firehose = await RawClient.connect(`${sockets.path}/events.sock`);
  using publisher = await RawClient.connect(`${sockets.path}/command.sock`);
  await publisher.send(publishMessage("sandbox", "first"));
  const received = await monitor.read();
  assert.equal((received?.payload as Record<string, unknown>)?.state_key, "first");
  assert.equal(received?.seq, 1);
  assert.equal((await firehose.read())?.event_type, "sandbox");

  // An event type the flags could not name in advance: its socket is created on demand.
  await publisher.send(publishMessage("later", "second"));
  assert.equal((await firehose.read())?.event_type, "later");
  using late = await RawClient.connect(`${sockets.path}/later_events.sock`);
  using query = await RawClient.connect(`${sockets.path}/query.sock`);
  const status = await query.query("get_daemon_status");
  const result = (status.payload as Record<string, unknown>).result as Record<string, unknown>;
  assert.equal(result.socket_dir, sockets.path);
  assert.equal(result.state_dir, state.path);
  assert.ok(late.conn);

  const { code, stderr } = await daemon.stop();
  assert.doesNotMatch(stderr, /NotCapable|Requires \w+ access/);
  assert.equal(code, 0, stderr);
});

Deno.test("the shared permission flags refuse reads, writes and sockets outside the two directories, and TCP", async () => {
  await using sockets = await withTmpDir();
  await using state = await withTmpDir();
  await using outside = await withTmpDir();
  await Deno.writeTextFile(`${outside.path}/secret.txt`, "secret");
  const flags = daemonPermissionFlags({ socketDir: sockets.path, stateDir: state.path });
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, PROBE, sockets.path, state.path, outside.path],
    cwd: ROOT,
    stdin: "null",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const results = JSON.parse(new TextDecoder().decode(stdout)) as Record<string, string>;
  const allowed = [
    "write socket dir",
    "read socket dir",
    "write state dir",
    "read state dir",
    "listen unix in socket dir",
    "read env HOME",
  ];
  for (const name of allowed) assert.equal(results[name], "ok", name);
  const refused = Object.keys(results).filter((name) => !allowed.includes(name));
  assert.ok(refused.length >= 15);
  for (const name of refused) assert.equal(results[name], "NotCapable", name);
  await assert.rejects(Deno.stat(`${outside.path}/written.txt`), Deno.errors.NotFound);
});

Deno.test("the daemon without --allow-net prints one line naming the flag, not a stack trace", async () => {
  await using sockets = await withTmpDir();
  await using state = await withTmpDir();
  const flags = daemonPermissionFlags({ socketDir: sockets.path, stateDir: state.path })
    .filter((flag) => flag !== "--allow-net" && !flag.startsWith("--deny-net"));
  assert.ok(DENIED_NET.length > 0);
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, "main.ts", "serve", sockets.path, "--state-dir", state.path],
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
  }).output();
  const lines = new TextDecoder().decode(stderr).trimEnd().split("\n");
  assert.notEqual(code, 0);
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(lines[0]!, /--allow-net/);
  assert.doesNotMatch(lines[0]!, /\bat file:/);
});

Deno.test("deno task start runs the daemon on the default directories of $HOME", async () => {
  await using home = await withTmpDir();
  const socketDir = `${home.path}/.cache/dotfiles/sockets`;
  // Keep the caller's environment (CA and proxy settings for npm) but not its XDG dirs.
  const env = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) => !name.startsWith("XDG_")),
  );
  env.HOME = home.path;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "start", "--log-level", "warn"],
    cwd: ROOT,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let daemonPid: number | undefined;
  let started: unknown;
  try {
    await untilReady(socketDir);
    daemonPid = Number((await Deno.readTextFile(`${socketDir}/daemon.lock`)).trim());
    await Deno.stat(`${home.path}/.local/state/dotfiles/daemon`);
  } catch (err) {
    started = err;
  }
  // `deno task` forwards SIGTERM to the daemon; signal the daemon itself in case it does not.
  try {
    if (daemonPid !== undefined && daemonPid > 0) Deno.kill(daemonPid, "SIGTERM");
    else child.kill("SIGTERM");
  } catch {
    // already gone
  }
  const out = await child.output();
  if (started !== undefined) {
    throw new Error(`deno task start did not start: ${new TextDecoder().decode(out.stderr)}`, {
      cause: started,
    });
  }
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
});
