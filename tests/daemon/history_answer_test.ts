import assert from "node:assert/strict";
import { JsonText, stringifyWithin } from "../../daemon/_bounded_json.ts";
import { answerQuery, type QueryContext } from "../../daemon/_query_handler.ts";
import { DaemonState } from "../../daemon/_state.ts";
import { emptyBatch, MemoryStore } from "../../daemon/_store.ts";
import { type Message, MessageBuilder } from "../../protocol/mod.ts";

function context(state: DaemonState): QueryContext {
  return { state, maxResponseSize: 1 << 20, eventTypeInfo: () => [], daemonStatus: () => ({}) };
}

function historyRequest(eventType: string, parameters: Record<string, unknown>): Message {
  return {
    message_id: "q1",
    timestamp: "2026-12-01T10:00:00.000000",
    event_type: eventType,
    payload: { type: "query_request", query_type: "get_event_history", parameters },
  };
}

/** The answer's text as the query server writes it. */
function answerText(state: DaemonState, request: Message): string {
  const result = answerQuery(context(state), request);
  const response = MessageBuilder.queryResponse({ eventType: "t", queryId: "q1", result });
  return stringifyWithin(response, 1 << 20)!;
}

Deno.test("get_event_history answers with the stored texts, as the parsed history reads", () => {
  using state = new DaemonState({ store: new MemoryStore() });
  const names = [
    "plain",
    'quote " and \\ slash',
    "é ünïcode \u2028 line",
    "<b>&amp;</b>",
    "emoji 🎨",
  ];
  for (const [i, name] of names.entries()) {
    const message = {
      ...MessageBuilder.operationStarted({
        eventType: "t",
        operationId: `op${i}`,
        operationName: name,
      }),
      seq: i + 1,
    };
    state.record(message, JSON.stringify(message));
  }
  for (const parameters of [{ limit: 1000 }, { limit: 2 }, { after_seq: 3 }, { after_seq: 9 }]) {
    const options = {
      limit: (parameters as { limit?: number }).limit ?? 50,
      ...("after_seq" in parameters ? { afterSeq: parameters.after_seq } : {}),
    };
    const answer = JSON.parse(answerText(state, historyRequest("t", parameters)));
    assert.deepEqual(answer.payload.result, { ...state.history("t", options) });
  }
});

Deno.test("a history answer is JSON.stringify-able too: its stored text reads back through toJSON", () => {
  const text = new JsonText('[{"a":1},{"b":"é"}]');
  assert.equal(JSON.stringify({ events: text }), '{"events":[{"a":1},{"b":"é"}]}');
  assert.equal(stringifyWithin({ events: text }, 100), '{"events":[{"a":1},{"b":"é"}]}');
  assert.equal(stringifyWithin({ events: text }, 10), null);
});

Deno.test("stored history that is not a JSON object is removed before it is answered, with one warning, and counted", () => {
  const store = new MemoryStore();
  const batch = emptyBatch();
  const good = (seq: number): string =>
    JSON.stringify({
      ...MessageBuilder.stateUpdate({ eventType: "t", stateKey: "n", stateValue: { n: seq } }),
      seq,
    });
  batch.history.push(
    { event_type: "t", seq: 1, body: good(1) },
    { event_type: "t", seq: 2, body: '{"seq":2,"payload":{"ty' }, // A damaged row.
    { event_type: "t", seq: 3, body: "[3]" },
    { event_type: "t", seq: 4, body: good(4) },
  );
  store.write(batch);
  const warnings: string[] = [];
  using state = new DaemonState({ store, onWarning: (text) => warnings.push(text) });
  const first = JSON.parse(answerText(state, historyRequest("t", { limit: 10 })));
  assert.deepEqual(first.payload.result.events.map((e: { seq: number }) => e.seq), [1, 4]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /2 stored history entries of 't': expected JSON objects/);
  assert.equal(state.counters().history_entries_invalid, 2);
  // Checked once: a second answer neither warns nor counts again.
  const second = JSON.parse(answerText(state, historyRequest("t", { limit: 10 })));
  assert.deepEqual(second.payload.result.events.map((e: { seq: number }) => e.seq), [1, 4]);
  assert.equal(warnings.length, 1);
  // Newly routed messages follow the checked ones.
  const routed = {
    ...MessageBuilder.stateUpdate({ eventType: "t", stateKey: "n", stateValue: { n: 5 } }),
    seq: 5,
  };
  state.record(routed, JSON.stringify(routed));
  const third = JSON.parse(answerText(state, historyRequest("t", { after_seq: 1 })));
  assert.deepEqual(third.payload.result.events.map((e: { seq: number }) => e.seq), [4, 5]);
  assert.equal(state.counters().history_entries, 3);
});
