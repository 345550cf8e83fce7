import assert from "node:assert/strict";
import { DaemonState, type DaemonStateOptions } from "../../daemon/_state.ts";
import { emptyBatch, MemoryStore, type Store, type StoreBatch } from "../../daemon/_store.ts";
import { type Message, MessageBuilder, type OperationRecord } from "../../protocol/mod.ts";
import { FailingStore } from "../_helpers.ts";

const T0 = Date.parse("2026-11-25T10:00:00.000Z");

/** A DaemonState on a MemoryStore with a clock the test moves by hand. */
function setup(options: Partial<DaemonStateOptions> = {}): {
  state: DaemonState;
  store: MemoryStore;
  clock: { now: number };
} {
  const clock = { now: T0 };
  const store = options.store instanceof MemoryStore ? options.store : new MemoryStore();
  const state = new DaemonState({ store, now: () => clock.now, ...options });
  return { state, store, clock };
}

/** Records a message as the daemon routes it: with the next seq and its JSON. */
function route(state: DaemonState, message: Message): Message {
  const routed = { ...message, seq: state.lastSeq(message.event_type) + 1 };
  state.record(routed, JSON.stringify(routed));
  return routed;
}

function raw(eventType: string, payload: Message["payload"]): Message {
  return {
    message_id: crypto.randomUUID(),
    timestamp: "2026-11-25T11:40:00.123456",
    event_type: eventType,
    payload,
  };
}

function only(state: DaemonState, operationId: string): OperationRecord {
  const [op, ...rest] = state.operations("*", { operationId }).operations;
  assert.ok(op, `operation ${operationId} is missing`);
  assert.equal(rest.length, 0);
  return op;
}

const RECORD_KEYS = [
  "operation_id",
  "event_type",
  "status",
  "operation_name",
  "parameters",
  "started_at",
  "updated_at",
  "step_id",
  "step_name",
  "step_progress",
  "overall_progress",
  "total_steps",
  "current_step",
  "duration_seconds",
  "result",
  "error_code",
  "error_message",
].sort();

Deno.test("DaemonState tracks an operation from started through progress to completed", () => {
  const { state, clock } = setup();
  using _ = state;
  route(
    state,
    MessageBuilder.operationStarted({
      eventType: "wallpaper",
      operationId: "w1",
      operationName: "Change wallpaper",
      parameters: { path: "/w.png" },
      extra: { monitor: "DP-1" },
    }),
  );
  let op = only(state, "w1");
  assert.deepEqual(Object.keys(op).sort(), RECORD_KEYS);
  assert.equal(op.status, "running");
  assert.equal(op.event_type, "wallpaper");
  assert.equal(op.operation_name, "Change wallpaper");
  assert.deepEqual(op.parameters, { path: "/w.png" });
  assert.equal(op.started_at, "2026-11-25T10:00:00.000Z");
  assert.equal(op.step_id, null);
  assert.equal(op.result, null);
  assert.equal("monitor" in op, false);

  clock.now += 1500;
  route(
    state,
    MessageBuilder.operationProgress({
      eventType: "wallpaper",
      operationId: "w1",
      stepId: "resize",
      stepName: "Resizing",
      stepProgress: 40,
      overallProgress: 20,
      totalSteps: 3,
      currentStep: 1,
    }),
  );
  op = only(state, "w1");
  assert.equal(op.status, "running");
  assert.equal(op.updated_at, "2026-11-25T10:00:01.500Z");
  assert.equal(op.started_at, "2026-11-25T10:00:00.000Z");
  assert.deepEqual(
    [
      op.step_id,
      op.step_name,
      op.step_progress,
      op.overall_progress,
      op.total_steps,
      op.current_step,
    ],
    ["resize", "Resizing", 40, 20, 3, 1],
  );

  // A later step without a name clears the old step's name, keeps the step count.
  route(
    state,
    raw("wallpaper", {
      type: "operation_progress",
      operation_id: "w1",
      step_id: "apply",
      step_name: null,
      step_progress: 10,
      overall_progress: 70,
      total_steps: null,
      current_step: 2,
    }),
  );
  op = only(state, "w1");
  assert.deepEqual(
    [
      op.step_id,
      op.step_name,
      op.step_progress,
      op.overall_progress,
      op.total_steps,
      op.current_step,
    ],
    ["apply", null, 10, 70, 3, 2],
  );

  clock.now += 1000;
  route(
    state,
    MessageBuilder.operationCompleted({
      eventType: "wallpaper",
      operationId: "w1",
      durationSeconds: 2.5,
      result: { applied: true },
    }),
  );
  op = only(state, "w1");
  assert.equal(op.status, "completed");
  assert.equal(op.duration_seconds, 2.5);
  assert.deepEqual(op.result, { applied: true });
  assert.equal(op.updated_at, "2026-11-25T10:00:02.500Z");
  assert.equal(op.error_code, null);
  assert.deepEqual(state.operations("wallpaper", { status: "running" }).operations, []);
  assert.equal(state.operations("wallpaper", { status: "completed" }).operations.length, 1);
  assert.deepEqual(state.operations("other").operations, []);
});

