/**
 * The daemon's least-privilege Deno permission flags: the one place they are
 * written down. `deno task start` prints them through this file's `main`
 * (`deno run $(deno run ... service/permissions.ts) main.ts serve`),
 * `deno task compile` bakes them into the binary through
 * `scripts/compile.ts`, and the sandbox tests run `deno run <flags> main.ts`
 * with the same function on temp dirs. `tests/service/permissions_test.ts`
 * fails when `deno.json`'s tasks drift from {@linkcode START_TASK} and
 * {@linkcode COMPILE_TASK}.
 *
 * Run it to see the flags for your default directories:
 *
 * ```sh
 * deno run --allow-env=HOME,XDG_CACHE_HOME,XDG_STATE_HOME service/permissions.ts
 * ```
 *
 * @module
 */

import { defaultSocketDir, defaultStateDir, type EnvGetter } from "../protocol/socket_paths.ts";

/** The two directories the daemon may touch. */
export interface DaemonDirs {
  /** Absolute socket directory (sockets and the lock file). */
  socketDir: string;
  /** Absolute state directory (the store). */
  stateDir: string;
}

/**
 * Every environment variable the daemon reads: `HOME` and the two XDG base
 * directories, for the default socket and state directories. Nothing else
 * (colour output follows `Deno.noColor`, which needs no permission).
 */
export const DAEMON_ENV_VARS: readonly string[] = Object.freeze([
  "HOME",
  "XDG_CACHE_HOME",
  "XDG_STATE_HOME",
]);

/**
 * TCP destinations denied although `--allow-net` is given: every IPv4
 * address (resolved host names are checked too) and the IPv6 loopback and
 * unspecified addresses. Deno 2.9 scopes Unix sockets only by exact path and
 * the daemon creates event sockets with names it learns at run time, so net
 * permission cannot be narrowed to a directory; Deno 2.9.6 parses IPv4 CIDR
 * ranges here but no IPv6 range, so other IPv6 addresses stay reachable
 * (the systemd unit's `RestrictAddressFamilies=AF_UNIX` closes that).
 */
export const DENIED_NET: readonly string[] = Object.freeze(["0.0.0.0/0", "[::]", "[::1]"]);

/**
 * The `deno.json` `start` task: prints the flags for the default directories,
 * then runs the daemon under them.
 */
export const START_TASK: string = `deno run $(deno run --no-prompt --allow-env=${
  DAEMON_ENV_VARS.join(",")
} service/permissions.ts) main.ts serve`;

/** The `deno.json` `compile` task (the build script's own flags are spelled out, no `-A`). */
export const COMPILE_TASK: string = `deno run --no-prompt --allow-env=${
  DAEMON_ENV_VARS.join(",")
} --allow-write=dist --allow-run=deno scripts/compile.ts`;

/**
 * The `deno.json` `install-service` task: copies the binary and the unit into
 * the home directory, or with `--from-clone` writes the clone's unit
 * (`scripts/install_service.ts`); env for the default directories and
 * Deno's cache.
 */
export const INSTALL_SERVICE_TASK: string = "deno run --no-prompt " +
  `--allow-env=${[...DAEMON_ENV_VARS, "DENO_DIR"].join(",")} ` +
  "--allow-read=dist,service,$HOME/.local/bin " +
  "--allow-write=$HOME/.local/bin,$HOME/.config/systemd/user scripts/install_service.ts";

/**
 * The flags of the client commands (`publish`, `watch`, `query`, `status`)
 * run from a clone: `deno task cli` and the `dotfiles-daemon` command that
 * `deno task install` puts on PATH. Read, write and net for any socket
 * directory the user names, env for the default one and `NO_COLOR`.
 */
export const CLI_PERMISSION_FLAGS: readonly string[] = Object.freeze([
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
]);

/** The `deno.json` `cli` task. */
export const CLI_TASK: string = `deno run ${CLI_PERMISSION_FLAGS.join(" ")} main.ts`;

/**
 * The `deno.json` `install-cli` task: writes `~/.local/bin/dotfiles-daemon`,
 * which runs this clone's `main.ts` with {@linkcode CLI_PERMISSION_FLAGS}
 * (`scripts/install_cli.ts`).
 */
export const INSTALL_CLI_TASK: string = "deno run --no-prompt --allow-env=HOME,PATH " +
  "--allow-read=$HOME/.local/bin --allow-write=$HOME/.local/bin scripts/install_cli.ts";

