import assert from "node:assert/strict";
import { DaemonAlreadyRunningError, DotfilesDaemon } from "../../daemon/mod.ts";
import {
  counters as queryCounters,
  progress,
  pythonMessage,
  RawClient,
  rawFrame,
  type Running,
  startDaemon,
  until,
  withTmpDir,
  writeAll,
} from "../_helpers.ts";

async function counters(d: Running): Promise<Record<string, unknown>> {
  return await queryCounters(d.sock("query.sock"));
}

Deno.test("DotfilesDaemon creates private sockets on start and removes every file on stop", async () => {
  const d = await startDaemon({ eventTypes: ["wallpaper"] });
  const dirMode = (await Deno.stat(d.dir)).mode! & 0o777;
  assert.equal(dirMode, 0o700);
  for (const name of ["command.sock", "query.sock", "events.sock", "wallpaper_events.sock"]) {
    const info = await Deno.lstat(d.sock(name));
    assert.ok(info.isSocket, name);
    assert.equal(info.mode! & 0o777, 0o600, name);
  }
  assert.ok((await Deno.lstat(d.sock("daemon.lock"))).isFile);
  await d.daemon.stop();
  const left = [];
  for await (const entry of Deno.readDir(d.dir)) left.push(entry.name);
  assert.deepEqual(left, []);
  await d[Symbol.asyncDispose]();
});

Deno.test("DotfilesDaemon delivers 1000 messages in order with seq 1..1000 to each of 3 raw subscribers", async () => {
  await using d = await startDaemon({ eventTypes: ["wallpaper"] });
  using s1 = await RawClient.connect(d.sock("wallpaper_events.sock"));
  using s2 = await RawClient.connect(d.sock("wallpaper_events.sock"));
  using s3 = await RawClient.connect(d.sock("wallpaper_events.sock"));
  await until(() => d.daemon.subscriberCount("wallpaper") === 3, "subscribers");
  using pub = await RawClient.connect(d.sock("command.sock"));
  await pub.send(...Array.from({ length: 1000 }, (_, i) => progress("wallpaper", i)));
  for (const sub of [s1, s2, s3]) {
    const got = await sub.readN(1000);
    got.forEach((m, i) => {
      assert.equal(m.seq, i + 1);
      assert.equal(m.message_id, `m-${i}`);
      assert.equal((m.payload as Record<string, unknown>).i, i);
    });
  }
});

Deno.test("DotfilesDaemon creates an event socket on the first message and a late subscriber gets later messages", async () => {
  await using d = await startDaemon();
  using pub = await RawClient.connect(d.sock("command.sock"));
  await pub.send(progress("backup", 0));
  using late = await RawClient.connect(d.sock("backup_events.sock"));
  await until(() => d.daemon.subscriberCount("backup") === 1, "subscriber");
  await pub.send(progress("backup", 1));
  const m = await late.read();
  assert.equal(m?.seq, 2);
  assert.equal(m?.message_id, "m-1");
});

Deno.test("DotfilesDaemon fills in message_id and timestamp for a Python-style message and keeps extra fields", async () => {
  await using d = await startDaemon({ eventTypes: ["theme"] });
  using sub = await RawClient.connect(d.sock("theme_events.sock"));
  await until(() => d.daemon.subscriberCount("theme") === 1, "subscriber");
  using pub = await RawClient.connect(d.sock("command.sock"));
  await pub.send({
    event_type: "theme",
    payload: { type: "state_update", state_key: "k", state_value: {}, step_name: null, extra: [1] },
  });
  const py = pythonMessage("theme", { type: "operation_started", operation_id: "x" });
  await pub.send(py);
  const [a, b] = await sub.readN(2);
  assert.match(String(a!.message_id), /^[0-9a-f-]{36}$/);
  assert.ok(!Number.isNaN(Date.parse(String(a!.timestamp))));
  assert.deepEqual((a!.payload as Record<string, unknown>).extra, [1]);
  assert.equal(a!.seq, 1);
  // operation_started without operation_name is routed (lenient by default), bytes untouched but for seq.
  assert.deepEqual(b, { ...py, seq: 2 });
});