Deno.test("DaemonState keeps error_code, error_message and step_id of a failed operation", () => {
  const { state } = setup();
  using _ = state;
  route(
    state,
    MessageBuilder.operationStarted({ eventType: "b", operationId: "f1", operationName: "x" }),
  );
  route(
    state,
    MessageBuilder.operationProgress({
      eventType: "b",
      operationId: "f1",
      stepId: "upload",
      stepProgress: 5,
      overallProgress: 50,
    }),
  );
  route(
    state,
    MessageBuilder.operationFailed({
      eventType: "b",
      operationId: "f1",
      errorCode: "ENOSPC",
      errorMessage: "disk full",
    }),
  );
  let op = only(state, "f1");
  assert.equal(op.status, "failed");
  assert.equal(op.error_code, "ENOSPC");
  assert.equal(op.error_message, "disk full");
  assert.equal(op.step_id, "upload", "the last step seen is kept when step_id is absent");

  route(
    state,
    MessageBuilder.operationStarted({ eventType: "b", operationId: "f2", operationName: "y" }),
  );
  route(
    state,
    raw("b", {
      type: "operation_failed",
      operation_id: "f2",
      error_code: "E",
      error_message: "boom",
      step_id: "verify",
      traceback: "Traceback ...",
    }),
  );
  op = only(state, "f2");
  assert.equal(op.step_id, "verify");
  assert.equal("traceback" in op, false);
  assert.deepEqual(
    state.operations("b", { status: "failed" }).operations.map((o) => o.operation_id),
    [
      "f2",
      "f1",
    ],
  );
});

Deno.test("DaemonState tolerates payloads with missing, null or mistyped fields", () => {
  const { state } = setup();
  using _ = state;
  // operation_started without operation_name, parameters null: routed by real managers.
  route(state, raw("w", { type: "operation_started", operation_id: "a", parameters: null }));
  let op = only(state, "a");
  assert.equal(op.operation_name, null);
  assert.equal(op.parameters, null);
  assert.equal(op.status, "running");

  // Progress before started creates a running operation.
  route(
    state,
    raw("w", { type: "operation_progress", operation_id: "b", step_id: "s", step_progress: "x" }),
  );
  op = only(state, "b");
  assert.equal(op.status, "running");
  assert.equal(op.step_id, "s");
  assert.equal(op.step_progress, null);
  assert.equal(op.operation_name, null);

  // Started after progress fills in the name and keeps started_at and progress.
  route(state, raw("w", { type: "operation_started", operation_id: "b", operation_name: "late" }));
  op = only(state, "b");
  assert.equal(op.operation_name, "late");
  assert.equal(op.step_id, "s");

  // Completed without duration, failed without anything: fields stay null.
  route(state, raw("w", { type: "operation_completed", operation_id: "c" }));
  assert.equal(only(state, "c").duration_seconds, null);
  assert.equal(only(state, "c").status, "completed");
  route(state, raw("w", { type: "operation_failed", operation_id: "d" }));
  assert.equal(only(state, "d").error_code, null);

  // No usable operation_id or state_key: routed and counted, nothing else.
  route(state, raw("w", { type: "operation_progress", operation_id: 7 }));
  route(state, raw("w", { type: "operation_started" }));
  route(state, raw("w", { type: "state_update", state_value: { a: 1 } }));
  route(state, raw("w", { type: "something_else", x: 1 }));
  assert.equal(state.operations("w").operations.length, 4);
  assert.deepEqual(state.currentState("w"), { state: {} });
  assert.equal(state.lastSeq("w"), 9);
  assert.equal(state.history("w").events.length, 9);
});

