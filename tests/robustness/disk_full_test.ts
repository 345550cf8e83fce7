/**
 * Item 2 of issue 12: a full disk must never make a `seq` be handed out
 * twice. A real 1 MiB tmpfs as the state dir (needs `mount`, so root), and
 * a store whose writes fail.
 *
 * @module
 */

import assert from "node:assert/strict";
import { FailingStore, RawClient, withTmpDir } from "../_helpers.ts";
import { counters, type Obj, progress, spawnDaemon, startDaemon, until } from "./_fixture.ts";

async function run(cmd: string, args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output()
    .catch((error) => ({ code: 127, stderr: new TextEncoder().encode(String(error)) }));
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr).trim() };
}

/** Mounts a tmpfs of `size` at `dir`; the reason when it cannot. */
async function mountTmpfs(dir: string, size: string): Promise<string | null> {
  await Deno.mkdir(dir, { recursive: true });
  const out = await run("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir]);
  return out.code === 0 ? null : `mount -t tmpfs is not permitted here: ${out.stderr}`;
}

const tmpfsProbe = await (async () => {
  const dir = await Deno.makeTempDir();
  try {
    const reason = await mountTmpfs(dir, "64k");
    if (reason === null) await run("umount", [dir]);
    return reason;
  } finally {
    await Deno.remove(dir).catch(() => {});
  }
})();
if (tmpfsProbe !== null) {
  // deno-lint-ignore no-console
  console.log(`disk_full_test: skipping the tmpfs test: ${tmpfsProbe}`);
}

/** Runs `fn` with a socket dir and a state dir on a fresh 1 MiB tmpfs, unmounted after. */
async function onFullTmpfs(
  fn: (socketDir: string, stateDir: string) => Promise<void>,
): Promise<void> {
  await using tmp = await withTmpDir();
  const stateDir = `${tmp.path}/state`;
  assert.equal(await mountTmpfs(stateDir, "1m"), null);
  try {
    await fn(`${tmp.path}/sockets`, stateDir);
  } finally {
    await run("umount", ["-l", stateDir]);
  }
}

/** Waits until the daemon answering on `querySock` counts a subscriber. */
function untilSubscribed(querySock: string): Promise<void> {
  return until(
    async () => ((await counters(querySock)).subscribers_connected as number) > 0,
    "the subscriber",
  );
}

function stateUpdate(i: number, pad: string, keys = Infinity): Obj {
  return {
    message_id: `m${i}`,
    timestamp: "2026-11-25T10:00:00Z",
    event_type: "flood",
    payload: { type: "state_update", state_key: `k${i % keys}`, state_value: { i, pad } },
  };
}

/** Reads frames of a type's socket in the background, keeping the highest seq. */
function watchSeqs(
  client: RawClient,
): { max: () => number; count: () => number; stop: () => void } {
  let max = 0;
  let count = 0;
  let stopped = false;
  (async () => {
    while (!stopped) {
      try {
        for (const m of await client.readN(1, 60_000)) {
          max = Math.max(max, m.seq as number);
          count++;
        }
      } catch {
        return;
      }
    }
  })();
  return { max: () => max, count: () => count, stop: () => stopped = true };
}

Deno.test({
  name:
    "State dir on a full 1 MiB tmpfs: routing goes on, the failure shows in status, and after kill -9 no seq a monitor saw is handed out again",
  ignore: tmpfsProbe !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    onFullTmpfs(async (socketDir, stateDir) => {
      const first = await spawnDaemon(socketDir, stateDir, ["--event-types", "flood"]);
      const monitor = await RawClient.connect(`${socketDir}/flood_events.sock`);
      await untilSubscribed(`${socketDir}/query.sock`);
      const seqs = watchSeqs(monitor);
      const pub = await RawClient.connect(`${socketDir}/command.sock`);
      // 1000 keys of 1 KB: within the state bound, and more than the disk holds.
      const pad = "x".repeat(1000);
      const keys = 1000;
      const total = 20_000;
      for (let i = 0; i < total; i += 500) {
        await pub.send(...Array.from({ length: 500 }, (_, j) => stateUpdate(i + j, pad, keys)));
      }
      await until(() => seqs.count() >= total, `the monitor to see ${total} messages`, 60_000);
      const seen = seqs.max();
      using q = await RawClient.connect(`${socketDir}/query.sock`);
      const status = ((await q.query("get_daemon_status")).payload as Obj).result as Obj;
      const store = status.store as Obj;
      assert.equal(store.ok, false, `the store did not fail: ${JSON.stringify(store)}`);
      assert.equal(store.seqs_saved, true);
      assert.match(store.error as string, /full/i);
      const errorLines = first.stderr().split("\n").filter((l) =>
        /^ERROR Cannot write state/.test(l)
      );
      assert.ok(errorLines.length >= 2, `not logged at error level, repeatedly: ${first.stderr()}`);
      await first.kill9();
      seqs.stop();
      monitor[Symbol.dispose]();
      pub[Symbol.dispose]();

      // Restart on the still-full disk: the next message gets a seq past all seen.
      await using second = await spawnDaemon(socketDir, stateDir, ["--log-level", "info"]);
      using monitor2 = await RawClient.connect(`${socketDir}/flood_events.sock`);
      await untilSubscribed(`${socketDir}/query.sock`);
      using pub2 = await RawClient.connect(`${socketDir}/command.sock`);
      await pub2.send(stateUpdate(total, pad, keys));
      const [next] = await monitor2.readN(1, 10_000);
      // deno-lint-ignore no-console
      console.log(
        `disk full: the monitor saw seq up to ${seen}; after kill -9 and a restart the next message got seq ${
          next!.seq
        }`,
      );
      assert.ok((next!.seq as number) > seen, `seq ${next!.seq} reused (a monitor saw ${seen})`);
      assert.equal(next!.seq, seen + 1, "a seq was skipped though the marks are exact");
      assert.match(second.stderr(), /Resuming past seqs handed out/);
    }),
});

Deno.test({
  name:
    "State dir on a full 1 MiB tmpfs: when space comes back the store recovers by itself and writes what it kept in memory",
  ignore: tmpfsProbe !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    onFullTmpfs(async (socketDir, stateDir) => {
      const total = 5000;
      const pad = "x".repeat(200);
      {
        await using daemon = await spawnDaemon(socketDir, stateDir, ["--log-level", "info"]);
        using pub = await RawClient.connect(`${socketDir}/command.sock`);
        using q = await RawClient.connect(`${socketDir}/query.sock`);
        const store = async () =>
          (((await q.query("get_daemon_status")).payload as Obj).result as Obj).store as Obj;
        for (let i = 0; i < total; i += 500) {
          await pub.send(...Array.from({ length: 500 }, (_, j) => stateUpdate(i + j, pad)));
        }
        await until(async () => (await store()).ok === false, "the store to fail", 10_000);
        assert.equal((await run("mount", ["-o", "remount,size=64m", stateDir])).code, 0);
        // No message needed: the retry (once a second while something is unwritten) does it.
        await until(async () => (await store()).ok === true, "the store to recover", 10_000);
        assert.match(daemon.stderr(), /works again/);
        await pub.send(stateUpdate(total, pad));
        await until(async () => {
          const types = (((await q.query("list_event_types")).payload as Obj).result as Obj)
            .event_types as Obj[];
          return types.some((t) => t.last_seq === total + 1);
        }, "the last message");
      }
      // Everything kept in memory while the disk was full reached the database.
      await using again = await spawnDaemon(socketDir, stateDir);
      using q = await RawClient.connect(`${socketDir}/query.sock`);
      // All of the state is over max_message_size: count it, and read two keys.
      const c = await counters(`${socketDir}/query.sock`);
      assert.equal(c.state_entries, total + 1);
      for (const key of ["k0", `k${total}`]) {
        const one =
          (((await q.query("get_current_state", "flood", { state_key: key })).payload as Obj)
            .result as Obj).state as Obj;
        assert.deepEqual(Object.keys(one), [key]);
      }
      const types = (((await q.query("list_event_types")).payload as Obj).result as Obj)
        .event_types as Obj[];
      assert.equal(types.find((t) => t.event_type === "flood")!.last_seq, total + 1);
      assert.doesNotMatch(again.stderr(), /Resuming past seqs/, "marks were left behind");
    }),
});

Deno.test("DotfilesDaemon broadcasts nothing while the store can save neither state nor seqs, and resumes when it can", async () => {
  const store = new FailingStore(false);
  await using d = await startDaemon({ store, eventTypes: ["t"] });
  using sub = await RawClient.connect(d.sock("t_events.sock"));
  await untilSubscribed(d.sock("query.sock"));
  using pub = await RawClient.connect(d.sock("command.sock"));
  await pub.send(progress("t", 0));
  assert.equal((await sub.readN(1, 5000))[0]!.seq, 1);

  store.failing = true;
  await pub.send(...Array.from({ length: 20 }, (_, i) => progress("t", i + 1)));
  await until(async () => {
    const c = await counters(d.sock("query.sock"));
    return (c.messages_in as number) >= 21;
  }, "the daemon to read them");
  using q = await RawClient.connect(d.sock("query.sock"));
  const status = ((await q.query("get_daemon_status")).payload as Obj).result as Obj;
  assert.equal((status.store as Obj).seqs_saved, false);
  const c = status.counters as Obj;
  assert.ok((c.messages_held_back as number) >= 1, JSON.stringify(c));
  assert.equal(
    (c.messages_held_back as number) + ((c.bad_frames as Obj).store_unavailable as number ?? 0),
    20,
  );
  assert.ok(d.logs.some((l) => /^ERROR Cannot write state/.test(l)), d.logs.join("\n"));
  // What was recorded but not saved is not shown either: after a crash its
  // seqs would be handed out again.
  const history = ((await q.query("get_event_history", "t", { after_seq: 0 })).payload as Obj)
    .result as Obj;
  assert.deepEqual((history.events as Obj[]).map((e) => e.seq), [1]);
  assert.equal(history.last_seq, 1);
  const types = (((await q.query("list_event_types")).payload as Obj).result as Obj)
    .event_types as Obj[];
  assert.equal(types.find((t) => t.event_type === "t")!.last_seq, 1);

  store.failing = false;
  // The retry (once a second while something is unwritten) brings it back.
  await until(
    async () => {
      const s = ((await q.query("get_daemon_status")).payload as Obj).result as Obj;
      return (s.store as Obj).ok === true;
    },
    "the store to work again",
    5000,
  );
  await pub.send(progress("t", 99, "after"));
  // The first frame since seq 1 is the one sent after recovery: none of the
  // 20 sent while the seqs could not be saved went out.
  const [next] = await sub.readN(1, 5000);
  assert.equal(next!.message_id, "after-99", `broadcast while unsaved: seq ${next!.seq}`);
  const stored = store.inner.load().eventTypes.find((t) => t.event_type === "t")!;
  assert.equal(next!.seq, stored.last_seq, "the seq after recovery is the stored one");
});
