import assert from "node:assert/strict";
import { subscribe, subscribeAll, type SubscriptionEvent } from "../../monitor/mod.ts";
import { DaemonPublisher } from "../../publisher/mod.ts";
import type { Message } from "../../protocol/mod.ts";
import { type Running, startDaemon } from "../_daemon.ts";
import { RawClient, rawFrame, withTmpDir, writeAll } from "../_helpers.ts";

function custom(eventType: string, n: number): Record<string, unknown> {
  return { event_type: eventType, payload: { type: "custom", n } };
}

/**
 * The one harness's daemon on `socketDir`, persisting to `stateDir`: a
 * daemon started again on the same dirs keeps its history and seqs.
 */
function startOn(socketDir: string, stateDir: string, historyLimit?: number): Promise<Running> {
  return startDaemon({
    socketDir,
    stateDir,
    persist: true,
    logLevel: "error",
    ...(historyLimit !== undefined ? { historyLimit } : {}),
  });
}

/** Collects `n` items of an async iterator, with a deadline. */
async function take<T>(it: AsyncIterator<T>, n: number, timeoutMs = 5000): Promise<T[]> {
  const out: T[] = [];
  const deadline = AbortSignal.timeout(timeoutMs);
  while (out.length < n) {
    const next = await Promise.race([
      it.next(),
      new Promise<never>((_, reject) => {
        if (deadline.aborted) reject(new Error(`timed out after ${out.length} of ${n}`));
        deadline.addEventListener(
          "abort",
          () => reject(new Error(`timed out after ${out.length} of ${n}`)),
          { once: true },
        );
      }),
    ]);
    if (next.done) break;
    out.push(next.value);
  }
  return out;
}

function n(message: Message): unknown {
  return message.payload.n;
}

Deno.test("subscribe delivers messages across a daemon restart once, in seq order", async () => {
  await using sockets = await withTmpDir();
  await using state = await withTmpDir();
  let daemon = await startOn(sockets.path, state.path);
  await using publisher = new DaemonPublisher({
    socketDir: sockets.path,
    retryInterval: 10,
    onWarning: () => {},
  });
  using subscription = subscribe("wallpaper", { socketDir: sockets.path, reconnectDelay: 20 });
  const events = subscription.events()[Symbol.asyncIterator]();
  // The type has no socket yet: the first message must still arrive.
  const [first] = await take(events, 1);
  assert.deepEqual(first, { type: "connected" });
  assert.equal(await publisher.publish(custom("wallpaper", 1)), true);
  assert.equal(await publisher.publish(custom("wallpaper", 2)), true);
  const got = await take(events, 2);
  assert.deepEqual(got.map((e) => e.type === "message" ? n(e.message) : e.type), [1, 2]);

  await daemon[Symbol.asyncDispose]();
  await daemon.daemon.finished;
  const [down] = await take(events, 1);
  assert.equal(down!.type, "disconnected");
  assert.equal(subscription.connected, false);

  daemon = await startOn(sockets.path, state.path);
  // Published while the subscriber is still away: delivered from history.
  await publisher.connect();
  for (let i = 3; i <= 6; i++) assert.equal(await publisher.publish(custom("wallpaper", i)), true);
  const after: SubscriptionEvent[] = [];
  while (after.filter((e) => e.type === "message").length < 4) {
    after.push(...await take(events, 1));
  }
  assert.equal(after[0]!.type, "connected");
  const messages = after.filter((e) => e.type === "message").map((e) => e.message);
  assert.deepEqual(messages.map(n), [3, 4, 5, 6]);
  assert.deepEqual(messages.map((m) => m.seq), [3, 4, 5, 6]);
  assert.equal(await publisher.publish(custom("wallpaper", 7)), true);
  const [seven] = await take(events, 1);
  assert.equal(seven?.type === "message" && n(seven.message), 7);
  assert.equal(subscription.lastSeq, 7);
  subscription.close();
  assert.equal((await events.next()).done, true);
  await daemon[Symbol.asyncDispose]();
});