Deno.test("DaemonState starts a new operation when a finished operation's id is started again", () => {
  const { state, clock } = setup();
  using _ = state;
  route(
    state,
    MessageBuilder.operationStarted({ eventType: "w", operationId: "r", operationName: "one" }),
  );
  route(
    state,
    MessageBuilder.operationCompleted({ eventType: "w", operationId: "r", durationSeconds: 1 }),
  );
  clock.now += 60_000;
  route(
    state,
    MessageBuilder.operationStarted({ eventType: "w", operationId: "r", operationName: "two" }),
  );
  const op = only(state, "r");
  assert.equal(op.status, "running");
  assert.equal(op.operation_name, "two");
  assert.equal(op.duration_seconds, null);
  assert.equal(op.started_at, "2026-11-25T10:01:00.000Z");
});

Deno.test("DaemonState lists operations newest first by started_at, then by arrival", () => {
  const { state, clock } = setup();
  using _ = state;
  route(
    state,
    MessageBuilder.operationStarted({ eventType: "a", operationId: "1", operationName: "n" }),
  );
  route(
    state,
    MessageBuilder.operationStarted({ eventType: "b", operationId: "2", operationName: "n" }),
  );
  clock.now += 10;
  route(
    state,
    MessageBuilder.operationStarted({ eventType: "a", operationId: "3", operationName: "n" }),
  );
  // A progress on an old operation does not move it up.
  route(
    state,
    MessageBuilder.operationProgress({
      eventType: "a",
      operationId: "1",
      stepId: "s",
      stepProgress: 1,
      overallProgress: 1,
    }),
  );
  const ids = (type: string): string[] =>
    state.operations(type).operations.map((op) => op.operation_id);
  assert.deepEqual(ids("*"), ["3", "2", "1"]);
  assert.deepEqual(ids("a"), ["3", "1"]);
  assert.deepEqual(ids("b"), ["2"]);
  assert.deepEqual(state.operations("a", { operationId: "2" }).operations.length, 1);
  assert.deepEqual(state.operations("a", { operationId: "2", status: "failed" }).operations, []);
  assert.throws(
    () => state.operations("a", { status: "paused" as "running" }),
    RangeError,
  );
});

Deno.test("DaemonState marks an operation without updates failed STALE through onStale", async () => {
  const stale = Promise.withResolvers<Message>();
  let state: DaemonState | undefined = undefined;
  const { state: created, clock } = setup({
    staleAfter: 50,
    onStale: (message) => {
      // As the daemon does: route it, which records it.
      route(state!, message);
      stale.resolve(message);
    },
  });
  state = created;
  using _ = state;
  route(
    state,
    MessageBuilder.operationStarted({ eventType: "bk", operationId: "s1", operationName: "n" }),
  );
  route(
    state,
    MessageBuilder.operationProgress({
      eventType: "bk",
      operationId: "s1",
      stepId: "copy",
      stepProgress: 3,
      overallProgress: 1,
    }),
  );
  route(
    state,
    MessageBuilder.operationStarted({ eventType: "bk", operationId: "s2", operationName: "n" }),
  );
  route(
    state,
    MessageBuilder.operationCompleted({ eventType: "bk", operationId: "s2", durationSeconds: 0 }),
  );
  clock.now += 60_000;
  const message = await stale.promise;

  assert.equal(message.event_type, "bk");
  assert.equal(message.seq, undefined);
  assert.match(message.message_id, /^[0-9a-f-]{36}$/);
  assert.equal(message.timestamp, "2026-11-25T10:01:00.000Z");
  assert.equal(message.payload.type, "operation_failed");
  assert.equal(message.payload.operation_id, "s1");
  assert.equal(message.payload.error_code, "STALE");
  assert.equal(typeof message.payload.error_message, "string");
  assert.equal(message.payload.step_id, "copy");

  const op = only(state, "s1");
  assert.equal(op.status, "failed");
  assert.equal(op.error_code, "STALE");
  assert.equal(op.step_id, "copy");
  assert.equal(only(state, "s2").status, "completed");
  assert.equal(state.counters().operations_stale, 1);
  assert.equal(state.counters().operations_running, 0);
  // The routed failure is in the history, with the next seq.
  const last = state.history("bk", { limit: 1 }).events[0];
  assert.equal(last?.seq, 5);
  assert.equal((last?.payload as { error_code: string }).error_code, "STALE");

  // A manager that was only slow comes back: the operation runs again.
  route(
    state,
    MessageBuilder.operationProgress({
      eventType: "bk",
      operationId: "s1",
      stepId: "copy",
      stepProgress: 90,
      overallProgress: 50,
    }),
  );
  assert.equal(only(state, "s1").status, "running");
  assert.equal(only(state, "s1").error_code, null);
});

