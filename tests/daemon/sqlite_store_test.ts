import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { DaemonState } from "../../daemon/_state.ts";
import { SqliteStore } from "../../daemon/_sqlite_store.ts";
import { emptyBatch, StoreWriteError } from "../../daemon/_store.ts";
import { type Message, MessageBuilder, type OperationRecord } from "../../protocol/mod.ts";
import { withTmpDir } from "../_helpers.ts";

function route(state: DaemonState, message: Message): Message {
  const routed = { ...message, seq: state.lastSeq(message.event_type) + 1 };
  state.record(routed, JSON.stringify(routed));
  return routed;
}

function operation(id: string, overrides: Partial<OperationRecord> = {}): OperationRecord {
  return {
    operation_id: id,
    event_type: "t",
    status: "running",
    operation_name: "n",
    parameters: { p: [1, 2] },
    started_at: "2026-11-25T10:00:00.000Z",
    updated_at: "2026-11-25T10:00:00.000Z",
    step_id: null,
    step_name: null,
    step_progress: 12.5,
    overall_progress: null,
    total_steps: 3,
    current_step: null,
    duration_seconds: null,
    result: null,
    error_code: null,
    error_message: null,
    ...overrides,
  };
}

function asideFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.includes(".corrupt-"));
}

Deno.test("SqliteStore writes a batch and reads it back after reopening", async () => {
  await using tmp = await withTmpDir();
  const path = `${tmp.path}/sub/state.db`;
  {
    using store = SqliteStore.open(path);
    assert.equal(store.path, path);
    const batch = emptyBatch();
    batch.eventTypes.push({
      event_type: "t",
      message_count: 4,
      last_seq: 4,
      last_event_at: "2026-11-25T10:00:00.000Z",
    });
    batch.state.push({
      event_type: "t",
      state_key: "k",
      state_value: { nested: { a: [1, "x", null] } },
      updated_at: "2026-11-25T10:00:00.000Z",
    });
    batch.operations.push(operation("b", { started_at: "2026-11-25T10:00:01.000Z" }));
    batch.operations.push(operation("a"));
    batch.operations.push(operation("gone"));
    for (let seq = 1; seq <= 4; seq++) {
      batch.history.push({ event_type: "t", seq, body: JSON.stringify({ seq }) });
    }
    store.write(batch);
    const second = emptyBatch();
    second.operations.push(
      operation("b", {
        status: "completed",
        started_at: "2026-11-25T10:00:01.000Z",
        duration_seconds: 2,
        result: { ok: true },
      }),
    );
    second.deletedOperations.push("gone");
    second.historyPrunes.push({ event_type: "t", before_seq: 3 });
    store.write(second);
  }
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  assert.equal((await Deno.stat(`${tmp.path}/sub`)).mode! & 0o777, 0o700);

  using store = SqliteStore.open(path);
  const snapshot = store.load();
  assert.deepEqual(snapshot.eventTypes, [{
    event_type: "t",
    message_count: 4,
    last_seq: 4,
    last_event_at: "2026-11-25T10:00:00.000Z",
  }]);
  assert.deepEqual(snapshot.state[0]?.state_value, { nested: { a: [1, "x", null] } });
  assert.deepEqual(snapshot.operations.map((o) => o.operation_id), ["a", "b"]);
  assert.deepEqual(snapshot.operations[0], operation("a"));
  assert.equal(snapshot.operations[1]?.status, "completed");
  assert.deepEqual(snapshot.operations[1]?.result, { ok: true });
  assert.deepEqual(snapshot.history.map((h) => h.seq), [3, 4]);
  assert.equal(snapshot.history[0]?.body, '{"seq":3}');
});

