import assert from "node:assert/strict";
import {
  encodeFrame,
  FrameDecoderStream,
  type Message,
  MessageBuilder,
  parseMessage,
  validatePayload,
} from "../../protocol/mod.ts";

async function roundTrip(message: Message): Promise<Message> {
  const bodies = ReadableStream.from([encodeFrame(message)]).pipeThrough(new FrameDecoderStream());
  const out: Message[] = [];
  for await (const body of bodies) {
    const parsed = parseMessage(body);
    assert.ok(parsed.ok, parsed.ok ? "" : parsed.error.message);
    const typed = validatePayload(parsed.message);
    assert.ok(typed.ok, typed.ok ? "" : typed.error.message);
    out.push(parsed.message);
  }
  assert.equal(out.length, 1);
  return out[0]!;
}

const builders: [string, () => Message, Record<string, unknown>][] = [
  ["operationStarted", () =>
    MessageBuilder.operationStarted({
      eventType: "wallpaper",
      operationId: "op-1",
      operationName: "change",
      parameters: { path: "/w.png" },
    }), {
    type: "operation_started",
    operation_id: "op-1",
    operation_name: "change",
    parameters: { path: "/w.png" },
  }],
  ["operationProgress", () =>
    MessageBuilder.operationProgress({
      eventType: "wallpaper",
      operationId: "op-1",
      stepId: "resize",
      stepProgress: 50,
      overallProgress: 25,
      stepName: "Resize",
      totalSteps: 4,
      currentStep: 2,
    }), {
    type: "operation_progress",
    operation_id: "op-1",
    step_id: "resize",
    step_progress: 50,
    overall_progress: 25,
    step_name: "Resize",
    total_steps: 4,
    current_step: 2,
  }],
  ["operationCompleted", () =>
    MessageBuilder.operationCompleted({
      eventType: "wallpaper",
      operationId: "op-1",
      durationSeconds: 1.5,
      result: { ok: true },
    }), {
    type: "operation_completed",
    operation_id: "op-1",
    duration_seconds: 1.5,
    result: { ok: true },
  }],
  ["operationFailed", () =>
    MessageBuilder.operationFailed({
      eventType: "wallpaper",
      operationId: "op-1",
      errorCode: "ENOENT",
      errorMessage: "missing",
      stepId: "load",
      traceback: "tb",
    }), {
    type: "operation_failed",
    operation_id: "op-1",
    error_code: "ENOENT",
    error_message: "missing",
    step_id: "load",
    traceback: "tb",
  }],
  [
    "stateUpdate",
    () =>
      MessageBuilder.stateUpdate({
        eventType: "theme",
        stateKey: "current",
        stateValue: { name: "dark" },
      }),
    {
      type: "state_update",
      state_key: "current",
      state_value: { name: "dark" },
    },
  ],
  [
    "queryRequest",
    () =>
      MessageBuilder.queryRequest({
        eventType: "daemon",
        queryType: "list_event_types",
        parameters: {},
      }),
    {
      type: "query_request",
      query_type: "list_event_types",
      parameters: {},
    },
  ],
  [
    "queryResponse",
    () =>
      MessageBuilder.queryResponse({
        eventType: "daemon",
        queryId: "q1",
        result: { a: 1 },
        error: "bad",
      }),
    {
      type: "query_response",
      query_id: "q1",
      result: { a: 1 },
      error: "bad",
    },
  ],
];

for (const [name, build, payload] of builders) {
  Deno.test(`MessageBuilder.${name}() survives encode, decode and validate with snake_case fields`, async () => {
    const message = build();
    assert.match(
      message.message_id,
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.ok(!Number.isNaN(Date.parse(message.timestamp)));
    assert.deepEqual(message.payload, payload);
    const back = await roundTrip(message);
    assert.deepEqual(back, message);
    const wire = JSON.stringify(message);
    assert.doesNotMatch(wire, /[a-z][A-Z]/, "no camelCase key on the wire");
  });
}

Deno.test("MessageBuilder.operationProgress() names the field and range when progress is out of range", () => {
  assert.throws(
    () =>
      MessageBuilder.operationProgress({
        eventType: "w",
        operationId: "o",
        stepId: "s",
        stepProgress: 150,
        overallProgress: 0,
      }),
    (error: unknown) => {
      assert.ok(error instanceof RangeError);
      assert.match(error.message, /'stepProgress'/);
      assert.match(error.message, /0 to 100/);
      assert.match(error.message, /150/);
      return true;
    },
  );
});

Deno.test("MessageBuilder rejects a missing required field with a TypeError naming it", () => {
  assert.throws(
    () => MessageBuilder.operationStarted({ eventType: "w", operationId: "o" } as never),
    (error: unknown) => error instanceof TypeError && /'operationName'/.test(error.message),
  );
  assert.throws(
    () => MessageBuilder.stateUpdate({ eventType: "", stateKey: "k", stateValue: {} }),
    /'eventType'/,
  );
});

Deno.test("MessageBuilder keeps extra payload fields without letting them override typed ones", () => {
  const m = MessageBuilder.stateUpdate({
    eventType: "wallpaper",
    stateKey: "current",
    stateValue: {},
    extra: { monitor: "DP-1", state_key: "ignored" },
  });
  assert.equal(m.payload.monitor, "DP-1");
  assert.equal(m.payload.state_key, "current");
});
