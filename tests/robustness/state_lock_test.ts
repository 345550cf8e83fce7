/**
 * Item 5 of issue 12: the state dir is locked too, so two daemons never
 * write one state.db.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DotfilesDaemon } from "../../daemon/mod.ts";
import { withTmpDir } from "../_helpers.ts";
import { listDir, runDaemonToExit, spawnDaemon } from "./_fixture.ts";

Deno.test("A second daemon with its own socket dir but the same state dir exits 1 naming the lock and the pid holding it", async () => {
  await using tmp = await withTmpDir();
  const stateDir = `${tmp.path}/state`;
  await using first = await spawnDaemon(`${tmp.path}/a`, stateDir);
  const out = await runDaemonToExit(`${tmp.path}/b`, stateDir);
  const stderr = out.stderr;
  assert.equal(out.code, 1, stderr);
  assert.equal(stderr.split("\n").length, 1, stderr);
  assert.ok(stderr.includes(`${stateDir}/daemon.lock`), stderr);
  assert.ok(stderr.includes(`pid ${first.pid}`), stderr);
  // It left its own socket dir empty and the first daemon's files alone.
  assert.deepEqual(await listDir(`${tmp.path}/b`), []);
  assert.deepEqual(await listDir(stateDir), [
    "daemon.lock",
    "state.db",
    "state.db-seq",
    "state.db-shm",
    "state.db-wal",
  ]);
});

Deno.test("DotfilesDaemon with the socket dir as its state dir takes one lock, and removes both locks at stop", async () => {
  await using tmp = await withTmpDir();
  const dir = `${tmp.path}/both`;
  {
    await using daemon = new DotfilesDaemon({ socketDir: dir, stateDir: dir, logLevel: "error" });
    await daemon.start();
  }
  assert.deepEqual((await listDir(dir)).filter((n) => !n.startsWith("state.db")), []);
  const stateDir = `${tmp.path}/state`;
  {
    await using daemon = new DotfilesDaemon({
      socketDir: `${tmp.path}/sockets`,
      stateDir,
      logLevel: "error",
    });
    await daemon.start();
    assert.equal(
      (await Deno.readTextFile(`${stateDir}/daemon.lock`)).trim(),
      String(Deno.pid),
    );
  }
  assert.deepEqual(await listDir(stateDir), ["state.db", "state.db-seq"]);
});