Deno.test("DaemonState marks a stale operation failed itself when onStale does not route it", async () => {
  const called = Promise.withResolvers<void>();
  const { state, clock, store } = setup({ staleAfter: 20, onStale: () => called.resolve() });
  using _ = state;
  route(
    state,
    MessageBuilder.operationStarted({ eventType: "x", operationId: "o", operationName: "n" }),
  );
  clock.now += 1000;
  await called.promise;
  assert.equal(only(state, "o").status, "failed");
  assert.equal(only(state, "o").error_code, "STALE");
  assert.equal(state.lastSeq("x"), 1, "nothing was routed");
  state.flush();
  assert.equal(store.load().operations[0]?.error_code, "STALE");
});

Deno.test("DaemonState marks running operations loaded from the store stale", async () => {
  const store = new MemoryStore();
  {
    using state = new DaemonState({ store, now: () => T0 });
    route(
      state,
      MessageBuilder.operationStarted({ eventType: "x", operationId: "o", operationName: "n" }),
    );
  }
  const called = Promise.withResolvers<Message>();
  using state = new DaemonState({
    store,
    staleAfter: 1000,
    now: () => T0 + 5000,
    onStale: (m) => called.resolve(m),
  });
  assert.equal(only(state, "o").status, "running");
  assert.equal((await called.promise).payload.operation_id, "o");
  assert.equal(only(state, "o").status, "failed");
});

Deno.test("DaemonState keeps the last historyLimit messages and answers limit and after_seq", () => {
  const { state } = setup({ historyLimit: 5 });
  using _ = state;
  for (let i = 1; i <= 8; i++) {
    route(state, MessageBuilder.stateUpdate({ eventType: "h", stateKey: "k", stateValue: { i } }));
  }
  const seqs = (r: { events: { seq?: unknown }[] }): unknown[] => r.events.map((e) => e.seq);

  // Without after_seq: the last `limit` events, oldest first.
  let r = state.history("h");
  assert.deepEqual(seqs(r), [4, 5, 6, 7, 8]);
  assert.equal(r.truncated, false);
  assert.equal(r.oldest_seq, 4);
  assert.equal(r.last_seq, 8);
  assert.deepEqual(seqs(state.history("h", { limit: 2 })), [7, 8]);
  assert.deepEqual((r.events[0]?.payload as { state_value: unknown }).state_value, { i: 4 });

  // After a seq still kept: nothing missing.
  r = state.history("h", { afterSeq: 5 });
  assert.deepEqual(seqs(r), [6, 7, 8]);
  assert.equal(r.truncated, false);
  r = state.history("h", { afterSeq: 3 });
  assert.deepEqual(seqs(r), [4, 5, 6, 7, 8]);
  assert.equal(r.truncated, false, "seq 4 follows 3: nothing lost");
  // First `limit` events after after_seq.
  assert.deepEqual(seqs(state.history("h", { afterSeq: 4, limit: 2 })), [5, 6]);

  // After a seq no longer kept: truncated, with the oldest kept.
  r = state.history("h", { afterSeq: 1 });
  assert.deepEqual(seqs(r), [4, 5, 6, 7, 8]);
  assert.equal(r.truncated, true);
  assert.equal(r.oldest_seq, 4);
  r = state.history("h", { afterSeq: 0, limit: 1 });
  assert.deepEqual(seqs(r), [4]);
  assert.equal(r.truncated, true);

  // Up to date, or ahead: nothing, not truncated.
  assert.deepEqual(state.history("h", { afterSeq: 8 }), {
    events: [],
    truncated: false,
    oldest_seq: 4,
    last_seq: 8,
  });
  assert.equal(state.history("h", { afterSeq: 100 }).events.length, 0);

  // Unknown type.
  assert.deepEqual(state.history("nope", { afterSeq: 3 }), {
    events: [],
    truncated: false,
    oldest_seq: null,
    last_seq: 0,
  });

  // The raw form has the same bodies the daemon routed.
  const rawResult = state.historyBodies("h", { afterSeq: 6 });
  assert.deepEqual(rawResult.bodies.map((b) => JSON.parse(b).seq), [7, 8]);

  for (const limit of [0, -1, 1.5, NaN]) {
    assert.throws(() => state.history("h", { limit }), RangeError);
  }
  for (const afterSeq of [-1, 0.5, NaN]) {
    assert.throws(() => state.history("h", { afterSeq }), RangeError);
  }
});

