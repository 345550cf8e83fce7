/**
 * Item 4 of issue 12: the daemon never opens its lock, database, WAL/SHM
 * or sockets through a link, and cleans a directory others could write to.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DotfilesDaemon, UnsafeSocketDirError } from "../../daemon/mod.ts";
import { withTmpDir } from "../_helpers.ts";
import { listDir, runDaemonToExit } from "./_fixture.ts";

/** This process's uid, from a file it creates (the tests run without --allow-sys). */
const MY_UID = await (async () => {
  const probe = await Deno.makeTempFile();
  const uid = (await Deno.stat(probe)).uid;
  await Deno.remove(probe);
  return uid;
})();
const IS_ROOT = MY_UID === 0;

/** `chown -h`: Deno's chown follows links, and the plant must be another user's link. */
async function lchown(path: string, uid: number): Promise<void> {
  const out = await new Deno.Command("chown", { args: ["-h", `${uid}:${uid}`, path] }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

const runDaemon = (socketDir: string, stateDir: string) => runDaemonToExit(socketDir, stateDir);

Deno.test({
  name:
    "DotfilesDaemon removes another user's daemon.lock symlink planted in a 0777 socket dir and writes nothing through it",
  ignore: !IS_ROOT,
  fn: async () => {
    // (needs root: the plant must belong to another uid)
    await using tmp = await withTmpDir();
    const socketDir = `${tmp.path}/sockets`;
    const victim = `${tmp.path}/victim.txt`;
    await Deno.writeTextFile(victim, "precious\n");
    await Deno.mkdir(socketDir);
    await Deno.chmod(socketDir, 0o777);
    await Deno.symlink(victim, `${socketDir}/daemon.lock`);
    await lchown(`${socketDir}/daemon.lock`, 65534);
    const logs: string[] = [];
    {
      await using daemon = new DotfilesDaemon({
        socketDir,
        persist: false,
        logLevel: "warn",
        logSink: (line) => logs.push(line),
      });
      await daemon.start();
      assert.equal((await Deno.stat(socketDir)).mode! & 0o777, 0o700);
      const lock = await Deno.lstat(`${socketDir}/daemon.lock`);
      assert.ok(lock.isFile && !lock.isSymlink, "the lock is not a plain file of ours");
      assert.equal(lock.uid, MY_UID);
    }
    assert.equal(await Deno.readTextFile(victim), "precious\n", "wrote through the link");
    assert.ok(
      logs.some((l) => /removed files of other users/.test(l) && /daemon\.lock/.test(l)),
      `no line about the removed plant: ${logs}`,
    );
  },
});

Deno.test("DotfilesDaemon refuses a daemon.lock that is a symlink, with one line, and leaves the target alone", async () => {
  await using tmp = await withTmpDir();
  const socketDir = `${tmp.path}/sockets`;
  const victim = `${tmp.path}/victim.txt`;
  await Deno.writeTextFile(victim, "precious\n");
  await Deno.mkdir(socketDir, { mode: 0o700 });
  await Deno.symlink(victim, `${socketDir}/daemon.lock`);
  const daemon = new DotfilesDaemon({ socketDir, persist: false, logLevel: "error" });
  await assert.rejects(() => daemon.start(), UnsafeSocketDirError);
  await daemon.stop();
  assert.equal(await Deno.readTextFile(victim), "precious\n");
  assert.ok((await Deno.lstat(`${socketDir}/daemon.lock`)).isSymlink, "changed what it refused");
  assert.deepEqual(await listDir(socketDir), ["daemon.lock"], "created sockets anyway");
  // A dangling link: open(create) would have created the target.
  await Deno.remove(`${socketDir}/daemon.lock`);
  await Deno.symlink(`${tmp.path}/created-through-link`, `${socketDir}/daemon.lock`);
  const out = await runDaemon(socketDir, `${tmp.path}/state`);
  assert.equal(out.code, 1);
  const stderr = out.stderr;
  assert.equal(stderr.split("\n").length, 1, stderr);
  assert.match(stderr, /daemon\.lock.*symbolic link/);
  await assert.rejects(() => Deno.lstat(`${tmp.path}/created-through-link`), Deno.errors.NotFound);
});

for (const name of ["state.db", "state.db-wal", "state.db-shm"]) {
  Deno.test(`DotfilesDaemon refuses a ${name} that is a symlink and creates no database outside the state dir`, async () => {
    await using tmp = await withTmpDir();
    const socketDir = `${tmp.path}/sockets`;
    const stateDir = `${tmp.path}/state`;
    const outside = `${tmp.path}/outside`;
    await Deno.mkdir(outside);
    await Deno.mkdir(stateDir, { mode: 0o700 });
    await Deno.symlink(`${outside}/${name}`, `${stateDir}/${name}`);
    const out = await runDaemon(socketDir, stateDir);
    const stderr = out.stderr;
    assert.equal(out.code, 1, stderr);
    assert.equal(stderr.split("\n").length, 1, stderr);
    assert.match(stderr, new RegExp(`${name.replace(".", "\\.")}.*symbolic link`));
    assert.deepEqual(await listDir(outside), [], "wrote a database through the link");
    // It stopped cleanly: no socket, no lock left behind.
    assert.deepEqual(await listDir(socketDir), []);
  });
}

Deno.test("DotfilesDaemon refuses a state.db that is another kind of file or has a second hard link", async () => {
  await using tmp = await withTmpDir();
  const stateDir = `${tmp.path}/state`;
  await Deno.mkdir(stateDir, { mode: 0o700 });
  await Deno.mkdir(`${stateDir}/state.db`);
  let out = await runDaemon(`${tmp.path}/sockets`, stateDir);
  assert.equal(out.code, 1);
  assert.match(out.stderr, /state\.db.*received a directory/);
  await Deno.remove(`${stateDir}/state.db`);
  await Deno.writeTextFile(`${tmp.path}/elsewhere.db`, "");
  await Deno.link(`${tmp.path}/elsewhere.db`, `${stateDir}/state.db`);
  out = await runDaemon(`${tmp.path}/sockets`, stateDir);
  assert.equal(out.code, 1);
  assert.match(out.stderr, /state\.db.*2 hard links/);
  assert.equal(await Deno.readTextFile(`${tmp.path}/elsewhere.db`), "");
});

Deno.test("A symlink planted at a socket path is replaced by the socket, never followed (the target keeps its mode)", async () => {
  await using tmp = await withTmpDir();
  const socketDir = `${tmp.path}/sockets`;
  const victim = `${tmp.path}/victim.txt`;
  await Deno.writeTextFile(victim, "precious\n");
  await Deno.chmod(victim, 0o644);
  await Deno.mkdir(socketDir, { mode: 0o700 });
  for (const name of ["command.sock", "query.sock", "x_events.sock"]) {
    await Deno.symlink(victim, `${socketDir}/${name}`);
  }
  {
    await using daemon = new DotfilesDaemon({
      socketDir,
      persist: false,
      eventTypes: ["x"],
      logLevel: "error",
    });
    await daemon.start();
    for (const name of ["command.sock", "query.sock", "x_events.sock"]) {
      assert.ok((await Deno.lstat(`${socketDir}/${name}`)).isSocket, name);
    }
  }
  assert.equal((await Deno.stat(victim)).mode! & 0o777, 0o644);
  assert.equal(await Deno.readTextFile(victim), "precious\n");
});
