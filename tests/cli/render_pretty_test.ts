import assert from "node:assert/strict";
import { PrettyRenderer } from "../../cli/_render_pretty.ts";
import { formatDuration, formatElapsed, formatValue } from "../../cli/_format.ts";
import type { Message } from "../../protocol/mod.ts";

const T0 = Date.parse("2026-01-01T10:00:00.000Z");

function msg(type: string, payload: Record<string, unknown>, at = 0): Message {
  return {
    message_id: crypto.randomUUID(),
    timestamp: new Date(T0 + at).toISOString(),
    event_type: type,
    payload: payload as Message["payload"],
  };
}

const started = msg("wallpaper", {
  type: "operation_started",
  operation_id: "w1",
  operation_name: "set wallpaper",
});
const progress = msg("wallpaper", {
  type: "operation_progress",
  operation_id: "w1",
  step_id: "resize",
  step_progress: 50,
  overall_progress: 40,
}, 2000);
const completed = msg("wallpaper", {
  type: "operation_completed",
  operation_id: "w1",
  duration_seconds: 2.5,
}, 2500);

Deno.test("PrettyRenderer draws one bar per running operation with name, percent, step and elapsed", () => {
  const r = new PrettyRenderer();
  assert.deepEqual(r.apply(started), []);
  assert.deepEqual(r.apply(progress), []);
  const frame = r.frame({ now: T0 + 12_000, width: 80, barWidth: 10 });
  assert.equal(frame, "[wallpaper] set wallpaper  ████░░░░░░  40% resize 12s");
});

Deno.test("PrettyRenderer prints a finished operation as one ✓ line with its duration and drops its bar", () => {
  const r = new PrettyRenderer();
  for (const m of [started, progress]) r.apply(m);
  assert.deepEqual(r.apply(completed), ["[wallpaper] ✓ set wallpaper 2.5s"]);
  assert.equal(r.frame({ now: T0 }), "");
  assert.equal(r.operations.length, 0);
});

Deno.test("PrettyRenderer prints a failed operation with ✗, its elapsed time and the error", () => {
  const r = new PrettyRenderer();
  r.apply(started);
  const failed = msg("wallpaper", {
    type: "operation_failed",
    operation_id: "w1",
    error_code: "E_IO",
    error_message: "disk full",
  }, 61_000);
  assert.deepEqual(r.apply(failed), ["[wallpaper] ✗ set wallpaper 1m01s  E_IO: disk full"]);
});

Deno.test("PrettyRenderer colours the marks only when asked", () => {
  const r = new PrettyRenderer({ color: true });
  r.apply(started);
  assert.deepEqual(r.apply(completed), ["[wallpaper] \x1b[32m✓\x1b[39m set wallpaper 2.5s"]);
});

Deno.test("PrettyRenderer prints state updates as key = value", () => {
  const r = new PrettyRenderer();
  const lines = [
    ...r.apply(
      msg("theme", { type: "state_update", state_key: "current", state_value: { name: "nord" } }),
    ),
    ...r.apply(
      msg("volume", { type: "state_update", state_key: "level", state_value: { value: 42 } }),
    ),
  ];
  assert.deepEqual(lines, ['[theme] current = {"name":"nord"}', "[volume] level = 42"]);
});

Deno.test("PrettyRenderer keeps operations of different types apart and tolerates progress without a start", () => {
  const r = new PrettyRenderer();
  r.apply(started);
  r.apply(msg("backup", {
    type: "operation_progress",
    operation_id: "w1",
    step_id: "copy",
    step_progress: 10,
    overall_progress: 5,
    step_name: null,
  }, 1000));
  const lines = r.frame({ now: T0 + 3000, barWidth: 4 }).split("\n");
  assert.deepEqual(lines, [
    "[wallpaper] set wallpaper  ░░░░  --% 3s",
    "[backup] w1  ░░░░   5% copy 2s",
  ]);
});

Deno.test("PrettyRenderer frame lines never exceed the terminal width", () => {
  const r = new PrettyRenderer();
  r.apply(msg("wallpaper", {
    type: "operation_started",
    operation_id: "x",
    operation_name: "a very long operation name ".repeat(5),
  }));
  for (const width of [20, 40, 80]) {
    const line = r.frame({ now: T0, width });
    assert.ok(Array.from(line).length <= width, `${width}: ${line}`);
  }
});

Deno.test("PrettyRenderer plain mode prints one line per message, starts and progress included", () => {
  const r = new PrettyRenderer();
  const lines = [started, progress, completed].flatMap((m) => r.plain(m));
  assert.deepEqual(lines, [
    "[wallpaper] ▶ set wallpaper started",
    "[wallpaper] set wallpaper 40% resize",
    "[wallpaper] ✓ set wallpaper 2.5s",
  ]);
});

Deno.test("PrettyRenderer reads Python timestamps without offset or with microseconds", () => {
  const r = new PrettyRenderer();
  r.apply({ ...started, timestamp: "2026-01-01T10:00:00.123456" });
  const startedAt = r.operations[0]!.startedAt!;
  assert.equal(startedAt, new Date(2026, 0, 1, 10, 0, 0, 123).getTime());
});

Deno.test("formatDuration and formatElapsed read well at every scale", () => {
  assert.equal(formatDuration(0.42), "0.4s");
  assert.equal(formatDuration(12.7), "12s");
  assert.equal(formatDuration(185), "3m05s");
  assert.equal(formatDuration(3720), "1h02m");
  assert.equal(formatDuration(90000), "1d01h");
  assert.equal(formatElapsed(4999), "4s");
  assert.equal(formatElapsed(-5), "0s");
  assert.equal(formatValue("x".repeat(10), 5), "xxxx…");
});
