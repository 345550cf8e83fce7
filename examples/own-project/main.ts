/**
 * A project of your own that uses the dotfiles-daemon library from a clone,
 * before the package is on JSR: its `deno.json` imports
 * `jsr:@dotfiles/daemon@^0.1.0` as usual and adds `"links": ["../.."]`
 * (the path to the clone), which makes that import resolve to the clone.
 * Copy this folder anywhere and point `links` at your clone; once the
 * package is published, delete the `links` line and nothing else changes.
 *
 * It publishes a `state_update` for `theme` and reads it back with a query.
 *
 * Run: `deno task start [SOCKET_DIR]` in this folder (the daemon's default
 * socket dir when SOCKET_DIR is left out).
 *
 * @module
 */

import { DaemonPublisher } from "@dotfiles/daemon/publisher";
import { getCurrentState } from "@dotfiles/daemon/monitor";
import { DaemonUnavailableError, MessageBuilder } from "@dotfiles/daemon/protocol";

const socketDir = Deno.args[0];
const where = socketDir !== undefined ? { socketDir } : {};

await using publisher = new DaemonPublisher({ ...where, onWarning: () => {} });
const theme = { name: "nord", dark: true };
const sent = await publisher.publish(MessageBuilder.stateUpdate({
  eventType: "theme",
  stateKey: "current",
  stateValue: theme,
}));
await publisher.close();
if (!sent) {
  // deno-lint-ignore no-console
  console.log(
    "own project: no daemon answers (start one with 'deno task start' in the clone)",
  );
  Deno.exit(0);
}
try {
  const { state } = await getCurrentState("theme", {
    ...where,
    stateKey: "current",
  });
  // deno-lint-ignore no-console
  console.log(
    `own project: published theme current=${JSON.stringify(theme)}, ` +
      `the daemon now says ${JSON.stringify(state.current)}`,
  );
} catch (error) {
  if (!(error instanceof DaemonUnavailableError)) throw error;
  // deno-lint-ignore no-console
  console.log(`own project: published, but the query failed: ${error.message}`);
}