/**
 * The flags `deno test` runs the suite with: tests spawn daemons and CLI
 * processes (`--allow-run`) on temp directories.
 */
export const TEST_FLAGS: readonly string[] = Object.freeze([
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-run",
  "--doc",
  "--trace-leaks",
]);

/**
 * The `deno.json` `test` task: `scripts/test.ts` runs `deno test` with
 * {@linkcode TEST_FLAGS}, `HOME` and the XDG directories on a temp dir.
 */
export const TEST_TASK =
  "deno run --no-prompt --allow-env --allow-read --allow-write --allow-run scripts/test.ts";

/** The binary `deno task compile` writes. */
export const COMPILE_OUTPUT = "dist/dotfiles-daemon";

function checkDir(name: string, dir: string): string {
  if (!dir.startsWith("/")) {
    throw new TypeError(
      `Cannot build permission flags: '${name}' must be an absolute path, received '${dir}'`,
    );
  }
  // Deno splits flag values at commas; the task shell splits words at spaces.
  if (/[,\s]/.test(dir)) {
    throw new TypeError(
      `Cannot build permission flags: '${name}' must not contain a comma or white space, received '${dir}'`,
    );
  }
  return dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
}

/**
 * The permission flags the daemon runs with, for `deno run` and
 * `deno compile` alike: read and write on the two directories only, net for
 * Unix sockets with IPv4 and IPv6 loopback TCP denied, env for
 * {@linkcode DAEMON_ENV_VARS} only, no run, ffi or sys, and no prompt.
 *
 * @param dirs The socket and state directories.
 * @returns The flags, one per element.
 * @throws {TypeError} When a directory is relative or holds a comma or white space.
 *
 * @example
 * ```ts
 * import { daemonPermissionFlags } from "./permissions.ts";
 * import assert from "node:assert/strict";
 *
 * const flags = daemonPermissionFlags({ socketDir: "/run/s", stateDir: "/var/d" });
 * assert.ok(flags.includes("--allow-read=/run/s,/var/d"));
 * assert.ok(flags.includes("--no-prompt"));
 * assert.ok(!flags.some((f) => f.startsWith("--allow-run")));
 * ```
 */
export function daemonPermissionFlags(dirs: DaemonDirs): string[] {
  const socketDir = checkDir("socketDir", dirs.socketDir);
  const stateDir = checkDir("stateDir", dirs.stateDir);
  return [
    `--allow-read=${socketDir},${stateDir}`,
    `--allow-write=${socketDir},${stateDir}`,
    "--allow-net",
    `--deny-net=${DENIED_NET.join(",")}`,
    `--allow-env=${DAEMON_ENV_VARS.join(",")}`,
    "--no-prompt",
  ];
}

/**
 * The directories the daemon uses by default, exactly as it computes them:
 * `$XDG_CACHE_HOME/dotfiles/sockets` (else `~/.cache/dotfiles/sockets`) and
 * `$XDG_STATE_HOME/dotfiles/daemon` (else `~/.local/state/dotfiles/daemon`).
 *
 * @param env Reads an environment variable (pass `Deno.env.get`).
 * @returns The two directories.
 * @throws {TypeError} When neither `$HOME` nor the XDG variable is absolute.
 *
 * @example
 * ```ts
 * import { defaultDaemonDirs } from "./permissions.ts";
 * import assert from "node:assert/strict";
 *
 * const env = (n: string) => ({ HOME: "/home/me" } as Record<string, string>)[n];
 * assert.deepEqual(defaultDaemonDirs(env), {
 *   socketDir: "/home/me/.cache/dotfiles/sockets",
 *   stateDir: "/home/me/.local/state/dotfiles/daemon",
 * });
 * ```
 */
export function defaultDaemonDirs(env: EnvGetter): DaemonDirs {
  return { socketDir: defaultSocketDir(env), stateDir: defaultStateDir(env) };
}

/**
 * The flags for the default directories of this environment. When the
 * directories cannot be found (no absolute `$HOME`), only the directory
 * flags are left out, so the daemon starts and reports that itself.
 *
 * @param env Reads an environment variable (pass `Deno.env.get`).
 * @returns The flags.
 * @throws {TypeError} When a default directory holds a comma or white space.
 *
 * @example
 * ```ts
 * import { defaultDaemonPermissionFlags } from "./permissions.ts";
 * import assert from "node:assert/strict";
 *
 * const flags = defaultDaemonPermissionFlags(() => undefined);
 * assert.ok(!flags.some((f) => f.startsWith("--allow-read")));
 * ```
 */
