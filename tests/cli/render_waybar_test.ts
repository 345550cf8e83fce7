import assert from "node:assert/strict";
import { WaybarRenderer } from "../../cli/_render_waybar.ts";
import type { Message } from "../../protocol/mod.ts";

function msg(type: string, payload: Record<string, unknown>): Message {
  return {
    message_id: crypto.randomUUID(),
    timestamp: new Date().toISOString(),
    event_type: type,
    payload: payload as Message["payload"],
  };
}

function keys(value: object): string[] {
  return Object.keys(value).sort();
}

Deno.test("WaybarRenderer outputs the four documented keys, as JSON, in every class", () => {
  const r = new WaybarRenderer("/tmp/s");
  const outputs = [r.output()];
  r.apply(msg("wp", { type: "operation_started", operation_id: "a", operation_name: "set" }));
  outputs.push(r.output());
  r.apply(msg("wp", { type: "operation_completed", operation_id: "a", duration_seconds: 1 }));
  outputs.push(r.output());
  r.setConnected(false);
  outputs.push(r.output());
  assert.deepEqual(outputs.map((o) => o.class), ["idle", "running", "completed", "disconnected"]);
  for (const o of outputs) {
    const parsed = JSON.parse(JSON.stringify(o));
    assert.deepEqual(keys(parsed), ["class", "percentage", "text", "tooltip"]);
    assert.equal(typeof parsed.text, "string");
    assert.equal(typeof parsed.tooltip, "string");
    assert.equal(typeof parsed.percentage, "number");
  }
});

Deno.test("WaybarRenderer shows the newest running operation with its percentage and a count of the others", () => {
  const r = new WaybarRenderer();
  r.apply(
    msg("wp", { type: "operation_started", operation_id: "a", operation_name: "set wallpaper" }),
  );
  r.apply(msg("bk", { type: "operation_started", operation_id: "b", operation_name: "backup" }));
  r.apply(msg("bk", {
    type: "operation_progress",
    operation_id: "b",
    step_id: "copy",
    step_progress: 10,
    overall_progress: 62.4,
  }));
  const o = r.output();
  assert.equal(o.class, "running");
  assert.equal(o.text, "backup 62% +1");
  assert.equal(o.percentage, 62);
  assert.match(o.tooltip, /▶ set wallpaper/);
  assert.match(o.tooltip, /▶ backup 62% \(copy\)/);
});

Deno.test("WaybarRenderer shows a failure until the next operation", () => {
  const r = new WaybarRenderer();
  r.apply(msg("wp", { type: "operation_started", operation_id: "a", operation_name: "set" }));
  r.apply(msg("wp", {
    type: "operation_failed",
    operation_id: "a",
    error_code: "E_IO",
    error_message: "disk full",
  }));
  assert.deepEqual(r.output(), {
    text: "✗ set",
    tooltip: "✗ set E_IO: disk full",
    class: "failed",
    percentage: 0,
  });
  r.apply(msg("wp", { type: "operation_started", operation_id: "b", operation_name: "again" }));
  assert.equal(r.output().class, "running");
});

Deno.test("WaybarRenderer shows the latest state value when idle and every key in the tooltip", () => {
  const r = new WaybarRenderer();
  r.apply(
    msg("theme", { type: "state_update", state_key: "current", state_value: { value: "nord" } }),
  );
  r.apply(msg("volume", { type: "state_update", state_key: "level", state_value: { value: 42 } }));
  const o = r.output();
  assert.equal(o.class, "idle");
  assert.equal(o.text, "42");
  assert.equal(o.tooltip, "theme current = nord\nvolume level = 42");
});

Deno.test("WaybarRenderer reset forgets state and operations but the disconnected class wins while down", () => {
  const r = new WaybarRenderer("/run/x");
  r.apply(msg("wp", { type: "operation_started", operation_id: "a", operation_name: "set" }));
  r.setConnected(false);
  const down = r.output();
  assert.equal(down.class, "disconnected");
  assert.match(down.tooltip, /\/run\/x/);
  r.setConnected(true);
  r.reset();
  assert.deepEqual(r.output(), { text: "", tooltip: "", class: "idle", percentage: 0 });
});
