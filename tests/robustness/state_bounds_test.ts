/**
 * Item 3b of issue 12: state value size, state bytes per event type and
 * history bytes per event type are bounded, not only counts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { RawClient } from "../_helpers.ts";
import { counters, type Obj, startDaemon, until } from "./_fixture.ts";

function stateUpdate(key: string, size: number): Obj {
  return {
    event_type: "s",
    payload: { type: "state_update", state_key: key, state_value: { v: "x".repeat(size) } },
  };
}

Deno.test("A state value over --max-state-value is dropped and counted (the default refuses the 1 MiB values of the attack)", async () => {
  await using d = await startDaemon();
  using pub = await RawClient.connect(d.sock("command.sock"));
  await pub.send(stateUpdate("big", 300 * 1024), stateUpdate("small", 10));
  await until(
    async () => ((await counters(d.sock("query.sock"))).messages_in as number) >= 2,
    "both messages",
  );
  const c = await counters(d.sock("query.sock"));
  assert.equal((c.bad_frames as Obj).state_value_too_large, 1);
  assert.equal(c.messages_routed, 1);
  using q = await RawClient.connect(d.sock("query.sock"));
  const state = (((await q.query("get_current_state", "s")).payload as Obj).result as Obj)
    .state as Obj;
  assert.deepEqual(Object.keys(state), ["small"]);
});

Deno.test("State bytes per event type: past --max-state-bytes a new key is refused, while replacing a key with a smaller value goes on", async () => {
  await using d = await startDaemon({ maxStateValueSize: 64 * 1024, maxStateBytes: 256 * 1024 });
  using pub = await RawClient.connect(d.sock("command.sock"));
  for (let i = 0; i < 5; i++) await pub.send(stateUpdate(`k${i}`, 60 * 1024));
  await pub.send(stateUpdate("k0", 10), stateUpdate("k4", 30 * 1024));
  await until(
    async () => ((await counters(d.sock("query.sock"))).messages_in as number) >= 7,
    "the messages",
  );
  const c = await counters(d.sock("query.sock"));
  assert.equal((c.bad_frames as Obj).state_bytes_exceeded, 1, JSON.stringify(c.bad_frames));
  using q = await RawClient.connect(d.sock("query.sock"));
  const state = (((await q.query("get_current_state", "s")).payload as Obj).result as Obj)
    .state as Obj;
  assert.deepEqual(Object.keys(state).sort(), ["k0", "k1", "k2", "k3", "k4"]);
  assert.equal(((state.k0 as Obj).v as string).length, 10);
});

Deno.test("History bytes per event type: past --history-bytes the oldest are dropped, as past the count", async () => {
  await using d = await startDaemon({ historyBytes: 512 * 1024 });
  using pub = await RawClient.connect(d.sock("command.sock"));
  for (let i = 0; i < 20; i++) {
    await pub.send({
      event_type: "h",
      payload: { type: "operation_progress", operation_id: "o", pad: "p".repeat(60 * 1024) },
    });
  }
  await until(
    async () => ((await counters(d.sock("query.sock"))).messages_routed as number) >= 20,
    "the messages",
  );
  using q = await RawClient.connect(d.sock("query.sock"));
  const history = ((await q.query("get_event_history", "h", { limit: 100 })).payload as Obj)
    .result as Obj;
  const events = history.events as Obj[];
  assert.ok(events.length >= 7 && events.length <= 8, `${events.length} kept`);
  assert.equal(events.at(-1)!.seq, 20, "the newest is kept");
  assert.equal(history.oldest_seq, 20 - events.length + 1);
});
