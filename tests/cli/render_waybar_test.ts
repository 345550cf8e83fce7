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

Deno.test("WaybarRenderer outputs the five documented keys, as JSON, in every class", () => {
  const r = new WaybarRenderer({ socketDir: "/tmp/s" });
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
    assert.deepEqual(keys(parsed), ["alt", "class", "percentage", "text", "tooltip"]);
    assert.equal(parsed.alt, parsed.class);
    assert.ok(Number.isInteger(parsed.percentage));
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
    alt: "failed",
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
  const r = new WaybarRenderer({ socketDir: "/run/x" });
  r.apply(msg("wp", { type: "operation_started", operation_id: "a", operation_name: "set" }));
  r.setConnected(false);
  const down = r.output();
  assert.equal(down.class, "disconnected");
  assert.match(down.tooltip, /\/run\/x/);
  r.setConnected(true);
  r.reset();
  assert.deepEqual(r.output(), {
    text: "",
    alt: "idle",
    tooltip: "",
    class: "idle",
    percentage: 0,
  });
});

Deno.test("WaybarRenderer escapes markup in text and tooltip", () => {
  const r = new WaybarRenderer();
  r.apply(
    msg("wp", { type: "operation_started", operation_id: "a", operation_name: "copy A & B <tmp>" }),
  );
  r.apply(
    msg("wp", { type: "operation_started", operation_id: "b", operation_name: "<b>BIG</b>" }),
  );
  const o = r.output();
  assert.equal(o.text, "&lt;b&gt;BIG&lt;/b&gt; +1");
  assert.equal(o.tooltip, "▶ copy A &amp; B &lt;tmp&gt;\n▶ &lt;b&gt;BIG&lt;/b&gt;");
  r.apply(
    msg("wp", {
      type: "operation_failed",
      operation_id: "b",
      error_code: "E<1>",
      error_message: "a&b",
    }),
  );
  r.apply(msg("wp", { type: "operation_completed", operation_id: "a", duration_seconds: 1 }));
  assert.equal(r.output().text, "✓ copy A &amp; B &lt;tmp&gt;");
  r.apply(
    msg("th", { type: "state_update", state_key: "k", state_value: { value: "<i>x</i> & y" } }),
  );
  r.reset();
  r.apply(
    msg("th", { type: "state_update", state_key: "k", state_value: { value: "<i>x</i> & y" } }),
  );
  assert.equal(r.output().text, "&lt;i&gt;x&lt;/i&gt; &amp; y");
  assert.equal(r.output().tooltip, "th k = &lt;i&gt;x&lt;/i&gt; &amp; y");
});

Deno.test("WaybarRenderer cuts long text after escaping without splitting an entity", () => {
  const r = new WaybarRenderer({ maxLength: 10 });
  // 8 plain characters, then '&' at the cut: "&amp;" must stay whole or go.
  r.apply(
    msg("wp", { type: "operation_started", operation_id: "a", operation_name: "12345678&<>rest" }),
  );
  const text = r.output().text;
  assert.equal(text, "12345678&amp;…");
  for (const name of ["&&&&&&&&&&&&&&&&", "<<<<<<<<<<<<<<", "a&b<c>d&e<f>g&h<i>j"]) {
    r.apply(msg("wp", { type: "operation_started", operation_id: "a", operation_name: name }));
    const cut = r.output().text;
    assert.match(cut, /^(?:[^&<>]|&amp;|&lt;|&gt;)*…$/, cut);
    const visible = cut.replace(/&(?:amp|lt|gt);/g, "x");
    assert.equal([...visible].length, 10);
  }
});

Deno.test("WaybarRenderer keeps text on one line and the tooltip one line per entry", () => {
  const r = new WaybarRenderer();
  r.apply(
    msg("wp", {
      type: "operation_started",
      operation_id: "a",
      operation_name: "two\nlines\r\nhere",
    }),
  );
  const o = r.output();
  assert.equal(o.text, "two lines here");
  assert.equal(o.tooltip, "▶ two lines here");
  r.apply(
    msg("wp", {
      type: "operation_failed",
      operation_id: "a",
      error_code: "E",
      error_message: "a\nb",
    }),
  );
  assert.equal(r.output().tooltip, "✗ two lines here E: a b");
  assert.ok(!r.output().text.includes("\n"));
});

Deno.test("WaybarRenderer emits alt as the state and an integer percentage", () => {
  const r = new WaybarRenderer();
  assert.equal(r.output().alt, "idle");
  r.apply(msg("wp", { type: "operation_started", operation_id: "a", operation_name: "set" }));
  r.apply(msg("wp", {
    type: "operation_progress",
    operation_id: "a",
    step_id: "s",
    step_progress: 1,
    overall_progress: 33.5,
  }));
  assert.deepEqual([r.output().alt, r.output().percentage], ["running", 34]);
  r.apply(msg("wp", { type: "operation_completed", operation_id: "a", duration_seconds: 0 }));
  assert.equal(r.output().alt, "completed");
  r.setConnected(false);
  assert.equal(r.output().alt, "disconnected");
});

Deno.test("WaybarRenderer shows the chosen state key through a template, and the idle text before it", () => {
  const r = new WaybarRenderer({
    stateKey: "current",
    stateText: "{name} ({dark})",
    idleText: "no theme",
  });
  assert.equal(r.output().text, "no theme");
  r.apply(
    msg("theme", {
      type: "state_update",
      state_key: "current",
      state_value: { name: "nord", dark: true },
    }),
  );
  assert.equal(r.output().text, "nord (true)");
  r.apply(msg("theme", { type: "state_update", state_key: "other", state_value: { value: 1 } }));
  assert.equal(r.output().text, "nord (true)");
  const plain = new WaybarRenderer({ stateKey: "current" });
  plain.apply(
    msg("theme", { type: "state_update", state_key: "other", state_value: { value: 1 } }),
  );
  assert.equal(plain.output().text, "");
  plain.apply(
    msg("theme", { type: "state_update", state_key: "current", state_value: { value: "dark" } }),
  );
  assert.equal(plain.output().text, "dark");
  const nested = new WaybarRenderer({ stateText: "{colors.bg} {{x}} {missing}|{}" });
  nested.apply(
    msg("t", { type: "state_update", state_key: "k", state_value: { colors: { bg: "#000" } } }),
  );
  assert.equal(nested.output().text, `#000 {x} |{"colors":{"bg":"#000"}}`);
});