Deno.test("DaemonState reports truncation when it keeps no history at all", () => {
  const { state } = setup({ historyLimit: 0 });
  using _ = state;
  route(state, MessageBuilder.stateUpdate({ eventType: "h", stateKey: "k", stateValue: {} }));
  assert.deepEqual(state.history("h", { afterSeq: 0 }), {
    events: [],
    truncated: true,
    oldest_seq: null,
    last_seq: 1,
  });
  assert.deepEqual(state.currentState("h"), { state: { k: {} } });
});

Deno.test("DaemonState answers current state by type, by key and for every type with *", () => {
  const { state } = setup();
  using _ = state;
  route(
    state,
    MessageBuilder.stateUpdate({ eventType: "theme", stateKey: "mode", stateValue: { v: 1 } }),
  );
  route(
    state,
    MessageBuilder.stateUpdate({ eventType: "theme", stateKey: "mode", stateValue: { v: 2 } }),
  );
  route(
    state,
    MessageBuilder.stateUpdate({ eventType: "theme", stateKey: "font", stateValue: { f: "x" } }),
  );
  route(
    state,
    MessageBuilder.stateUpdate({ eventType: "wall", stateKey: "mode", stateValue: { w: 1 } }),
  );
  route(
    state,
    MessageBuilder.operationStarted({ eventType: "ops", operationId: "o", operationName: "n" }),
  );
  // Non-strict payloads: a non-object value is still the current value.
  route(state, raw("misc", { type: "state_update", state_key: "flag", state_value: "on" }));

  assert.deepEqual(state.currentState("theme"), {
    state: { mode: { v: 2 }, font: { f: "x" } },
  });
  assert.deepEqual(state.currentState("theme", "font"), { state: { font: { f: "x" } } });
  assert.deepEqual(state.currentState("theme", "nope"), { state: {} });
  assert.deepEqual(state.currentState("nope"), { state: {} });
  assert.deepEqual(state.currentState("*"), {
    state: {
      theme: { mode: { v: 2 }, font: { f: "x" } },
      wall: { mode: { w: 1 } },
      misc: { flag: "on" },
    },
  });
  assert.deepEqual(state.currentState("*", "mode"), {
    state: { theme: { mode: { v: 2 } }, wall: { mode: { w: 1 } } },
  });
});

