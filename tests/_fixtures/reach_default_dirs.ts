/**
 * Not part of the suite (no `_test` in the name): `tests/default_dirs_test.ts`
 * runs it through `deno task test` next to a sentinel daemon on the default
 * directories of a stand-in home. It does what a careless test would do:
 * publish and query with every directory left to its default.
 *
 * @module
 */

import { DaemonPublisher } from "../../publisher/mod.ts";
import { DaemonUnavailableError, MessageBuilder } from "../../protocol/mod.ts";
import { getDaemonStatus } from "../../monitor/mod.ts";

Deno.test("publishes and queries on the default directories", async () => {
  await using publisher = new DaemonPublisher({ onWarning: () => {}, connectionTimeout: 500 });
  await publisher.publish(MessageBuilder.stateUpdate({
    eventType: "sentinel",
    stateKey: "reached",
    stateValue: { from: "a test" },
  }));
  try {
    await getDaemonStatus({ timeout: 500 });
  } catch (error) {
    if (!(error instanceof DaemonUnavailableError)) throw error;
  }
});
