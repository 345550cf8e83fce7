import assert from "node:assert/strict";
import { DaemonPublisher } from "../../publisher/mod.ts";
import { MessageBuilder } from "../../protocol/mod.ts";
import { until, withTmpDir } from "../_helpers.ts";
import { FakeCommandServer } from "./_fake_command_server.ts";

function progress(i: number): Record<string, unknown> {
  return MessageBuilder.operationProgress({
    eventType: "wallpaper",
    operationId: "op-1",
    stepId: "step",
    stepProgress: i % 101,
    overallProgress: i % 101,
    extra: { n: i },
  });
}

Deno.test("DaemonPublisher returns false at once when no daemon runs, warning once", async () => {
  await using dir = await withTmpDir();
  const warnings: string[] = [];
  await using publisher = new DaemonPublisher({
    socketDir: dir.path,
    connectionTimeout: 30_000,
    retryInterval: 60_000,
    onWarning: (t) => warnings.push(t),
  });
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: 1000 }, (_, i) => publisher.publish(progress(i))),
  );
  for (let i = 0; i < 1000; i++) assert.equal(await publisher.publish(progress(i)), false);
  // Far below one connection timeout: no call waits for anything.
  assert.ok(performance.now() - started < 5000);
  assert.ok(results.every((ok) => ok === false));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /command\.sock/);
  assert.equal(publisher.connected, false);
  assert.equal(await publisher.connect(), false);
});

Deno.test("DaemonPublisher reaches a daemon that starts later", async () => {
  await using dir = await withTmpDir();
  const warnings: string[] = [];
  await using publisher = new DaemonPublisher({
    socketDir: dir.path,
    retryInterval: 30,
    onWarning: (t) => warnings.push(t),
  });
  assert.equal(await publisher.publish(progress(0)), false);
  await using server = FakeCommandServer.start(dir.path);
  // Within the retry interval publish returns false at once, sending nothing; then it connects.
  await until(() => publisher.publish(progress(1)), "a publish reaching the daemon");
  assert.equal(publisher.connected, true);
  await server.waitFor(1);
  assert.equal((server.messages[0]!.payload as Record<string, unknown>).n, 1);
  assert.equal(warnings.length, 1);
});

Deno.test("DaemonPublisher reconnects after the daemon restarts mid-stream", async () => {
  await using dir = await withTmpDir();
  const warnings: string[] = [];
  await using publisher = new DaemonPublisher({
    socketDir: dir.path,
    retryInterval: 20,
    onWarning: (t) => warnings.push(t),
  });
  const first = FakeCommandServer.start(dir.path);
  for (let i = 0; i < 10; i++) assert.equal(await publisher.publish(progress(i)), true);
  await first.waitFor(10);
  await first.stop();
  // Down: false, one warning.
  assert.equal(await publisher.publish(progress(10)), false);
  assert.equal(await publisher.publish(progress(11)), false);
  await using second = FakeCommandServer.start(dir.path);
  await until(() => publisher.publish(progress(12)), "a publish reaching the new daemon");
  for (let i = 13; i < 22; i++) assert.equal(await publisher.publish(progress(i)), true);
  await second.waitFor(10);
  assert.deepEqual(
    second.messages.map((m) => (m.payload as Record<string, unknown>).n),
    Array.from({ length: 10 }, (_, i) => i + 12),
  );
  assert.equal(warnings.length, 1);
});

Deno.test("DaemonPublisher retries once on a new connection when the old one broke", async () => {
  await using dir = await withTmpDir();
  const warnings: string[] = [];
  await using server = FakeCommandServer.start(dir.path);
  await using publisher = new DaemonPublisher({
    socketDir: dir.path,
    onWarning: (t) => warnings.push(t),
  });
  assert.equal(await publisher.publish(progress(0)), true);
  await server.waitFor(1);
  // The daemon drops the connection (as on restart): the next publish finds
  // it broken or already closed and sends on a new one, without a warning.
  await server.dropConnections();
  for (let i = 1; i <= 5; i++) assert.equal(await publisher.publish(progress(i)), true);
  await server.waitFor(6);
  assert.deepEqual(server.messages.map((m) => (m.payload as Record<string, unknown>).n), [
    0,
    1,
    2,
    3,
    4,
    5,
  ]);
  assert.equal(server.accepted, 2);
  assert.deepEqual(warnings, []);
});

Deno.test("DaemonPublisher returns false within connectionTimeout when the daemon stops reading", async () => {
  await using dir = await withTmpDir();
  const warnings: string[] = [];
  await using _server = FakeCommandServer.start(dir.path, { read: false });
  await using publisher = new DaemonPublisher({
    socketDir: dir.path,
    connectionTimeout: 200,
    retryInterval: 60_000,
    maxMessageSize: 1024 * 1024,
    onWarning: (t) => warnings.push(t),
  });
  const big = {
    event_type: "backup",
    payload: { type: "custom", data: "x".repeat(32 * 1024) },
  };
  let refusedAfter = -1;
  let slowest = 0;
  for (let i = 0; i < 100; i++) {
    const started = performance.now();
    const ok = await publisher.publish(big);
    slowest = Math.max(slowest, performance.now() - started);
    if (!ok) {
      refusedAfter = i;
      break;
    }
  }
  assert.ok(refusedAfter > 0, "the kernel buffer takes a few messages, then the write blocks");
  // Bounded by connectionTimeout (200 ms) plus scheduling slack.
  assert.ok(slowest < 2000, `publish held its caller ${slowest} ms`);
  assert.equal(publisher.connected, false);
  // Within the retry interval: false again, at once, no second warning.
  assert.equal(await publisher.publish(big), false);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /did not read/);
});