Deno.test("DaemonState restarted on the same store keeps state, operations, history, counts and seq", () => {
  const store = new MemoryStore();
  const clock = { now: T0 };
  {
    using state = new DaemonState({ store, historyLimit: 3, now: () => clock.now });
    route(
      state,
      MessageBuilder.stateUpdate({ eventType: "t", stateKey: "k", stateValue: { a: 1 } }),
    );
    route(
      state,
      MessageBuilder.operationStarted({ eventType: "t", operationId: "run", operationName: "n" }),
    );
    clock.now += 1000;
    route(
      state,
      MessageBuilder.operationProgress({
        eventType: "t",
        operationId: "run",
        stepId: "s",
        stepProgress: 10,
        overallProgress: 5,
      }),
    );
    route(
      state,
      MessageBuilder.operationStarted({ eventType: "t", operationId: "done", operationName: "m" }),
    );
    route(
      state,
      MessageBuilder.operationCompleted({
        eventType: "t",
        operationId: "done",
        durationSeconds: 1,
        result: { ok: true },
      }),
    );
    state.ensureEventType("quiet");
    assert.equal(store.writes, 0, "nothing is written before the batch");
  }
  assert.ok(store.closed);
  assert.equal(store.writes, 1, "close() wrote everything in one batch");

  clock.now += 60_000;
  using state = new DaemonState({ store, historyLimit: 3, now: () => clock.now });
  assert.deepEqual(
    state.knownEventTypes(),
    [
      { event_type: "t", message_count: 5, last_seq: 5, last_event_at: "2026-11-25T10:00:01.000Z" },
      { event_type: "quiet", message_count: 0, last_seq: 0, last_event_at: null },
    ].sort((a, b) => a.event_type.localeCompare(b.event_type)),
  );
  assert.equal(state.lastSeq("t"), 5);
  assert.deepEqual(state.currentState("t"), { state: { k: { a: 1 } } });
  const run = only(state, "run");
  assert.equal(run.status, "running");
  assert.equal(run.step_progress, 10);
  assert.equal(run.updated_at, "2026-11-25T10:00:01.000Z");
  assert.deepEqual(only(state, "done").result, { ok: true });
  assert.deepEqual(state.operations("t").operations.map((o) => o.operation_id), ["done", "run"]);
  const history = state.history("t", { afterSeq: 1 });
  assert.deepEqual(history.events.map((e) => e.seq), [3, 4, 5]);
  assert.equal(history.truncated, true);
  assert.equal(history.oldest_seq, 3);

  // seq continues.
  const next = route(
    state,
    MessageBuilder.stateUpdate({ eventType: "t", stateKey: "k", stateValue: {} }),
  );
  assert.equal(next.seq, 6);
  assert.equal(state.knownEventTypes().find((t) => t.event_type === "t")?.message_count, 6);
});

Deno.test("DaemonState prunes the oldest finished operations beyond operationRetention", () => {
  const store = new MemoryStore();
  const { state, clock } = setup({ store, operationRetention: 2 });
  using _ = state;
  route(
    state,
    MessageBuilder.operationStarted({ eventType: "p", operationId: "keep", operationName: "n" }),
  );
  for (const id of ["a", "b", "c", "d"]) {
    clock.now += 1;
    route(
      state,
      MessageBuilder.operationStarted({ eventType: "p", operationId: id, operationName: "n" }),
    );
  }
  // Finish out of start order: a, then c, then b, then d.
  for (const id of ["a", "c", "b"]) {
    route(
      state,
      MessageBuilder.operationCompleted({ eventType: "p", operationId: id, durationSeconds: 1 }),
    );
  }
  state.flush();
  assert.deepEqual(state.operations("p").operations.map((o) => o.operation_id), [
    "d",
    "c",
    "b",
    "keep",
  ]);
  route(
    state,
    MessageBuilder.operationFailed({
      eventType: "p",
      operationId: "d",
      errorCode: "E",
      errorMessage: "m",
    }),
  );
  assert.deepEqual(state.operations("p").operations.map((o) => o.operation_id), [
    "d",
    "b",
    "keep",
  ]);
  assert.equal(state.counters().operations_pruned, 2);
  assert.equal(state.counters().operations_running, 1);
  state.flush();
  assert.deepEqual(store.load().operations.map((o) => o.operation_id).sort(), ["b", "d", "keep"]);

  // An id pruned and then started again is a new operation, written again.
  route(
    state,
    MessageBuilder.operationStarted({ eventType: "p", operationId: "a", operationName: "again" }),
  );
  state.flush();
  assert.ok(store.load().operations.some((o) => o.operation_id === "a"));
});

