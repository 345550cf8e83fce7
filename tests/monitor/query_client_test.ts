import assert from "node:assert/strict";
import {
  getCurrentState,
  getDaemonStatus,
  getEventHistory,
  getOperationStatus,
  listEventTypes,
  query,
  QueryClient,
} from "../../monitor/mod.ts";
import { DaemonPublisher } from "../../publisher/mod.ts";
import { DaemonUnavailableError, MessageBuilder, QueryError } from "../../protocol/mod.ts";
import { startDaemon, until, withTmpDir } from "../_helpers.ts";

Deno.test("query helpers answer from a live daemon", async () => {
  await using d = await startDaemon();
  const socketDir = d.dir;
  await using publisher = new DaemonPublisher({ socketDir, onWarning: () => {} });
  await publisher.publish(MessageBuilder.operationStarted({
    eventType: "wallpaper",
    operationId: "op-1",
    operationName: "change",
  }));
  await publisher.publish(MessageBuilder.stateUpdate({
    eventType: "wallpaper",
    stateKey: "current",
    stateValue: { path: "/w.png" },
  }));
  // Wait until both are routed.
  await until(
    async () => (await getEventHistory("wallpaper", { socketDir })).last_seq === 2,
    "both messages routed",
  );
  assert.deepEqual(await getCurrentState("wallpaper", { socketDir }), {
    state: { current: { path: "/w.png" } },
  });
  assert.deepEqual(
    await getCurrentState("wallpaper", { socketDir, stateKey: "nope" }),
    { state: {} },
  );
  const { operations } = await getOperationStatus("wallpaper", { socketDir, operationId: "op-1" });
  assert.equal(operations.length, 1);
  assert.equal(operations[0]!.status, "running");
  assert.equal(operations[0]!.operation_name, "change");
  const { event_types } = await listEventTypes({ socketDir });
  const info = event_types.find((t) => t.event_type === "wallpaper");
  assert.equal(info?.last_seq, 2);
  const history = await getEventHistory("wallpaper", { socketDir, afterSeq: 1, limit: 10 });
  assert.deepEqual(history.events.map((e) => e.seq), [2]);
  assert.equal(history.truncated, false);
  const status = await getDaemonStatus({ socketDir });
  assert.equal(status.pid, Deno.pid);
  assert.equal(typeof status.uptime_seconds, "number");
  await assert.rejects(query("no_such_query", { socketDir }), (err) => {
    assert.ok(err instanceof QueryError);
    assert.equal(err.queryType, "no_such_query");
    assert.match(err.message, /no_such_query/);
    return true;
  });
});

Deno.test("QueryClient keeps one connection for many overlapping queries", async () => {
  await using d = await startDaemon({ eventTypes: ["a", "b"] });
  using client = await QueryClient.connect({ socketDir: d.dir });
  const results = await Promise.all([
    client.query("list_event_types"),
    client.query("get_event_history", { eventType: "a" }),
    client.query("get_event_history", { eventType: "b", parameters: { limit: 5 } }),
    getDaemonStatus({ client }),
  ]);
  assert.deepEqual(results[0].event_types.map((t) => t.event_type), ["a", "b"]);
  assert.equal(results[1].last_seq, 0);
  assert.equal(results[2].last_seq, 0);
  assert.equal(results[3].socket_dir, d.dir);
  // A bad parameter is the daemon's error, and the connection stays usable.
  await assert.rejects(
    client.query("get_event_history", { eventType: "a", parameters: { limit: -1 } }),
    QueryError,
  );
  assert.equal((await client.query("list_event_types")).event_types.length, 2);
  await d.daemon.stop();
  await assert.rejects(client.query("list_event_types"), DaemonUnavailableError);
  assert.equal(client.closed, true);
});

Deno.test("query throws DaemonUnavailableError when no daemon runs and honours its signal", async () => {
  await using sockets = await withTmpDir();
  await assert.rejects(query("list_event_types", { socketDir: sockets.path }), (err) => {
    assert.ok(err instanceof DaemonUnavailableError);
    assert.match(err.message, /query\.sock/);
    return true;
  });
  const controller = new AbortController();
  controller.abort(new Error("stop"));
  await assert.rejects(
    query("list_event_types", { socketDir: sockets.path, signal: controller.signal }),
    /stop/,
  );
});

Deno.test("QueryClient times out when the daemon does not answer", async () => {
  await using sockets = await withTmpDir();
  // A fake query.sock that accepts and never answers.
  using listener = Deno.listen({ transport: "unix", path: `${sockets.path}/query.sock` });
  const accepted = listener.accept();
  using client = await QueryClient.connect({ socketDir: sockets.path });
  using _server = await accepted;
  await assert.rejects(
    client.query("list_event_types", { timeout: 50 }),
    (err) => err instanceof DaemonUnavailableError && /50 ms/.test(err.message),
  );
  assert.equal(client.closed, true);
});