Deno.test("subscribe with since starts from history after that seq", async () => {
  await using sockets = await withTmpDir();
  await using state = await withTmpDir();
  await using daemon = await startOn(sockets.path, state.path, 5000);
  await using publisher = new DaemonPublisher({ socketDir: sockets.path, onWarning: () => {} });
  for (let i = 1; i <= 2500; i++) assert.equal(await publisher.publish(custom("backup", i)), true);
  // Wait until the daemon routed all of them.
  {
    using s = subscribe("backup", { socketDir: sockets.path, since: 2499 });
    const it = s[Symbol.asyncIterator]();
    assert.equal(n((await take(it, 1))[0]!), 2500);
  }
  const subscription = subscribe("backup", {
    socketDir: sockets.path,
    since: 10,
    signal: AbortSignal.timeout(10_000),
  });
  const received: number[] = [];
  for await (const message of subscription) {
    received.push(message.seq!);
    if (received.length === 2490) break; // `break` closes the socket.
  }
  assert.deepEqual(received, Array.from({ length: 2490 }, (_, i) => i + 11));
  assert.equal(subscription.connected, false);
  assert.equal(subscription.lastSeq, 2500);
  assert.throws(() => subscription[Symbol.asyncIterator](), TypeError);
  await daemon[Symbol.asyncDispose]();
});

Deno.test("subscribe without since starts with the next message", async () => {
  await using daemon = await startDaemon({ logLevel: "error" });
  await using publisher = new DaemonPublisher({ socketDir: daemon.dir, onWarning: () => {} });
  for (let i = 1; i <= 3; i++) await publisher.publish(custom("theme", i));
  const controller = new AbortController();
  const subscription = subscribe("theme", { socketDir: daemon.dir, signal: controller.signal });
  const events = subscription.events()[Symbol.asyncIterator]();
  assert.deepEqual((await take(events, 1))[0], { type: "connected" });
  assert.equal(subscription.lastSeq, 3);
  await publisher.publish(custom("theme", 4));
  const [four] = await take(events, 1);
  assert.equal(four?.type === "message" && four.message.seq, 4);
  controller.abort();
  assert.equal((await events.next()).done, true);
});

Deno.test("subscribeAll follows every type and resumes per type", async () => {
  await using sockets = await withTmpDir();
  await using state = await withTmpDir();
  let daemon = await startOn(sockets.path, state.path);
  await using publisher = new DaemonPublisher({
    socketDir: sockets.path,
    retryInterval: 10,
    onWarning: () => {},
  });
  await publisher.publish(custom("a", 1));
  using all = subscribeAll({ socketDir: sockets.path, reconnectDelay: 20 });
  const events = all.events()[Symbol.asyncIterator]();
  assert.deepEqual((await take(events, 1))[0], { type: "connected" });
  await publisher.publish(custom("a", 2));
  await publisher.publish(custom("b", 1));
  const live = await take(events, 2);
  assert.deepEqual(
    live.map((e) => e.type === "message" && [e.message.event_type, e.message.seq]),
    [["a", 2], ["b", 1]],
  );
  await daemon[Symbol.asyncDispose]();
  await daemon.daemon.finished;
  assert.equal((await take(events, 1))[0]!.type, "disconnected");
  daemon = await startOn(sockets.path, state.path);
  await publisher.connect();
  await publisher.publish(custom("a", 3));
  await publisher.publish(custom("c", 1));
  await publisher.publish(custom("b", 2));
  const seen: string[] = [];
  while (seen.length < 3) {
    const [event] = await take(events, 1);
    if (event!.type === "message") seen.push(`${event!.message.event_type}${event!.message.seq}`);
  }
  assert.deepEqual(seen.sort(), ["a3", "b2", "c1"]);
  assert.deepEqual(all.lastSeqs, { a: 3, b: 2, c: 1 });
  all.close();
  await daemon[Symbol.asyncDispose]();
});

