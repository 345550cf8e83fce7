/**
 * `bridge URL`: forwards the local daemon's messages to NATS or MQTT and,
 * with `--import`, brings other hosts' messages in as `<host>.<type>`.
 * Runs until SIGTERM or SIGINT.
 *
 * Exit codes: 0 stopped by SIGTERM/SIGINT, 1 cannot run (resume file
 * unreadable, state dir not writable, a permission missing), 2 bad usage
 * (bad URL, flags). An unreachable broker or failed login is not an exit:
 * the bridge says so in one line and retries with backoff.
 *
 * @module
 */

import { Bridge } from "../bridge/mod.ts";
import {
  CliFailure,
  Exit,
  numberFlag,
  out,
  parse,
  PROG,
  socketDirOf,
  UsageError,
} from "./_usage.ts";

/** `dotfiles-daemon bridge --help`. */
export const BRIDGE_HELP = `${PROG} bridge: connect this machine's daemon to NATS or MQTT

Usage:
  ${PROG} bridge URL [--socket-dir DIR] [--host NAME] [--types a,b | --all]
                  [--import] [--homeassistant] [--state-dir DIR] [--queue-limit N]

  URL               nats://HOST:PORT or mqtt://HOST:PORT (tls://, mqtts:// too)
  --host NAME       this machine's name on the broker, [A-Za-z0-9-]
                    (default: the host name, reduced to those characters)
  --types a,b       forward only these event types
  --all             forward every type (the default); imported types never are
  --import          bring other hosts' messages in as <host>.<event_type>
  --homeassistant   MQTT only: Home Assistant discovery, one sensor per type
  --state-dir DIR   where the resume file lives
                    (default: $XDG_STATE_HOME/dotfiles/bridge, else
                    ~/.local/state/dotfiles/bridge)
  --queue-limit N   messages held for a slow broker before the bridge lets go
                    of the daemon and catches up by seq later (default: 10000)

Out: NATS subject dotfiles.<host>.<type> (JetStream stream DOTFILES, KV
bucket dotfiles-state), or MQTT topic dotfiles/<host>/<type> at QoS 1 with
state retained at dotfiles/<host>/<type>/state/<key> and availability at
dotfiles/<host>/status (online, last will offline).

Credentials come from the environment, never from argv:
  NATS_USER and NATS_PASSWORD, or NATS_CREDS (a .creds file);
  MQTT_USERNAME and MQTT_PASSWORD.

Exit codes: 0 stopped by SIGTERM/SIGINT, 1 cannot run (resume file, state
dir, permission), 2 bad usage. An unreachable broker or a failed login is
retried with backoff (up to 30 s), one log line per distinct failure.
`;

const NODE_SOCKET_ERRORS = new Set(["ECONNRESET", "EPIPE", "ECONNREFUSED", "ETIMEDOUT"]);

/**
 * The NATS client's Node transport drops its socket listeners before
 * destroying a socket after a failed login, so a late ECONNRESET on that
 * socket is thrown with no handler. Such socket errors are the broker
 * connection's business (the bridge reconnects); anything else still
 * crashes the process.
 */
function guardSocketErrors(log: (line: string) => void): () => void {
  let count = 0;
  const onError = (event: ErrorEvent): void => {
    const code = (event.error as { code?: unknown } | null)?.code;
    if (typeof code === "string" && NODE_SOCKET_ERRORS.has(code)) {
      event.preventDefault();
      if (count++ === 0) log(`Ignored a late ${code} from a closed broker socket`);
    }
  };
  globalThis.addEventListener("error", onError);
  return () => globalThis.removeEventListener("error", onError);
}

/**
 * Runs `bridge`.
 *
 * @param args The arguments after `bridge`.
 * @returns The exit code.
 */
export async function bridgeCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse("bridge", args, {
    host: { type: "string" },
    types: { type: "string" },
    all: { type: "boolean" },
    import: { type: "boolean" },
    homeassistant: { type: "boolean" },
    "state-dir": { type: "string" },
    "queue-limit": { type: "string" },
  });
  if (values.help) {
    await out(BRIDGE_HELP);
    return Exit.OK;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? `Missing broker URL: '${PROG} bridge nats://HOST:PORT' or 'mqtt://HOST:PORT'`
        : `Unexpected argument '${positionals[1]}': '${PROG} bridge URL [FLAGS]'`,
    );
  }
  if (values.types !== undefined && values.all) {
    throw new UsageError("Cannot use --types with --all: pick one");
  }
  let types: string[] | undefined;
  if (typeof values.types === "string") {
    types = values.types.split(",").map((t) => t.trim()).filter((t) => t !== "");
    if (types.length === 0) throw new UsageError("Empty --types: give a,b or use --all");
  }
  const queueLimit = typeof values["queue-limit"] === "string"
    ? numberFlag("--queue-limit", values["queue-limit"], 1, 10_000_000)
    : undefined;
  if (queueLimit !== undefined && !Number.isInteger(queueLimit)) {
    throw new UsageError(
      `Cannot read --queue-limit '${values["queue-limit"]}': expected an integer`,
    );
  }
  const stateDir = values["state-dir"];
  if (stateDir === "") throw new UsageError("Empty --state-dir: give a directory path");
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  const log = (line: string): void => {
    // deno-lint-ignore no-console
    console.error(`${PROG} bridge: ${line}`);
  };
  let bridge: Bridge;
  try {
    bridge = new Bridge({
      url: positionals[0]!,
      socketDir: socketDirOf(values["socket-dir"]),
      ...(typeof values.host === "string" ? { host: values.host } : {}),
      ...(types !== undefined ? { types } : {}),
      importing: values.import === true,
      homeAssistant: values.homeassistant === true,
      ...(typeof stateDir === "string" ? { stateDir } : {}),
      ...(queueLimit !== undefined ? { queueLimit } : {}),
      signal: controller.signal,
      onLog: log,
    });
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
  const unguard = guardSocketErrors(log);
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  try {
    await bridge.run();
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      throw error;
    }
    throw new CliFailure(error instanceof Error ? error.message.split("\n")[0]! : String(error));
  } finally {
    Deno.removeSignalListener("SIGTERM", stop);
    Deno.removeSignalListener("SIGINT", stop);
    unguard();
  }
  const c = bridge.counters;
  log(
    `Stopped: ${c.exported} forwarded, ${c.imported} imported, ${c.duplicates} duplicates and ` +
      `${c.echoes} echoes skipped, ${c.refused} refused, ${c.missed} missed`,
  );
  return Exit.OK;
}
