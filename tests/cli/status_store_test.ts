import assert from "node:assert/strict";
import { formatStatus } from "../../cli/_query.ts";
import type { DaemonStatusResult } from "../../protocol/mod.ts";

const base: DaemonStatusResult = {
  version: "0.1.0",
  pid: 42,
  uptime_seconds: 5,
  socket_dir: "/s",
  state_dir: "/t",
  counters: {},
};

Deno.test("status says nothing about a store that works, and one line while it fails", () => {
  const ok = formatStatus(
    {
      ...base,
      store: { ok: true, error: null, failing_since: null, failed_writes: 0, seqs_saved: true },
    },
    { event_types: [] },
    0,
  );
  assert.doesNotMatch(ok, /STORE/);
  const failing = formatStatus(
    {
      ...base,
      store: {
        ok: false,
        error: "database or disk is full",
        failing_since: "2026-12-01T09:00:00.000Z",
        failed_writes: 12,
        seqs_saved: true,
      },
    },
    { event_types: [] },
    0,
  );
  assert.match(
    failing,
    /STORE FAILING since 2026-12-01T09:00:00.000Z \(12 failed writes\): database or disk is full; routing goes on/,
  );
  const held = formatStatus(
    {
      ...base,
      store: {
        ok: false,
        error: "disk I/O error",
        failing_since: "x",
        failed_writes: 1,
        seqs_saved: false,
      },
    },
    { event_types: [] },
    0,
  );
  assert.match(held, /NOT ROUTING/);
  // An older daemon's status has no store field.
  assert.doesNotMatch(formatStatus(base, { event_types: [] }, 0), /STORE/);
});