Deno.test("DotfilesDaemon firehose events.sock carries every type", async () => {
  await using d = await startDaemon();
  using all = await RawClient.connect(d.sock("events.sock"));
  await until(() => d.daemon.subscriberCount() === 1, "firehose subscriber");
  using pub = await RawClient.connect(d.sock("command.sock"));
  await pub.send(progress("a", 0), progress("b", 1), progress("a", 2));
  const got = await all.readN(3);
  assert.deepEqual(got.map((m) => [m.event_type, m.seq]), [["a", 1], ["b", 1], ["a", 2]]);
});

Deno.test("DotfilesDaemon drops bad frames, counts each reason and keeps the connection open", async () => {
  await using d = await startDaemon({ eventTypes: ["ok"] });
  using sub = await RawClient.connect(d.sock("ok_events.sock"));
  await until(() => d.daemon.subscriberCount("ok") === 1, "subscriber");
  using pub = await RawClient.connect(d.sock("command.sock"));
  await writeAll(pub.conn, rawFrame(new Uint8Array([0x7b, 0xff, 0x7d])));
  await pub.send(
    "{not json",
    "[1]",
    '{"event_type":"ok"}',
    '{"event_type":"ok","payload":{"type":"x"},"timestamp":"yesterday"}',
    '{"event_type":"../x","payload":{"type":"x"}}',
    '{"event_type":"a/b","payload":{"type":"x"}}',
    progress("ok", 7),
  );
  const m = await sub.read();
  assert.equal(m?.message_id, "m-7");
  assert.equal(m?.seq, 1);
  const c = await counters(d);
  assert.deepEqual(c.bad_frames, {
    invalid_utf8: 1,
    invalid_json: 1,
    not_object: 1,
    invalid_envelope: 2,
    invalid_event_type: 2,
  });
  assert.equal(c.rejected_event_types, 2);
  for await (const entry of Deno.readDir(d.dir)) {
    assert.ok(!entry.name.includes("x_events"), `unexpected ${entry.name}`);
  }
  // Nothing was created outside the directory either.
  await assert.rejects(Deno.lstat(`${d.dir}/../x_events.sock`), Deno.errors.NotFound);
  assert.ok(d.logs.some((l) => l.includes("dropped message")));
});

Deno.test("DotfilesDaemon closes a publisher connection on length 0 or over the limit, and counts it", async () => {
  await using d = await startDaemon({ maxMessageSize: 1024 });
  for (const length of [0, 1025, 0xffffffff]) {
    using pub = await RawClient.connect(d.sock("command.sock"));
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, length);
    await writeAll(pub.conn, header);
    assert.ok(await pub.closedByPeer(), `closed after length ${length}`);
  }
  const c = await counters(d);
  assert.deepEqual(c.bad_frames, { frame_empty: 1, frame_oversized: 2 });
});

Deno.test("DotfilesDaemon refuses a second instance on the same dir while the first keeps serving", async () => {
  await using d = await startDaemon({ eventTypes: ["w"] });
  const second = new DotfilesDaemon({ socketDir: d.dir, persist: false, logLevel: "error" });
  await assert.rejects(second.start(), DaemonAlreadyRunningError);
  // The first still serves: its sockets were not touched.
  using sub = await RawClient.connect(d.sock("w_events.sock"));
  await until(() => d.daemon.subscriberCount("w") === 1, "subscriber");
  using pub = await RawClient.connect(d.sock("command.sock"));
  await pub.send(progress("w", 1));
  assert.equal((await sub.read())?.seq, 1);
});