Deno.test("subscribe reports the daemon down and waits for it", async () => {
  await using sockets = await withTmpDir();
  await using state = await withTmpDir();
  using subscription = subscribe("late", { socketDir: sockets.path, reconnectDelay: 10 });
  const events = subscription.events()[Symbol.asyncIterator]();
  const [down] = await take(events, 1);
  assert.equal(down!.type, "disconnected");
  assert.throws(() => subscription.events(), TypeError);
  await using daemon = await startOn(sockets.path, state.path);
  await using publisher = new DaemonPublisher({ socketDir: sockets.path, onWarning: () => {} });
  assert.deepEqual((await take(events, 1))[0], { type: "connected" });
  await publisher.publish(custom("late", 1));
  const [first] = await take(events, 1);
  assert.equal(first?.type === "message" && first.message.seq, 1);
  subscription.close();
  await daemon[Symbol.asyncDispose]();
});

Deno.test("subscribe reports a gap when the daemon no longer keeps missed messages", async () => {
  await using sockets = await withTmpDir();
  await using state = await withTmpDir();
  await using daemon = await startOn(sockets.path, state.path, 100);
  await using publisher = new DaemonPublisher({ socketDir: sockets.path, onWarning: () => {} });
  for (let i = 1; i <= 300; i++) assert.equal(await publisher.publish(custom("backup", i)), true);
  const subscription = subscribe("backup", {
    socketDir: sockets.path,
    since: 10,
    signal: AbortSignal.timeout(10_000),
  });
  const got: SubscriptionEvent[] = [];
  for await (const event of subscription.events()) {
    got.push(event);
    if (event.type === "message" && event.message.seq === 300) break;
  }
  assert.deepEqual(got[0], { type: "connected" });
  assert.deepEqual(got[1], { type: "gap", eventType: "backup", from: 11, to: 200 });
  const seqs = got.filter((e) => e.type === "message").map((e) => e.message.seq);
  assert.deepEqual(seqs, Array.from({ length: 100 }, (_, i) => i + 201));
  await daemon[Symbol.asyncDispose]();
});

