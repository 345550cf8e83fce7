import assert from "node:assert/strict";
import { RawClient, rawFrame, writeAll } from "../_helpers.ts";
import {
  assertExchange,
  counters,
  fdCount,
  type Obj,
  progress,
  sleep,
  startDaemon,
  until,
} from "./_fixture.ts";

const CONNECTIONS = 2000;
const AT_ONCE = 100;

/** Opens `n` connections, `AT_ONCE` at a time, runs `use` on each and closes it. */
async function churn(
  path: string,
  n: number,
  use: (c: RawClient) => Promise<void>,
): Promise<void> {
  for (let done = 0; done < n; done += AT_ONCE) {
    await Promise.all(
      Array.from({ length: Math.min(AT_ONCE, n - done) }, async () => {
        using c = await RawClient.connect(path);
        await use(c).catch(() => {}); // the daemon may close first
      }),
    );
  }
}

Deno.test("DotfilesDaemon survives thousands of connections dropped mid-frame on every socket and leaks no descriptor", async () => {
  await using d = await startDaemon({ eventTypes: ["health"] });
  await assertExchange(d, "health");
  const fdsBefore = await fdCount(Deno.pid);
  const before = await counters(d.sock("query.sock"));
  const half = rawFrame(JSON.stringify(progress("health", 0))).slice(0, 30);

  await churn(d.sock("command.sock"), CONNECTIONS, (c) => writeAll(c.conn, half));
  await churn(d.sock("command.sock"), CONNECTIONS / 4, (c) => writeAll(c.conn, half.slice(0, 2)));
  await churn(d.sock("query.sock"), CONNECTIONS / 2, (c) => writeAll(c.conn, half));
  await churn(d.sock("health_events.sock"), CONNECTIONS / 2, async () => {});
  await churn(d.sock("events.sock"), CONNECTIONS / 4, (c) => writeAll(c.conn, half));

  let after: Obj = {};
  await until(
    async () => {
      after = await counters(d.sock("query.sock"));
      return after.publishers_connected === 0 && after.subscribers_connected === 0 &&
        after.query_clients_connected === 1;
    },
    "every dropped connection to be noticed",
    15000,
  );
  const bad = (name: string) =>
    ((after.bad_frames as Obj)[name] as number ?? 0) -
    ((before.bad_frames as Obj)[name] as number ?? 0);
  assert.equal(bad("frame_truncated"), CONNECTIONS + CONNECTIONS / 4);
  assert.equal(bad("query_frame_truncated"), CONNECTIONS / 2);
  assert.equal(
    (after.connections_accepted as number) - (before.connections_accepted as number),
    CONNECTIONS * 2.5 + 1,
  );
  assert.equal(after.messages_in, before.messages_in);
  await assertExchange(d, "health");
  // Every descriptor the daemon opened for them is closed again (same process).
  await until(async () => (await fdCount(Deno.pid)) <= fdsBefore + 2, "descriptors to be closed");
});

Deno.test("DotfilesDaemon keeps delivering everything to steady subscribers while others reset their connections during a burst", async () => {
  await using d = await startDaemon({ eventTypes: ["burst"] });
  const steady = await Promise.all(
    Array.from({ length: 5 }, () => RawClient.connect(d.sock("burst_events.sock"))),
  );
  try {
    await until(() => d.daemon.subscriberCount("burst") === 5, "steady subscribers");
    const N = 20_000;
    let stop = false;
    // Resetters: connect, read a frame or two, then close with unread data queued
    // (the daemon's next write fails with a reset or broken pipe).
    let resets = 0;
    const resetters = Array.from({ length: 8 }, async () => {
      while (!stop) {
        using c = await RawClient.connect(d.sock(resets % 2 ? "events.sock" : "burst_events.sock"));
        await c.read(200).catch(() => null);
        await sleep(resets % 5);
        resets++;
      }
    });
    using pub = await RawClient.connect(d.sock("command.sock"));
    const publishing = (async () => {
      for (let i = 0; i < N; i += 500) {
        await pub.send(
          ...Array.from({ length: Math.min(500, N - i) }, (_, k) => progress("burst", i + k)),
        );
        await sleep(1);
      }
    })();
    const reading = steady.map(async (s) => {
      const got = await s.readN(N, 10000);
      got.forEach((m, i) => assert.equal(m.seq, i + 1));
    });
    await Promise.all([publishing, ...reading]);
    stop = true;
    await Promise.all(resetters);
    assert.ok(resets > 20, `only ${resets} resets happened during the burst`);
    const c = await counters(d.sock("query.sock"));
    assert.equal(c.messages_routed, N);
    assert.equal(c.slow_subscribers_dropped, 0);
    await until(() => d.daemon.subscriberCount() === 5, "reset subscribers to be removed");
  } finally {
    for (const s of steady) s[Symbol.dispose]();
  }
  await assertExchange(d, "burst");
});
