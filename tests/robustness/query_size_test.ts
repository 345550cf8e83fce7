/**
 * Item 3c of issue 12: a query whose answer would be over max_message_size
 * gets an error naming the limit and how to ask for less, on a connection
 * that stays open, and costs about the limit to find out.
 *
 * @module
 */

import assert from "node:assert/strict";
import { RawClient } from "../_helpers.ts";
import { counters, type Obj, startDaemon, until } from "./_fixture.ts";

const KEYS = 30;
const VALUE = "v".repeat(100 * 1024);

Deno.test(`get_current_state over ${KEYS} keys of 100 KiB (3 MiB, limit 1 MiB) answers with an error naming the limit and state_key, and the connection goes on`, async () => {
  await using d = await startDaemon({ historyLimit: 100 });
  using pub = await RawClient.connect(d.sock("command.sock"));
  for (let i = 0; i < KEYS; i++) {
    await pub.send({
      event_type: "big",
      payload: { type: "state_update", state_key: `k${i}`, state_value: { v: VALUE } },
    });
  }
  await until(
    async () => ((await counters(d.sock("query.sock"))).messages_routed as number) >= KEYS,
    "the state updates",
  );
  using q = await RawClient.connect(d.sock("query.sock"));
  const started = performance.now();
  const all = (await q.query("get_current_state", "big")).payload as Obj;
  const ms = performance.now() - started;
  // deno-lint-ignore no-console
  console.log(`a 3 MiB get_current_state refused in ${ms.toFixed(1)} ms`);
  assert.equal(all.type, "query_response");
  assert.match(String(all.error), /largest answer \(max_message_size, 1048576 bytes\).*state_key/);
  assert.deepEqual(all.result, {});
  for (const type of ["*"]) {
    const every = (await q.query("get_current_state", type)).payload as Obj;
    assert.match(String(every.error), /max_message_size/);
  }
  // Asking for less works, on the same connection.
  const one = (await q.query("get_current_state", "big", { state_key: "k7" })).payload as Obj;
  assert.equal(one.error, undefined);
  assert.equal((((one.result as Obj).state as Obj).k7 as Obj).v, VALUE);
  const history = (await q.query("get_event_history", "big", { limit: 100 })).payload as Obj;
  assert.match(String(history.error), /max_message_size.*smaller parameters\.limit/);
  const fewer = (await q.query("get_event_history", "big", { limit: 5 })).payload as Obj;
  assert.equal(((fewer.result as Obj).events as Obj[]).length, 5);
  const c = await counters(d.sock("query.sock"));
  assert.equal(c.query_responses_too_large, 3);
});