Deno.test("DaemonState writes a burst in one batch after flushDelay", async () => {
  const store = new MemoryStore();
  using state = new DaemonState({ store, flushDelay: 5 });
  for (let i = 0; i < 1000; i++) {
    route(
      state,
      MessageBuilder.stateUpdate({ eventType: "burst", stateKey: `k${i % 10}`, stateValue: { i } }),
    );
  }
  assert.equal(store.writes, 0);
  const deadline = Date.now() + 5000;
  while (store.writes === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(store.writes, 1);
  const snapshot = store.load();
  assert.equal(snapshot.history.length, 1000);
  assert.equal(snapshot.state.length, 10);
  assert.equal(snapshot.eventTypes[0]?.last_seq, 1000);
  // Nothing pending: another flush writes nothing.
  state.flush();
  assert.equal(store.writes, 1);
});

Deno.test("DaemonState writes only the new history and prunes what fell out of the ring in bulk", () => {
  const writes: StoreBatch[] = [];
  const inner = new MemoryStore();
  const store: Store = {
    path: null,
    load: () => inner.load(),
    write: (batch) => {
      writes.push(batch);
      inner.write(batch);
    },
    close: () => inner.close(),
  };
  const update = (i: number): Message =>
    MessageBuilder.stateUpdate({ eventType: "r", stateKey: "k", stateValue: { i } });
  {
    using state = new DaemonState({ store, historyLimit: 3 });
    for (let i = 0; i < 2; i++) route(state, update(i));
    state.flush();
    for (let i = 0; i < 5; i++) route(state, update(i));
    state.flush();
    assert.deepEqual(writes[0]?.history.map((h) => h.seq), [1, 2]);
    assert.deepEqual(writes[0]?.historyPrunes, []);
    assert.deepEqual(writes[1]?.history.map((h) => h.seq), [5, 6, 7]);
    assert.deepEqual(writes[1]?.state.length, 1, "a key changed five times is written once");
    // 4 dropped: not pruned yet, the store keeps them a while.
    assert.deepEqual(writes[1]?.historyPrunes, []);
    assert.deepEqual(inner.load().history.map((h) => h.seq), [1, 2, 5, 6, 7]);
    // The 64th dropped entry prunes them all, in one write.
    for (let i = 0; i < 60; i++) {
      route(state, update(i));
      state.flush();
    }
    const prunes = writes.flatMap((w) => w.historyPrunes);
    assert.deepEqual(prunes, [{ event_type: "r", before_seq: 65 }]);
    assert.deepEqual(inner.load().history.map((h) => h.seq), [65, 66, 67]);
    route(state, update(0));
    state.flush();
    assert.deepEqual(inner.load().history.map((h) => h.seq), [65, 66, 67, 68]);
  }
  // A restart loads the extra one and keeps the ring's three.
  using again = new DaemonState({ store: inner, historyLimit: 3 });
  assert.deepEqual(again.history("r", { limit: 10 }).events.map((e) => e.seq), [66, 67, 68]);
  assert.equal(again.history("r", { afterSeq: 60 }).truncated, true);
});

Deno.test("DaemonState keeps going in memory when the store fails, and writes it all later", () => {
  const store = new FailingStore(true);
  const warnings: string[] = [];
  const errors: string[] = [];
  using state = new DaemonState({
    store,
    onWarning: (w) => warnings.push(w),
    onStoreError: (e) => errors.push(e),
  });
  route(state, MessageBuilder.stateUpdate({ eventType: "f", stateKey: "k", stateValue: { a: 1 } }));
  assert.equal(state.flush(), false, "a plain store error saves no seqs");
  assert.ok(state.seqsUnsafe);
  route(state, MessageBuilder.stateUpdate({ eventType: "f", stateKey: "j", stateValue: { b: 2 } }));
  state.flush();
  assert.equal(errors.length, 2, "one line per failed write, as long as it lasts");
  assert.match(errors[0]!, /disk I\/O error/);
  assert.equal(warnings.length, 0);
  assert.equal(state.counters().store_write_failures, 2);
  assert.equal(state.storeHealth().ok, false);
  assert.deepEqual(state.currentState("f"), { state: { k: { a: 1 }, j: { b: 2 } } });

  store.failing = false;
  assert.equal(state.flush(), true);
  assert.equal(state.seqsUnsafe, false);
  assert.equal(state.storeHealth().ok, true);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /works again/);
  const snapshot = store.inner.load();
  assert.equal(snapshot.state.length, 2);
  assert.deepEqual(snapshot.history.map((h) => h.seq), [1, 2]);
  assert.equal(snapshot.eventTypes[0]?.last_seq, 2);
});