Deno.test("SqliteStore uses WAL with synchronous NORMAL and records its schema version", async () => {
  await using tmp = await withTmpDir();
  const path = `${tmp.path}/state.db`;
  using store = SqliteStore.open(path);
  store.write(emptyBatch());
  using db = new DatabaseSync(path);
  assert.equal(db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
  assert.equal(
    db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get()?.value,
    "2",
  );
});

Deno.test("SqliteStore rolls back the whole batch when part of it fails", async () => {
  await using tmp = await withTmpDir();
  using store = SqliteStore.open(`${tmp.path}/state.db`);
  const batch = emptyBatch();
  batch.eventTypes.push({ event_type: "t", message_count: 1, last_seq: 1, last_event_at: null });
  batch.operations.push(operation("bad", { started_at: null as unknown as string }));
  assert.throws(() => store.write(batch), (e: unknown) => {
    assert.ok(e instanceof StoreWriteError && e.seqsSaved, String(e));
    assert.match(e.message, /NOT NULL/);
    return true;
  });
  // Rolled back; only the seq handed out is kept (beside the database), so it is never reused.
  assert.deepEqual(store.load().eventTypes, [
    { event_type: "t", message_count: 0, last_seq: 1, last_event_at: null },
  ]);
  assert.equal(store.health().ok, false);
  // The store still works.
  store.write(emptyBatch());
  assert.equal(store.health().ok, true);
  store.close();
  assert.throws(() => store.write(emptyBatch()), TypeError);
});

Deno.test("SqliteStore moves a garbage file aside with a warning and starts fresh", async () => {
  await using tmp = await withTmpDir();
  const path = `${tmp.path}/state.db`;
  const garbage = new Uint8Array(8192).map((_, i) => (i * 7919) % 251);
  await Deno.writeFile(path, garbage);
  await Deno.writeFile(`${path}-wal`, garbage.subarray(0, 100));
  const warnings: string[] = [];
  {
    using store = SqliteStore.open(path, { onWarning: (w) => warnings.push(w) });
    assert.deepEqual(store.load(), { eventTypes: [], state: [], operations: [], history: [] });
    const batch = emptyBatch();
    batch.eventTypes.push({ event_type: "t", message_count: 1, last_seq: 1, last_event_at: null });
    store.write(batch);
  }
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /not a database/);
  // The WAL goes along when SQLite left it (it may already have removed it).
  const aside = asideFiles(tmp.path).sort();
  assert.ok(aside.length >= 1);
  assert.match(aside[0]!, /^state\.db\.corrupt-\d{4}-\d\d-\d\dT[\d-]+Z$/);
  assert.deepEqual(await Deno.readFile(`${tmp.path}/${aside[0]}`), garbage);

  // The fresh database is a normal one: no warning the next time.
  using store = SqliteStore.open(path, { onWarning: (w) => warnings.push(w) });
  assert.equal(store.load().eventTypes[0]?.event_type, "t");
  assert.equal(warnings.length, 1);
});

Deno.test("SqliteStore moves a database with damaged pages aside", async () => {
  await using tmp = await withTmpDir();
  const path = `${tmp.path}/state.db`;
  {
    using store = SqliteStore.open(path);
    const batch = emptyBatch();
    for (let seq = 1; seq <= 2000; seq++) {
      batch.history.push({ event_type: "t", seq, body: "x".repeat(200) });
    }
    store.write(batch);
  }
  const bytes = await Deno.readFile(path);
  for (let i = 4096 * 3; i < 4096 * 6; i++) bytes[i] = (i * 31) % 256;
  await Deno.writeFile(path, bytes);
  const warnings: string[] = [];
  using store = SqliteStore.open(path, { onWarning: (w) => warnings.push(w) });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /malformed|quick_check/);
  assert.deepEqual(store.load().history, []);
  assert.equal(asideFiles(tmp.path).length, 1);
});

Deno.test("SqliteStore moves a database with a foreign schema aside", async () => {
  await using tmp = await withTmpDir();
  const path = `${tmp.path}/state.db`;
  {
    using db = new DatabaseSync(path);
    db.exec("CREATE TABLE songs (title TEXT); INSERT INTO songs VALUES ('x');");
  }
  const warnings: string[] = [];
  using store = SqliteStore.open(path, { onWarning: (w) => warnings.push(w) });
  assert.deepEqual(store.load().eventTypes, []);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /unknown schema/);
  const aside = asideFiles(tmp.path);
  assert.equal(aside.length, 1);
  using old = new DatabaseSync(`${tmp.path}/${aside[0]}`);
  assert.equal(old.prepare("SELECT title FROM songs").get()?.title, "x");
});

Deno.test("SqliteStore moves a database from a newer schema version aside", async () => {
  await using tmp = await withTmpDir();
  const path = `${tmp.path}/state.db`;
  SqliteStore.open(path).close();
  {
    using db = new DatabaseSync(path);
    db.exec("UPDATE meta SET value = '99' WHERE key = 'schema_version'");
  }
  const warnings: string[] = [];
  using _store = SqliteStore.open(path, { onWarning: (w) => warnings.push(w) });
  assert.match(warnings[0] ?? "", /schema version/);
  assert.equal(asideFiles(tmp.path).length, 1);
});