Deno.test("DotfilesDaemon cuts off a subscriber that never reads while the others get everything", async () => {
  await using d = await startDaemon({ subscriberBufferSize: 256 * 1024, eventTypes: ["flood"] });
  using stalled = await RawClient.connect(d.sock("flood_events.sock"));
  using healthy = await RawClient.connect(d.sock("flood_events.sock"));
  await until(() => d.daemon.subscriberCount("flood") === 2, "subscribers");
  using pub = await RawClient.connect(d.sock("command.sock"));
  const n = 5000;
  const sending = (async () => {
    for (let i = 0; i < n; i += 500) {
      await pub.send(...Array.from({ length: 500 }, (_, j) => progress("flood", i + j)));
    }
  })();
  const got = await healthy.readN(n, 10_000);
  await sending;
  assert.deepEqual(got.map((m) => m.seq), Array.from({ length: n }, (_, i) => i + 1));
  assert.ok(await stalled.closedByPeer(5000), "stalled subscriber disconnected");
  const c = await counters(d);
  assert.equal(c.slow_subscribers_dropped, 1);
  assert.ok(d.logs.some((l) => l.includes("queue limit reached")));
});

Deno.test("DotfilesDaemon answers every query type and reports errors, never silence", async () => {
  await using d = await startDaemon();
  using pub = await RawClient.connect(d.sock("command.sock"));
  await pub.send(
    {
      event_type: "theme",
      payload: { type: "state_update", state_key: "current", state_value: { name: "dark" } },
    },
    {
      event_type: "theme",
      payload: { type: "operation_started", operation_id: "op1", operation_name: "switch" },
    },
  );
  using q = await RawClient.connect(d.sock("query.sock"));
  await until(async () => {
    const r = await q.query("list_event_types");
    const types = ((r.payload as Record<string, unknown>).result as Record<string, unknown>)
      .event_types as unknown[];
    return types.length === 1;
  }, "event type listed");
  const result = async (type: string, eventType = "theme", parameters = {}) => {
    const r = await q.query(type, eventType, parameters);
    const p = r.payload as Record<string, unknown>;
    assert.equal(p.type, "query_response");
    return p;
  };
  assert.deepEqual((await result("get_current_state")).result, {
    state: { current: { name: "dark" } },
  });
  assert.deepEqual((await result("get_current_state", "*")).result, {
    state: { theme: { current: { name: "dark" } } },
  });
  const ops = (await result("get_operation_status")).result as {
    operations: Record<string, unknown>[];
  };
  assert.equal(ops.operations[0]?.operation_id, "op1");
  assert.equal(ops.operations[0]?.status, "running");
  const history = (await result("get_event_history")).result as Record<string, unknown>;
  assert.equal((history.events as unknown[]).length, 2);
  assert.equal(history.last_seq, 2);
  const types = (await result("list_event_types")).result as {
    event_types: Record<string, unknown>[];
  };
  assert.equal(types.event_types[0]?.event_type, "theme");
  assert.equal(types.event_types[0]?.socket_path, d.sock("theme_events.sock"));
  assert.equal(types.event_types[0]?.message_count, 2);
  const status = (await result("get_daemon_status", "daemon")).result as Record<string, unknown>;
  assert.equal(status.pid, Deno.pid);
  assert.equal(status.socket_dir, d.dir);
  const unknown = await result("no_such_query");
  assert.match(String(unknown.error), /Unknown query type/);
  assert.deepEqual(unknown.result, {});
  const bad = await result("get_event_history", "theme", { limit: -1 });
  assert.match(String(bad.error), /'limit'/);
  await q.send("{garbage");
  const garbage = await q.read();
  assert.match(String((garbage?.payload as Record<string, unknown>).error), /not JSON/);
});

Deno.test("DotfilesDaemon removes leftover socket files once it holds the lock", async () => {
  await using tmp = await withTmpDir();
  const dir = `${tmp.path}/s`;
  await Deno.mkdir(dir, { mode: 0o700 });
  // Socket files nobody listens on, as a kill -9 leaves them: a second name
  // (a hard link) keeps each one while Deno unlinks the listener's path on close.
  const leftover = `${dir}/old_events.sock`;
  for (const path of [`${dir}/command.sock`, leftover]) {
    const listener = Deno.listen({ transport: "unix", path });
    await Deno.link(path, `${path}.keep`);
    listener.close();
    await until(() => Deno.lstat(path).then(() => false, () => true), `${path} unlinked`);
    await Deno.rename(`${path}.keep`, path);
  }
  assert.ok((await Deno.lstat(leftover)).isSocket);
  await using d = await startDaemon({ socketDir: dir, logLevel: "info" });
  await assert.rejects(Deno.lstat(leftover), Deno.errors.NotFound);
  using pub = await RawClient.connect(`${dir}/command.sock`);
  await pub.send(progress("x", 1));
  assert.ok(d.logs.some((l) => l.includes("removed leftover sockets")));
});