Deno.test("DaemonState starts empty with a warning when the store cannot be read", () => {
  const warnings: string[] = [];
  const store: Store = {
    path: null,
    load: () => {
      throw new Error("unreadable");
    },
    write: () => {},
    close: () => {},
  };
  using state = new DaemonState({ store, onWarning: (w) => warnings.push(w) });
  assert.deepEqual(state.knownEventTypes(), []);
  assert.equal(warnings.length, 1);
});

/** Counts the timers armed through `setTimeout` and not yet fired or cleared. */
function trackTimers(): { readonly live: number } & Disposable {
  const originalSet = globalThis.setTimeout;
  const originalClear = globalThis.clearTimeout;
  const live = new Set<unknown>();
  globalThis.setTimeout = ((fn: () => void, delay?: number) => {
    const id = originalSet(() => {
      live.delete(id);
      fn();
    }, delay);
    live.add(id);
    return id;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((id?: number) => {
    live.delete(id);
    originalClear(id);
  }) as typeof clearTimeout;
  return {
    get live(): number {
      return live.size;
    },
    [Symbol.dispose](): void {
      globalThis.setTimeout = originalSet;
      globalThis.clearTimeout = originalClear;
    },
  };
}

Deno.test("DaemonState arms timers only while changes are unwritten or operations run", () => {
  using timers = trackTimers();
  using state = new DaemonState({ store: new MemoryStore() });
  assert.equal(timers.live, 0, "idle after start-up");
  route(state, MessageBuilder.stateUpdate({ eventType: "i", stateKey: "k", stateValue: {} }));
  assert.equal(timers.live, 1, "the flush timer");
  route(state, MessageBuilder.stateUpdate({ eventType: "i", stateKey: "k", stateValue: {} }));
  assert.equal(timers.live, 1, "one flush timer per burst");
  state.flush();
  assert.equal(timers.live, 0, "idle once written");
  route(
    state,
    MessageBuilder.operationStarted({ eventType: "i", operationId: "o", operationName: "n" }),
  );
  assert.equal(timers.live, 2, "flush and stale timers");
  route(
    state,
    MessageBuilder.operationStarted({ eventType: "i", operationId: "p", operationName: "n" }),
  );
  assert.equal(timers.live, 2, "one stale timer for every running operation");
  route(
    state,
    MessageBuilder.operationCompleted({ eventType: "i", operationId: "o", durationSeconds: 0 }),
  );
  assert.equal(timers.live, 2);
  route(
    state,
    MessageBuilder.operationFailed({
      eventType: "i",
      operationId: "p",
      errorCode: "E",
      errorMessage: "m",
    }),
  );
  assert.equal(timers.live, 1, "no stale timer once nothing runs");
  state.flush();
  assert.equal(timers.live, 0);
  route(
    state,
    MessageBuilder.operationStarted({ eventType: "i", operationId: "q", operationName: "n" }),
  );
  state.close();
  assert.equal(timers.live, 0, "close() clears every timer");
});

Deno.test("DaemonState ignores records after close and rejects bad options", () => {
  const store = new MemoryStore();
  const state = new DaemonState({ store });
  state.close();
  route(state, MessageBuilder.stateUpdate({ eventType: "c", stateKey: "k", stateValue: {} }));
  assert.equal(store.load().eventTypes.length, 0);
  state[Symbol.dispose]();

  assert.throws(() => new DaemonState({ store, historyLimit: -1 }), RangeError);
  assert.throws(() => new DaemonState({ store, operationRetention: 1.5 }), RangeError);
  assert.throws(() => new DaemonState({ store, staleAfter: 0 }), RangeError);
  assert.throws(() => new DaemonState({ store, flushDelay: -5 }), RangeError);
  assert.equal(emptyBatch().history.length, 0);
});