Deno.test("DaemonState on SqliteStore keeps everything across a restart", async () => {
  await using tmp = await withTmpDir();
  const path = `${tmp.path}/state.db`;
  {
    using state = new DaemonState({ store: SqliteStore.open(path), historyLimit: 10 });
    for (let i = 1; i <= 25; i++) {
      route(
        state,
        MessageBuilder.stateUpdate({ eventType: "t", stateKey: "k", stateValue: { i } }),
      );
    }
    route(
      state,
      MessageBuilder.operationStarted({
        eventType: "t",
        operationId: "o",
        operationName: "Sync",
        parameters: { dry: false },
      }),
    );
    route(
      state,
      MessageBuilder.operationFailed({
        eventType: "t",
        operationId: "o",
        errorCode: "E",
        errorMessage: "m",
        stepId: "s",
      }),
    );
  }
  using state = new DaemonState({ store: SqliteStore.open(path), historyLimit: 10 });
  assert.equal(state.lastSeq("t"), 27);
  assert.equal(state.knownEventTypes()[0]?.message_count, 27);
  assert.deepEqual(state.currentState("t"), { state: { k: { i: 25 } } });
  const [op] = state.operations("t").operations;
  assert.equal(op?.status, "failed");
  assert.deepEqual(op?.parameters, { dry: false });
  assert.equal(op?.step_id, "s");
  const history = state.history("t", { afterSeq: 0 });
  assert.deepEqual(history.events.map((e) => e.seq), [18, 19, 20, 21, 22, 23, 24, 25, 26, 27]);
  assert.equal(history.truncated, true);
  {
    // The ten kept messages were written as one run of consecutive seqs.
    using db = new DatabaseSync(path);
    assert.deepEqual(
      {
        ...db.prepare(
          "SELECT count(*) AS n, min(first_seq) AS lo, max(last_seq) AS hi FROM history",
        ).get(),
      },
      { n: 1, lo: 18, hi: 27 },
    );
  }
});

Deno.test("SqliteStore migrates a version 1 database, one history row per message, to runs", async () => {
  await using tmp = await withTmpDir();
  const path = `${tmp.path}/state.db`;
  {
    using _created = SqliteStore.open(path);
  }
  {
    // Turn the fresh database back into version 1's layout with two messages.
    using db = new DatabaseSync(path);
    db.exec(`DROP TABLE history; DROP TABLE history_floor;
      CREATE TABLE history (event_type TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (event_type, seq)) WITHOUT ROWID;
      INSERT INTO history VALUES ('t', 1, '{"seq":1}'), ('t', 2, '{"seq":2}');
      UPDATE meta SET value = '1' WHERE key = 'schema_version';`);
  }
  const warnings: string[] = [];
  using store = SqliteStore.open(path, { onWarning: (w) => warnings.push(w) });
  assert.deepEqual(warnings, []);
  assert.deepEqual(store.load().history, [
    { event_type: "t", seq: 1, body: '{"seq":1}' },
    { event_type: "t", seq: 2, body: '{"seq":2}' },
  ]);
  const batch = emptyBatch();
  batch.history.push({ event_type: "t", seq: 3, body: '{"seq":3}' });
  batch.historyPrunes.push({ event_type: "t", before_seq: 2 });
  store.write(batch);
  assert.deepEqual(store.load().history.map((h) => h.seq), [2, 3]);
});

const CHILD = `
import { DaemonState } from ${JSON.stringify(import.meta.resolve("../../daemon/_state.ts"))};
import { SqliteStore } from ${JSON.stringify(import.meta.resolve("../../daemon/_sqlite_store.ts"))};
const state = new DaemonState({ store: SqliteStore.open(Deno.args[0]), flushDelay: 100 });
function record(payload) {
  const message = {
    message_id: crypto.randomUUID(),
    timestamp: new Date().toISOString(),
    event_type: "kill",
    payload,
    seq: state.lastSeq("kill") + 1,
  };
  state.record(message, JSON.stringify(message));
}
record({ type: "state_update", state_key: "theme", state_value: { name: "dark" } });
record({ type: "operation_started", operation_id: "op", operation_name: "Backup" });
record({
  type: "operation_progress", operation_id: "op", step_id: "copy", step_progress: 50, overall_progress: 25,
});
console.log("recorded " + state.lastSeq("kill"));
// Keep the daemon busy until it is killed: changes never stop arriving.
setInterval(() => record({ type: "noise", n: state.lastSeq("kill") }), 1);
`;

