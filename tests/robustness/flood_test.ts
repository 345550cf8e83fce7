import assert from "node:assert/strict";
import { RawClient, withTmpDir } from "../_helpers.ts";
import { counters, progress, spawnDaemon, until } from "./_fixture.ts";

Deno.test("DotfilesDaemon holds ten flooding publishers to a pace a reading monitor keeps up with", async () => {
  await using tmp = await withTmpDir();
  const dir = `${tmp.path}/s`;
  // 7 MB from ten publishers at once through a 4 MiB queue limit, daemon in its own process.
  await using _daemon = await spawnDaemon(dir, `${tmp.path}/st`, [
    "--no-persist",
    "--subscriber-buffer",
    String(4 * 1024 * 1024),
    "--event-types",
    "many",
  ]);
  using sub = await RawClient.connect(`${dir}/many_events.sock`);
  await until(
    async () => (await counters(`${dir}/query.sock`)).subscribers_connected === 1,
    "subscriber",
  );
  const perPublisher = 3000;
  const publishers = await Promise.all(
    Array.from({ length: 10 }, () => RawClient.connect(`${dir}/command.sock`)),
  );
  try {
    const sending = Promise.allSettled(
      publishers.map((pub, p) =>
        pub.send(
          ...Array.from({ length: perPublisher }, (_, i) => progress("many", p * perPublisher + i)),
        )
      ),
    );
    const got = await sub.readN(10 * perPublisher, 30_000).catch((error) => error as Error);
    const dropped = (await counters(`${dir}/query.sock`)).slow_subscribers_dropped;
    await sending;
    assert.equal(dropped, 0);
    assert.ok(Array.isArray(got), String(got));
    assert.deepEqual(got.map((m) => m.seq), Array.from({ length: got.length }, (_, i) => i + 1));
  } finally {
    for (const pub of publishers) pub[Symbol.dispose]();
  }
});
