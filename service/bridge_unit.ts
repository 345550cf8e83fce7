/**
 * The bridge's systemd user unit, `service/dotfiles-bridge.service`: its
 * `ExecStart` line is built here from {@linkcode bridgePermissionFlags}, the
 * single source of the bridge's permissions, with systemd's `%h` for the
 * home directory and `${BRIDGE_BROKER}` (the URL's `HOST:PORT`, from the
 * unit's environment file) for the broker. `tests/service/bridge_unit_test.ts`
 * fails when the unit file drifts from it.
 *
 * Print the line:
 *
 * ```sh
 * deno run service/bridge_unit.ts
 * ```
 *
 * @module
 */

import { bridgePermissionFlags } from "./permissions.ts";

const HOME = "/HOME";
const BROKER = "BROKER:1";

/** Where the unit expects a checkout of this repository. */
export const BRIDGE_UNIT_SOURCE = "%h/.local/share/dotfiles-daemon/main.ts";

/**
 * The unit's `ExecStart=` value: `deno run` with the bridge's flags for the
 * default directories, then `bridge ${BRIDGE_URL} $BRIDGE_ARGS`.
 *
 * @returns The command line, systemd syntax.
 *
 * @example
 * ```ts
 * import { bridgeExecStart } from "./bridge_unit.ts";
 * import assert from "node:assert/strict";
 *
 * const line = bridgeExecStart();
 * assert.ok(line.includes("--allow-net=${BRIDGE_BROKER},unix:%h/.cache/dotfiles/sockets/command.sock"));
 * assert.ok(line.endsWith("bridge ${BRIDGE_URL} $BRIDGE_ARGS"));
 * ```
 */
export function bridgeExecStart(): string {
  const flags = bridgePermissionFlags({
    socketDir: `${HOME}/.cache/dotfiles/sockets`,
    stateDir: `${HOME}/.local/state/dotfiles/bridge`,
    broker: BROKER,
  }).map((flag) => flag.replaceAll(HOME, "%h").replace(BROKER, "${BRIDGE_BROKER}"));
  return [
    "/usr/bin/env",
    "deno",
    "run",
    ...flags,
    BRIDGE_UNIT_SOURCE,
    "bridge",
    "${BRIDGE_URL}",
    "$BRIDGE_ARGS",
  ]
    .join(" ");
}

if (import.meta.main) {
  // deno-lint-ignore no-console
  console.log(bridgeExecStart());
}