Deno.test("DotfilesDaemon replaces a seq the sender put in and keeps frames within the size limit", async () => {
  await using d = await startDaemon({ eventTypes: ["s"], maxMessageSize: 300 });
  using sub = await RawClient.connect(d.sock("s_events.sock"));
  await until(() => d.daemon.subscriberCount("s") === 1, "subscriber");
  using pub = await RawClient.connect(d.sock("command.sock"));
  const fits = { event_type: "s", payload: { type: "x" }, seq: 99 };
  // 300 bytes exactly: valid on the way in, but no room for the seq the daemon adds.
  const base = JSON.stringify({
    message_id: "m",
    timestamp: "2026-11-25",
    event_type: "s",
    payload: { type: "x", pad: "" },
  });
  const full = base.replace('"pad":""', `"pad":"${"y".repeat(300 - base.length)}"`);
  assert.equal(full.length, 300);
  await pub.send(fits, full, progress("s", 3));
  const [a, b] = await sub.readN(2);
  assert.equal(a!.seq, 1);
  assert.equal(b!.message_id, "m-3");
  assert.equal(b!.seq, 2);
  assert.deepEqual((await counters(d)).bad_frames, { routed_oversized: 1 });
});

Deno.test("DotfilesDaemon stop routes what publishers already wrote, and a restart continues seq", async () => {
  await using tmp = await withTmpDir();
  const options = {
    socketDir: `${tmp.path}/s`,
    stateDir: `${tmp.path}/st`,
    logLevel: "error" as const,
  };
  {
    await using first = await startDaemon({ ...options, persist: true });
    {
      using pub = await RawClient.connect(`${tmp.path}/s/command.sock`);
      await pub.send(...Array.from({ length: 3000 }, (_, i) => progress("burst", i)));
    }
    await first.daemon.stop();
  }
  await using second = await startDaemon({ ...options, persist: true });
  // The known type's socket is back before any new event.
  assert.ok((await Deno.lstat(`${tmp.path}/s/burst_events.sock`)).isSocket);
  {
    using q = await RawClient.connect(`${tmp.path}/s/query.sock`);
    const r = await q.query("get_event_history", "burst", { limit: 1 });
    const result = (r.payload as Record<string, unknown>).result as Record<string, unknown>;
    assert.equal(result.last_seq, 3000);
    using pub = await RawClient.connect(`${tmp.path}/s/command.sock`);
    using sub = await RawClient.connect(`${tmp.path}/s/burst_events.sock`);
    await until(() => second.daemon.subscriberCount("burst") === 1, "subscriber");
    await pub.send(progress("burst", 3000));
    assert.equal((await sub.read())?.seq, 3001);
  }
});

Deno.test("DotfilesDaemon that fails to start releases what it took, last first, and a new one starts on the dir", async () => {
  await using tmp = await withTmpDir();
  const socketDir = `${tmp.path}/s`;
  await Deno.mkdir(`${socketDir}/taken`, { recursive: true });
  await Deno.writeTextFile(`${socketDir}/taken/keep`, "");
  // query.sock, the state and the lock are taken before the command socket fails.
  const failing = new DotfilesDaemon({
    socketDir,
    stateDir: `${tmp.path}/st`,
    commandSocketName: "taken",
    eventTypes: ["wallpaper"],
    logLevel: "error",
  });
  await assert.rejects(failing.start());
  await assert.rejects(failing.finished);
  const left = [];
  for await (const entry of Deno.readDir(socketDir)) left.push(entry.name);
  assert.deepEqual(left, ["taken"]);
  // The store was closed (its WAL checkpointed), and the lock is free.
  await using _d = await startDaemon({ socketDir, stateDir: `${tmp.path}/st`, persist: true });
  assert.ok((await Deno.lstat(`${socketDir}/query.sock`)).isSocket);
});