/** `datetime.now().isoformat()`: local time, microseconds, no offset. */
function pythonNow(): string {
  const d = new Date();
  const p = (n: number, w = 2): string => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${
    p(d.getMinutes())
  }:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}456`;
}

/** Sends frames to command.sock byte by byte as the wire defines them. */
async function sendRaw(socketDir: string, ...bodies: Record<string, unknown>[]): Promise<void> {
  using client = await RawClient.connect(`${socketDir}/command.sock`);
  for (const body of bodies) await writeAll(client.conn, rawFrame(JSON.stringify(body)));
}

Deno.test("a subscription started before the daemon delivers the first events routed after it came up", async () => {
  await using sockets = await withTmpDir();
  await using state = await withTmpDir();
  // A long backoff: the first event must not depend on when the retry falls.
  using one = subscribe("cold", { socketDir: sockets.path, reconnectDelay: 2000 });
  using all = subscribeAll({ socketDir: sockets.path, reconnectDelay: 2000 });
  const events = one.events()[Symbol.asyncIterator]();
  const allEvents = all.events()[Symbol.asyncIterator]();
  assert.equal((await take(events, 1))[0]?.type, "disconnected");
  assert.equal((await take(allEvents, 1))[0]?.type, "disconnected");
  const daemon = await startOn(sockets.path, state.path);
  try {
    // From the raw wire, at once: one without timestamp (the daemon fills
    // it in), one as a Python manager stamps it.
    await sendRaw(
      sockets.path,
      { event_type: "cold", payload: { type: "custom", n: 1 } },
      { ...custom("cold", 2), message_id: crypto.randomUUID(), timestamp: pythonNow() },
    );
    const messages = async (it: AsyncIterator<SubscriptionEvent>): Promise<unknown[]> => {
      const got: unknown[] = [];
      while (got.length < 2) {
        const [event] = await take(it, 1);
        if (event?.type === "message") got.push([event.message.seq, n(event.message)]);
      }
      return got;
    };
    assert.deepEqual(await messages(events), [[1, 1], [2, 2]]);
    assert.deepEqual(await messages(allEvents), [[1, 1], [2, 2]]);
  } finally {
    one.close();
    all.close();
    await daemon[Symbol.asyncDispose]();
  }
});

Deno.test("a subscription made while the daemon is down does not replay older history when it comes back", async () => {
  await using sockets = await withTmpDir();
  await using state = await withTmpDir();
  let daemon = await startOn(sockets.path, state.path);
  await sendRaw(sockets.path, custom("old", 1), custom("old", 2), custom("old", 3));
  await daemon[Symbol.asyncDispose]();
  await daemon.daemon.finished;
  using one = subscribe("old", { socketDir: sockets.path, reconnectDelay: 10 });
  using all = subscribeAll({ socketDir: sockets.path, reconnectDelay: 10 });
  const events = one[Symbol.asyncIterator]();
  const allEvents = all[Symbol.asyncIterator]();
  daemon = await startOn(sockets.path, state.path);
  try {
    await sendRaw(sockets.path, custom("old", 4));
    const [first] = await take(events, 1);
    assert.deepEqual([first?.seq, first && n(first)], [4, 4]);
    const [firstAll] = await take(allEvents, 1);
    assert.deepEqual([firstAll?.seq, firstAll && n(firstAll)], [4, 4]);
  } finally {
    one.close();
    all.close();
    await daemon[Symbol.asyncDispose]();
  }
});

Deno.test("while the daemon is down a subscription waits for its sockets without retrying on a timer", async () => {
  await using root = await withTmpDir();
  const socketDir = `${root.path}/not/yet/sockets`; // The daemon makes it.
  let attempts = 0;
  const connect = Deno.connect;
  // deno-lint-ignore no-explicit-any
  (Deno as any).connect = (options: Deno.UnixConnectOptions): Promise<Deno.UnixConn> => {
    if (options.path?.startsWith(root.path)) attempts++;
    return connect(options);
  };
  try {
    using subscription = subscribe("idle", { socketDir, reconnectDelay: 10 });
    const events = subscription.events()[Symbol.asyncIterator]();
    assert.equal((await take(events, 1))[0]?.type, "disconnected");
    // Keep pulling, so the subscription goes on trying to reconnect.
    const next = events.next();
    // A timer backoff from 10 ms would have tried about 7 more times by now.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.ok(attempts <= 2, `${attempts} connection attempts while the daemon was down`);
    await using state = await withTmpDir();
    const daemon = await startOn(socketDir, state.path);
    try {
      assert.deepEqual((await next).value, { type: "connected" });
      await sendRaw(socketDir, custom("idle", 1));
      const [first] = await take(events, 1);
      assert.equal(first?.type === "message" && first.message.seq, 1);
    } finally {
      subscription.close();
      await daemon[Symbol.asyncDispose]();
    }
  } finally {
    // deno-lint-ignore no-explicit-any
    (Deno as any).connect = connect;
  }
});

Deno.test("the monitor reads the daemon's frames as the protocol's parseMessage does, without its schema library", async () => {
  const { parseRoutedMessage } = await import("../../monitor/_wire.ts");
  const { parseMessage } = await import("../../protocol/mod.ts");
  const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
  const bodies = [
    enc({ ...custom("a", 1), message_id: "m", timestamp: "2026-11-25T11:40:00.123456", seq: 3 }),
    enc(custom("a", 1)),
    enc({ event_type: "", payload: { type: "x" } }),
    enc({ event_type: "a", payload: [] }),
    enc({ event_type: "a", payload: { type: "" } }),
    enc({ event_type: "a", payload: { type: "x" }, timestamp: "yesterday" }),
    enc({ event_type: "a", payload: { type: "x" }, seq: 0 }),
    enc({ event_type: "a", payload: { type: "x" }, message_id: 7 }),
    enc([1]),
    new TextEncoder().encode("{nope"),
    new Uint8Array([0xff, 0xfe]),
  ];
  for (const body of bodies) {
    const ours = parseRoutedMessage(body);
    const theirs = parseMessage(body);
    assert.equal(ours.ok, theirs.ok, new TextDecoder().decode(body));
    if (ours.ok && theirs.ok) {
      assert.equal(ours.message.event_type, theirs.message.event_type);
      assert.equal(typeof ours.message.message_id, "string");
      assert.equal(typeof ours.message.timestamp, "string");
    } else if (!ours.ok && !theirs.ok) {
      assert.equal(ours.error.message, theirs.error.message);
      assert.equal(ours.error.reason, theirs.error.reason);
    }
  }
});
