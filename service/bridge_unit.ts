/**
 * The bridge's systemd user unit, `service/dotfiles-bridge.service`: its
 * `ExecStart` line is built here from {@linkcode bridgePermissionFlags}, the
 * single source of the bridge's permissions, with systemd's `%h` for the
 * home directory and `${BRIDGE_BROKER}` (the URL's `HOST:PORT`, from the
 * unit's environment file) for the broker. `tests/service/bridge_unit_test.ts`
 * fails when the unit file drifts from it.
 *
 * Print the line, or the flags for a broker on this machine's default
 * directories (add `--socket-dir DIR`/`--state-dir DIR` when the bridge gets
 * them):
 *
 * ```sh
 * deno run service/bridge_unit.ts
 * deno run --allow-env=HOME,XDG_CACHE_HOME,XDG_STATE_HOME,NATS_CREDS service/bridge_unit.ts --flags nats://nas.lan:4222
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseBrokerUrl } from "../bridge/broker_url.ts";
import { defaultSocketDir, defaultStateDir } from "../protocol/mod.ts";
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

/**
 * The bridge's flags for a broker URL on this machine: the default socket
 * dir and `$XDG_STATE_HOME/dotfiles/bridge` unless given, and the
 * `NATS_CREDS` file when that is set.
 *
 * @param args `--flags URL [--socket-dir DIR] [--state-dir DIR]`.
 * @param env Reads an environment variable.
 * @returns The flags.
 * @throws {TypeError} When the URL or a directory is not usable.
 *
 * @example
 * ```ts
 * import { bridgeFlagsFor } from "./bridge_unit.ts";
 * import assert from "node:assert/strict";
 *
 * const flags = bridgeFlagsFor(["--flags", "mqtt://nas.lan"], (n) => n === "HOME" ? "/home/me" : undefined);
 * assert.ok(flags.includes("--allow-read=/home/me/.cache/dotfiles/sockets,/home/me/.local/state/dotfiles/bridge"));
 * assert.ok(flags[0]!.startsWith("--allow-net=nas.lan:1883,"));
 * ```
 */
export function bridgeFlagsFor(
  args: string[],
  env: (name: string) => string | undefined,
): string[] {
  const { values } = parseArgs({
    args,
    options: {
      flags: { type: "string" },
      "socket-dir": { type: "string" },
      "state-dir": { type: "string" },
    },
  });
  if (values.flags === undefined) {
    throw new TypeError("Cannot build bridge flags: expected --flags URL");
  }
  const url = parseBrokerUrl(values.flags);
  const creds = url.kind === "nats" ? env("NATS_CREDS") : undefined;
  return bridgePermissionFlags({
    socketDir: values["socket-dir"] ?? defaultSocketDir(env),
    stateDir: values["state-dir"] ?? defaultStateDir(env).replace(/\/daemon$/, "/bridge"),
    broker: url.hostPort,
    ...(creds !== undefined && creds !== "" ? { credsFile: creds } : {}),
  });
}

if (import.meta.main) {
  try {
    const line = Deno.args.length === 0
      ? bridgeExecStart()
      : bridgeFlagsFor(Deno.args, (name) => Deno.env.get(name)).join(" ");
    // deno-lint-ignore no-console
    console.log(line);
  } catch (err) {
    // deno-lint-ignore no-console
    console.error(err instanceof Error ? err.message : String(err));
    Deno.exit(2);
  }
}
