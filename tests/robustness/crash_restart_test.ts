import assert from "node:assert/strict";
import { MessageBuilder } from "../../protocol/mod.ts";
import { DaemonPublisher } from "../../publisher/mod.ts";
import { subscribe } from "../../monitor/mod.ts";
import { RawClient, withTmpDir } from "../_helpers.ts";
import { listDir, type Obj, sleep, spawnDaemon, until } from "./_fixture.ts";

Deno.test("DotfilesDaemon restarts after kill -9 during load: state kept, leftover sockets handled, clients reconnect and monitors fill the gap by seq", async () => {
  await using tmp = await withTmpDir();
  const socketDir = `${tmp.path}/sockets`;
  const stateDir = `${tmp.path}/state`;
  const first = await spawnDaemon(socketDir, stateDir, ["--event-types", "load"]);

  await using publisher = new DaemonPublisher({
    socketDir,
    connectionTimeout: 1000,
    onWarning: () => {},
  });
  const controller = new AbortController();
  const seen: number[] = [];
  const monitor = (async () => {
    using sub = subscribe("load", { socketDir, signal: controller.signal, reconnectDelay: 50 });
    try {
      for await (const m of sub) {
        seen.push(m.seq!);
        if (m.payload.type === "state_update" && m.payload.state_key === "done") break;
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    }
  })();
  await until(
    async () => {
      using q = await RawClient.connect(`${socketDir}/query.sock`);
      const r = await q.query("list_event_types");
      const types = ((r.payload as Obj).result as Obj).event_types as Obj[];
      return types.some((t) => t.event_type === "load" && (t.subscribers as number) > 0);
    },
    "the monitor to subscribe",
    5000,
  );

  let sent = 0;
  let accepted = 0;
  let loading = true;
  const load = (async () => {
    while (loading) {
      const ok = await publisher.publish(MessageBuilder.stateUpdate({
        eventType: "load",
        stateKey: `k${sent % 10}`,
        stateValue: { n: sent },
      }));
      sent++;
      if (ok) accepted++;
      if (sent % 20 === 0) await sleep(1);
    }
  })();
  await until(() => seen.length > 500, "load to flow", 10000);
  // No wait for the store: what a monitor has seen was written before it was sent.
  await first.kill9();
  const seenAtKill = seen.length;
  const lastSeqAtKill = seen.at(-1)!;

  // Leftovers of a killed daemon: socket files and the lock file, still there.
  const left = await listDir(socketDir);
  for (const name of ["command.sock", "query.sock", "events.sock", "load_events.sock"]) {
    assert.ok(left.includes(name), `${name} not left behind: ${left}`);
  }
  await until(() => accepted < sent, "a publish to fail fast while the daemon is away");
  await using _restarted = await spawnDaemon(socketDir, stateDir);
  {
    using q0 = await RawClient.connect(`${socketDir}/query.sock`);
    const r = (((await q0.query("list_event_types")).payload as Obj).result as Obj)
      .event_types as Obj[];
    // deno-lint-ignore no-console
    console.log(
      `monitor had seq ${lastSeqAtKill} at kill; restarted daemon resumes after ${
        r.find((t) => t.event_type === "load")?.last_seq
      }`,
    );
  }
  await until(() => seen.length > seenAtKill + 200, "the monitor to receive again", 15000);
  loading = false;
  await load;
  await publisher.publish(MessageBuilder.stateUpdate({
    eventType: "load",
    stateKey: "done",
    stateValue: {},
  }));
  const deadline = new AbortController();
  await Promise.race([
    monitor,
    sleep(10000, deadline.signal).then(() => {
      controller.abort();
      throw new Error("the monitor did not see the last message");
    }, () => {}),
  ]).finally(() => deadline.abort());

  // The monitor saw every seq exactly once, across the crash (history filled the gap).
  const unique = new Set(seen);
  assert.equal(unique.size, seen.length, "the monitor saw a seq twice");
  for (let i = 1; i < seen.length; i++) {
    assert.equal(seen[i], seen[i - 1]! + 1, `seq gap at ${seen[i - 1]} -> ${seen[i]}`);
  }
  // State survived: the restarted daemon knows the type, its last seq and current state.
  using q = await RawClient.connect(`${socketDir}/query.sock`);
  const state = ((await q.query("get_current_state", "load")).payload as Obj).result as Obj;
  assert.ok(Object.keys(state.state as Obj).length >= 10, "current state lost");
  const types = (((await q.query("list_event_types")).payload as Obj).result as Obj)
    .event_types as Obj[];
  const load2 = types.find((t) => t.event_type === "load")!;
  assert.equal(load2.last_seq, seen.at(-1));
  // The publisher reported the outage (false) and recovered (true) without throwing.
  assert.ok(accepted > 0 && accepted <= sent);
  controller.abort();
});