Deno.test("DaemonPublisher keeps publish order over 10k messages", async () => {
  await using dir = await withTmpDir();
  await using server = FakeCommandServer.start(dir.path);
  await using publisher = new DaemonPublisher({ socketDir: dir.path, onWarning: () => {} });
  assert.equal(await publisher.connect(), true);
  const pending: Promise<boolean>[] = [];
  for (let i = 0; i < 5000; i++) pending.push(publisher.publish(progress(i)));
  for (let i = 5000; i < 10_000; i++) {
    if (i % 2 === 0) pending.push(publisher.publish(progress(i)));
    else assert.equal(await publisher.publish(progress(i)), true);
  }
  assert.ok((await Promise.all(pending)).every((ok) => ok));
  await server.waitFor(10_000);
  const order = server.messages.map((m) => (m.payload as Record<string, unknown>).n);
  assert.deepEqual(order, Array.from({ length: 10_000 }, (_, i) => i));
});

Deno.test("DaemonPublisher fills in message_id and timestamp and refuses invalid envelopes", async () => {
  await using dir = await withTmpDir();
  await using server = FakeCommandServer.start(dir.path);
  const warnings: string[] = [];
  await using publisher = new DaemonPublisher({
    socketDir: dir.path,
    maxMessageSize: 1000,
    onWarning: (t) => warnings.push(t),
  });
  assert.equal(await publisher.publish({ event_type: "theme", payload: { type: "custom" } }), true);
  assert.equal(await publisher.publish({ event_type: "theme", payload: {} }), false);
  assert.equal(
    await publisher.publish({
      event_type: "theme",
      timestamp: "yesterday",
      payload: { type: "x" },
    }),
    false,
  );
  assert.equal(await publisher.publish({ event_type: "../x", payload: { type: "x" } }), false);
  assert.equal(
    await publisher.publish({ event_type: "theme", payload: { type: "x", pad: "y".repeat(2000) } }),
    false,
  );
  assert.equal(await publisher.publish(null as unknown as object), false);
  assert.equal(warnings.length, 5);
  assert.match(warnings[0]!, /payload\.type/);
  assert.match(warnings[1]!, /timestamp/);
  assert.match(warnings[2]!, /event_type/);
  assert.match(warnings[3]!, /maxMessageSize/);
  await server.waitFor(1);
  const [sent] = server.messages;
  assert.match(sent!.message_id as string, /^[0-9a-f-]{36}$/);
  assert.equal(typeof sent!.timestamp, "string");
  assert.equal(server.messages.length, 1);
});

Deno.test("DaemonPublisher.close() flushes queued messages and later publishes return false", async () => {
  await using dir = await withTmpDir();
  await using server = FakeCommandServer.start(dir.path);
  const warnings: string[] = [];
  const publisher = new DaemonPublisher({
    socketDir: dir.path,
    onWarning: (t) => warnings.push(t),
  });
  const pending = Array.from({ length: 100 }, (_, i) => publisher.publish(progress(i)));
  await publisher.close();
  assert.ok((await Promise.all(pending)).every((ok) => ok));
  await server.waitFor(100);
  assert.equal(await publisher.publish(progress(100)), false);
  assert.equal(await publisher.publish(progress(101)), false);
  assert.equal(warnings.length, 1);
  await publisher.close();
  assert.equal(publisher.connected, false);
});

Deno.test("DaemonPublisher stops publishing when its signal aborts, ending a write in flight", async () => {
  await using dir = await withTmpDir();
  // Reads the start of the first message, then nothing more.
  await using server = FakeCommandServer.start(dir.path, { readLimit: 64 * 1024 });
  const controller = new AbortController();
  await using publisher = new DaemonPublisher({
    socketDir: dir.path,
    signal: controller.signal,
    // Far beyond the test: only the abort can end the blocked write.
    connectionTimeout: 600_000,
    onWarning: () => {},
  });
  assert.equal(await publisher.connect(), true);
  const big = { event_type: "a", payload: { type: "x", data: "z".repeat(512 * 1024) } };
  const pending = Array.from({ length: 8 }, () => publisher.publish(big));
  // Once the daemon side has read 64 KiB of the first 512 KiB frame and reads no more,
  // the rest of that frame cannot all fit in the socket buffer: its write is in flight.
  await server.waitForBytes(64 * 1024);
  controller.abort();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const results = await Promise.race([
    Promise.all(pending),
    new Promise<"blocked">((resolve) => timer = setTimeout(() => resolve("blocked"), 10_000)),
  ]).finally(() => clearTimeout(timer));
  // Unblock the write, so that a failing run ends instead of hanging on dispose.
  if (results === "blocked") await server.dropConnections();
  assert.notEqual(results, "blocked", "the abort did not end the write in flight");
  assert.deepEqual(results, Array(8).fill(false));
  assert.equal(await publisher.publish(big), false);
  assert.equal(publisher.connected, false);
});

Deno.test("DaemonPublisher validates its options", () => {
  assert.throws(() => new DaemonPublisher({ socketDir: "/x", connectionTimeout: 0 }), RangeError);
  assert.throws(() => new DaemonPublisher({ socketDir: "/x", retryInterval: -1 }), RangeError);
  assert.throws(() => new DaemonPublisher({ socketDir: "/x", maxMessageSize: NaN }), RangeError);
});
