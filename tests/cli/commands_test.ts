import assert from "node:assert/strict";
import { DaemonProcess, run } from "./_cli.ts";

Deno.test("publish, query and status work end to end against a live daemon", async (t) => {
  await using daemon = await DaemonProcess.start();
  const dir = ["--socket-dir", daemon.socketDir];
  const q = async (...args: string[]): Promise<Record<string, unknown>> => {
    const r = await run(["query", ...args, ...dir]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };

  await t.step("publish --state sends state updates, wrapping non-objects", async () => {
    const r = await run([
      "publish",
      "theme",
      "--state",
      'current={"name":"nord"}',
      "--state",
      "level=42",
      "--state",
      "mode=dark",
      ...dir,
    ]);
    assert.deepEqual(r, { code: 0, stdout: "", stderr: "" });
    const result = await q("get_current_state", "--event-type", "theme");
    assert.deepEqual(result, {
      state: { current: { name: "nord" }, level: { value: 42 }, mode: { value: "dark" } },
    });
  });

  await t.step("publish drives an operation through started, progress and completed", async () => {
    const steps = [
      ["--started", "set wallpaper", "--operation", "w1", "--param", "path=/x.png"],
      ["--progress", "40", "--step", "resize", "--step-progress", "80", "--operation", "w1"],
    ];
    for (const flags of steps) {
      const r = await run(["publish", "wallpaper", ...flags, ...dir]);
      assert.equal(r.code, 0, r.stderr);
    }
    let result = await q("get_operation_status", "-e", "wallpaper", "-p", "operation_id=w1");
    let [op] = result.operations as Record<string, unknown>[];
    assert.equal(op!.status, "running");
    assert.equal(op!.operation_name, "set wallpaper");
    assert.deepEqual(op!.parameters, { path: "/x.png" });
    assert.equal(op!.overall_progress, 40);
    assert.equal(op!.step_progress, 80);
    const done = await run([
      "publish",
      "wallpaper",
      "--completed",
      "--operation",
      "w1",
      "--duration",
      "2.5",
      ...dir,
    ]);
    assert.equal(done.code, 0, done.stderr);
    result = await q("get_operation_status", "-e", "wallpaper", "-p", "operation_id=w1");
    [op] = result.operations as Record<string, unknown>[];
    assert.equal(op!.status, "completed");
    assert.equal(op!.duration_seconds, 2.5);
  });

  await t.step("publish --failed and --payload send their messages", async () => {
    let r = await run([
      "publish",
      "backup",
      "--failed",
      "E_DISK",
      "--message",
      "disk full",
      "--operation",
      "b7",
      ...dir,
    ]);
    assert.equal(r.code, 0, r.stderr);
    r = await run([
      "publish",
      "backup",
      "--payload",
      '{"type":"custom_ping","n":1}',
      ...dir,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const history = await q("get_event_history", "-e", "backup");
    const payloads = (history.events as { payload: Record<string, unknown> }[]).map((e) =>
      e.payload
    );
    assert.equal(payloads.length, 2);
    assert.equal(payloads[0]!.type, "operation_failed");
    assert.equal(payloads[0]!.error_code, "E_DISK");
    assert.deepEqual(payloads[1], { type: "custom_ping", n: 1 });
  });

  await t.step("publish reads JSON lines from stdin, skipping bad lines with exit 2", async () => {
    const lines = [
      '{"type":"state_update","state_key":"a","state_value":{"v":1}}',
      "not json",
      '{"event_type":"other","payload":{"type":"state_update","state_key":"b","state_value":{}}}',
      '{"payload":{"type":"state_update","state_key":"c","state_value":{"v":3}}}',
      "",
    ].join("\n");
    const r = await run(["publish", "stdin", ...dir], { stdin: lines });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^dotfiles-daemon: |Skipped stdin line 2: /);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assert.deepEqual(await q("get_current_state", "-e", "stdin"), {
      state: { a: { v: 1 }, c: { v: 3 } },
    });
    assert.deepEqual(await q("get_current_state", "-e", "other"), { state: { b: {} } });
  });

  await t.step(
    "query prints JSON and exits 2 with the daemon's error for a bad query",
    async () => {
      const types = await q("list_event_types");
      const names = (types.event_types as { event_type: string }[]).map((e) => e.event_type);
      for (const name of ["theme", "wallpaper", "backup", "stdin", "other"]) {
        assert.ok(names.includes(name), name);
      }
      const bad = await run(["query", "no_such_query", ...dir]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /Cannot query no_such_query: the daemon answered: /);
    },
  );

  await t.step("status prints a human summary, or JSON with --json", async () => {
    const r = await run(["status", ...dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^dotfiles-daemon \S+ running, pid \d+, up /);
    assert.match(r.stdout, new RegExp(`sockets: ${daemon.socketDir}`));
    assert.match(r.stdout, /\n {2}theme +0 subscribers, 3 messages, seq 3, last /);
    const j = await run(["status", "--json", ...dir]);
    const parsed = JSON.parse(j.stdout);
    assert.equal(typeof parsed.daemon.pid, "number");
    assert.ok(Array.isArray(parsed.event_types));
  });
});
