import assert from "node:assert/strict";
import { getEventHistory } from "../../monitor/mod.ts";
import { DaemonPublisher } from "../../publisher/mod.ts";
import { startDaemon, until, withTmpDir } from "../_helpers.ts";

Deno.test("DaemonPublisher delivers 10k messages to a live daemon in order, across a restart", async () => {
  await using sockets = await withTmpDir();
  await using state = await withTmpDir();
  const options = {
    socketDir: sockets.path,
    stateDir: state.path,
    logLevel: "error" as const,
    historyLimit: 20_000,
  };
  const first = await startDaemon({ ...options, persist: true });
  const warnings: string[] = [];
  await using publisher = new DaemonPublisher({
    socketDir: sockets.path,
    retryInterval: 10,
    onWarning: (t) => warnings.push(t),
  });
  const pending: Promise<boolean>[] = [];
  for (let i = 0; i < 10_000; i++) {
    pending.push(publisher.publish({ event_type: "bulk", payload: { type: "custom", n: i } }));
  }
  assert.ok((await Promise.all(pending)).every((ok) => ok));
  await publisher.close();
  // Fire-and-forget: wait until the daemon routed what it received.
  const lastSeq = async () =>
    (await getEventHistory("bulk", { socketDir: sockets.path, limit: 1 })).last_seq;
  await until(async () => await lastSeq() >= 10_000, "10k messages routed");
  assert.equal(await lastSeq(), 10_000);
  await first[Symbol.asyncDispose]();
  await using _second = await startDaemon({ ...options, persist: true });
  await using again = new DaemonPublisher({ socketDir: sockets.path, onWarning: () => {} });
  assert.equal(
    await again.publish({ event_type: "bulk", payload: { type: "custom", n: 10_000 } }),
    true,
  );
  await until(async () => await lastSeq() >= 10_001, "the message after the restart routed");
  const all = [];
  for (let after = 0; after < 10_001;) {
    const page = await getEventHistory("bulk", {
      socketDir: sockets.path,
      afterSeq: after,
      limit: 5000,
    });
    all.push(...page.events);
    after = page.events.at(-1)!.seq as number;
  }
  assert.deepEqual(
    all.map((m) => (m.payload as Record<string, unknown>).n),
    Array.from({ length: 10_001 }, (_, i) => i),
  );
  assert.deepEqual(warnings, []);
});