export function defaultDaemonPermissionFlags(env: EnvGetter): string[] {
  let dirs: DaemonDirs;
  try {
    dirs = defaultDaemonDirs(env);
  } catch {
    return daemonPermissionFlags({ socketDir: "/", stateDir: "/" })
      .filter((flag) => !/^--allow-(read|write)=/.test(flag));
  }
  return daemonPermissionFlags(dirs);
}

/** What the bridge's permission flags are built from. */
export interface BridgeDirs {
  /** Absolute socket directory of the local daemon. */
  socketDir: string;
  /** Absolute state directory of the bridge (its resume file). */
  stateDir: string;
  /**
   * The broker's `host:port`, as a Deno net permission names it (an IPv6
   * address in brackets): `127.0.0.1:4222`, `nas.lan:1883`, `[::1]:4222`.
   */
  broker: string;
  /** An absolute `NATS_CREDS` file to read, if any. */
  credsFile?: string;
}

/**
 * Every environment variable the bridge reads: the directories' and the
 * credentials' (`NATS_USER`, `NATS_PASSWORD`, `NATS_CREDS`, `MQTT_USERNAME`,
 * `MQTT_PASSWORD`). Nothing else.
 */
export const BRIDGE_ENV_VARS: readonly string[] = Object.freeze([
  ...DAEMON_ENV_VARS,
  "NATS_USER",
  "NATS_PASSWORD",
  "NATS_CREDS",
  "MQTT_USERNAME",
  "MQTT_PASSWORD",
]);

/** The sockets of the local daemon the bridge uses (Deno scopes Unix sockets by exact path). */
export const BRIDGE_SOCKETS: readonly string[] = Object.freeze([
  "command.sock",
  "query.sock",
  "events.sock",
]);

/**
 * The permission flags of `dotfiles-daemon bridge`: net to the broker's
 * `host:port` and the daemon's three sockets only, read on the socket and
 * state directories (and the creds file), write on those three sockets and
 * the state directory only, env for {@linkcode BRIDGE_ENV_VARS},
 * `sys=hostname` for the default `--host`, no run, ffi or other sys.
 *
 * @param dirs The directories and the broker.
 * @returns The flags, one per element.
 * @throws {TypeError} When a directory is relative or holds a comma or white
 * space, or the broker is not `host:port`.
 *
 * @example
 * ```ts
 * import { bridgePermissionFlags } from "./permissions.ts";
 * import assert from "node:assert/strict";
 *
 * const flags = bridgePermissionFlags({ socketDir: "/s", stateDir: "/b", broker: "127.0.0.1:4222" });
 * assert.ok(flags.includes("--allow-net=127.0.0.1:4222,unix:/s/command.sock,unix:/s/query.sock,unix:/s/events.sock"));
 * assert.ok(flags.includes("--allow-write=/s/command.sock,/s/query.sock,/s/events.sock,/b"));
 * ```
 */
export function bridgePermissionFlags(dirs: BridgeDirs): string[] {
  const socketDir = checkDir("socketDir", dirs.socketDir);
  const stateDir = checkDir("stateDir", dirs.stateDir);
  if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/.test(dirs.broker)) {
    throw new TypeError(
      `Cannot build permission flags: 'broker' must be HOST:PORT, received '${dirs.broker}'`,
    );
  }
  const sockets = BRIDGE_SOCKETS.map((name) => `${socketDir === "/" ? "" : socketDir}/${name}`);
  const read = [socketDir, stateDir];
  if (dirs.credsFile !== undefined) read.push(checkDir("credsFile", dirs.credsFile));
  return [
    `--allow-net=${[dirs.broker, ...sockets.map((s) => `unix:${s}`)].join(",")}`,
    `--allow-read=${read.join(",")}`,
    `--allow-write=${[...sockets, stateDir].join(",")}`,
    `--allow-env=${BRIDGE_ENV_VARS.join(",")}`,
    "--allow-sys=hostname",
    "--no-prompt",
  ];
}

if (import.meta.main) {
  try {
    // deno-lint-ignore no-console
    console.log(defaultDaemonPermissionFlags((name) => Deno.env.get(name)).join(" "));
  } catch (err) {
    // deno-lint-ignore no-console
    console.error(err instanceof Error ? err.message : String(err));
    Deno.exit(1);
  }
}
