import assert from "node:assert/strict";
import { DotfilesDaemon, UnsafeSocketDirError } from "../../daemon/mod.ts";
import { RawClient, withTmpDir } from "../_helpers.ts";
import { daemonArgs, listDir, spawnDaemon } from "./_fixture.ts";

async function runSecond(socketDir: string, stateDir: string): Promise<Deno.CommandOutput> {
  return await new Deno.Command(Deno.execPath(), {
    args: daemonArgs(socketDir, stateDir),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
}

Deno.test("A second daemon process on the same dir exits non-zero and touches nothing while the first keeps serving", async () => {
  await using tmp = await withTmpDir();
  const socketDir = `${tmp.path}/sockets`;
  await using first = await spawnDaemon(socketDir, `${tmp.path}/state`, ["--event-types", "x"]);
  const before = await Promise.all(
    (await listDir(socketDir)).map(async (n) => [n, (await Deno.lstat(`${socketDir}/${n}`)).ino]),
  );
  const out = await runSecond(socketDir, `${tmp.path}/state2`);
  assert.notEqual(out.code, 0);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.match(stderr, /already|another daemon/i);
  assert.ok(stderr.trim().split("\n").length <= 2, `not one line: ${stderr}`);
  const after = await Promise.all(
    (await listDir(socketDir)).map(async (n) => [n, (await Deno.lstat(`${socketDir}/${n}`)).ino]),
  );
  assert.deepEqual(after, before, "the second daemon changed the socket dir");
  using q = await RawClient.connect(`${socketDir}/query.sock`);
  const r = await q.query("get_daemon_status");
  assert.equal(
    ((r.payload as Record<string, unknown>).result as Record<string, unknown>).pid,
    first.pid,
  );
});

Deno.test("DotfilesDaemon refuses a socket dir owned by another user and touches nothing in it", async () => {
  await using tmp = await withTmpDir();
  const socketDir = `${tmp.path}/sockets`;
  await Deno.mkdir(socketDir, { mode: 0o700 });
  await Deno.chown(socketDir, 65534, 65534);
  const daemon = new DotfilesDaemon({ socketDir, persist: false, logLevel: "error" });
  await assert.rejects(() => daemon.start(), UnsafeSocketDirError);
  assert.deepEqual(await listDir(socketDir), []);
  assert.equal((await Deno.stat(socketDir)).uid, 65534);
  await daemon.stop();
  // The same through the command line: exit 1, one line naming the problem.
  const out = await runSecond(socketDir, `${tmp.path}/state`);
  assert.equal(out.code, 1);
  assert.match(new TextDecoder().decode(out.stderr), /owned by uid/);
});

Deno.test("DotfilesDaemon narrows a 0777 socket dir it owns to 0700 and refuses one it cannot fix", async () => {
  await using tmp = await withTmpDir();
  const socketDir = `${tmp.path}/sockets`;
  await Deno.mkdir(socketDir);
  await Deno.chmod(socketDir, 0o777);
  {
    await using daemon = new DotfilesDaemon({ socketDir, persist: false, logLevel: "error" });
    await daemon.start();
    assert.equal((await Deno.stat(socketDir)).mode! & 0o777, 0o700);
  }
  // Group/other-writable and not ours: cannot be fixed (chmod is for the owner), refused.
  await Deno.chmod(socketDir, 0o777);
  await Deno.chown(socketDir, 65534, 65534);
  const daemon = new DotfilesDaemon({ socketDir, persist: false, logLevel: "error" });
  await assert.rejects(() => daemon.start(), UnsafeSocketDirError);
  assert.equal((await Deno.stat(socketDir)).mode! & 0o777, 0o777, "changed a dir it refused");
  await daemon.stop();
});