Deno.test("SqliteStore keeps what was recorded a second before a SIGKILL", async () => {
  await using tmp = await withTmpDir();
  const path = `${tmp.path}/state.db`;
  const script = `${tmp.path}/child.ts`;
  await Deno.writeTextFile(script, CHILD);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-lock", "--allow-read", "--allow-write", script, path],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  while (!output.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) break;
    output += value;
  }
  const recorded = Number(/recorded (\d+)/.exec(output)?.[1]);
  assert.equal(recorded, 3, `child said ${JSON.stringify(output)}`);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  child.kill("SIGKILL");
  const status = await child.status;
  assert.equal(status.signal, "SIGKILL");
  while (!(await lines.read()).done) { /* drain */ }

  using state = new DaemonState({ store: SqliteStore.open(path) });
  assert.deepEqual(state.currentState("kill"), { state: { theme: { name: "dark" } } });
  const op = state.operations("kill", { operationId: "op" }).operations[0];
  assert.equal(op?.status, "running");
  assert.equal(op?.operation_name, "Backup");
  assert.equal(op?.step_progress, 50);
  const last = state.lastSeq("kill");
  assert.ok(last > recorded, `the busy period was written too (last seq ${last})`);
  assert.equal(state.knownEventTypes()[0]?.message_count, last);
  // History matches the counters: every seq up to the last one, nothing more.
  const history = state.history("kill", { afterSeq: 0, limit: 10_000 });
  assert.equal(history.truncated, last > 1000);
  assert.deepEqual(
    history.events.map((e) => e.seq),
    Array.from({ length: Math.min(last, 1000) }, (_, i) => last - Math.min(last, 1000) + i + 1),
  );
  // seq continues after the restart.
  assert.equal(
    route(state, MessageBuilder.stateUpdate({ eventType: "kill", stateKey: "k", stateValue: {} }))
      .seq,
    last + 1,
  );
});

Deno.test("SqliteStore checkpoints the WAL in a worker and truncates it on close", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/state.db`;
  try {
    const store = SqliteStore.open(path);
    const body = JSON.stringify({ pad: "x".repeat(400) });
    for (let i = 1; i <= 2500; i++) {
      const batch = emptyBatch();
      batch.history.push({ event_type: "t", seq: i, body });
      store.write(batch);
    }
    // The writes asked the worker for a checkpoint (every 1000); wait for its reply.
    const deadline = Date.now() + 10_000;
    while (store.checkpoints === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(store.checkpoints >= 1, "no background checkpoint completed");
    store.close();
    const after = await Deno.stat(`${path}-wal`).then((s) => s.size).catch(() => 0);
    assert.equal(after, 0);
    using reopened = SqliteStore.open(path);
    assert.equal(reopened.load().history.length, 2500);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteStore keeps the WAL under 8 MiB through a flood of 64 KiB batches", async () => {
  // Each batch is one transaction, as a 64 KiB read from a publisher is. Before, the WAL was
  // checkpointed only every 1000 transactions, passively, and never started over while writes
  // kept coming: 26 MB after these 120k messages, and growing.
  const dir = await Deno.makeTempDir();
  const path = `${dir}/state.db`;
  try {
    const store = SqliteStore.open(path);
    const body = JSON.stringify({ pad: "x".repeat(120) });
    let seq = 0;
    let largest = 0;
    for (let b = 0; b < 300; b++) {
      const batch = emptyBatch();
      for (let i = 0; i < 400; i++) batch.history.push({ event_type: "flood", seq: ++seq, body });
      batch.eventTypes.push({
        event_type: "flood",
        message_count: seq,
        last_seq: seq,
        last_event_at: null,
      });
      if (seq > 1000) batch.historyPrunes.push({ event_type: "flood", before_seq: seq - 1000 });
      store.write(batch);
      largest = Math.max(largest, (await Deno.stat(`${path}-wal`)).size);
      // The daemon reads its sockets between commits; the worker's replies come in then.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    assert.ok(largest <= 8 * 1024 * 1024, `the WAL reached ${largest} bytes`);
    assert.ok(store.checkpoints >= 1, "no background checkpoint completed");
    store.close();
    using reopened = SqliteStore.open(path);
    const history = reopened.load().history;
    assert.equal(history.at(-1)?.seq, seq);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteStore writes a batch of many history rows in groups and loads them all back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/state.db`;
    {
      using store = SqliteStore.open(path);
      const batch = emptyBatch();
      // 100 = three groups of 32 and four single rows.
      for (let seq = 1; seq <= 100; seq++) {
        batch.history.push({ event_type: seq % 2 ? "odd" : "even", seq, body: `{"seq":${seq}}` });
      }
      store.write(batch);
    }
    using store = SqliteStore.open(path);
    const history = store.load().history;
    assert.equal(history.length, 100);
    const seqs = history.filter((h) => h.event_type === "odd").map((h) => h.seq);
    assert.deepEqual(seqs, Array.from({ length: 50 }, (_, i) => 2 * i + 1));
    assert.ok(history.every((h) => h.body === `{"seq":${h.seq}}`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
