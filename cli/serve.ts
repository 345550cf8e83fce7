import { parseArgs } from "node:util";
import {
  DaemonAlreadyRunningError,
  type DaemonOptions,
  DotfilesDaemon,
  type LogFormat,
  type LogLevel,
  UnsafeSocketDirError,
} from "../daemon/mod.ts";
import denoJson from "../deno.json" with { type: "json" };
import { looksLikePath, parseArgsMessage } from "./_usage.ts";

/** Help for `serve`, the default subcommand. */
export const SERVE_HELP = `Usage: dotfiles-daemon [serve] [SOCKET_DIR] [options]

Runs the event daemon in the foreground until SIGINT, SIGTERM or SIGHUP,
each a clean stop (a second signal, more than half a second later, exits at
once). Logs go to stderr, one line per event.

Arguments:
  SOCKET_DIR                 socket directory (default: $XDG_CACHE_HOME/dotfiles/sockets,
                             else ~/.cache/dotfiles/sockets)

Options:
  --socket-dir DIR           same as SOCKET_DIR
  --state-dir DIR            state database directory (default: $XDG_STATE_HOME/dotfiles/daemon,
                             else ~/.local/state/dotfiles/daemon)
  --no-persist               keep state, operations and history in memory only
  --event-types a,b          event sockets to create at start-up
  --log-level LEVEL          debug | info | warn | error (default: info; debug shows each message)
  --log-format FORMAT        text | json (default: text)
  --max-message-size BYTES   largest frame body accepted (default: 1048576)
  --max-event-types N        most event types (default: 256)
  --max-connections N        connections per socket; the newest beyond is closed (default: 256)
  --max-partial-bytes BYTES  bytes half-received frames hold together (default: 67108864)
  --max-response-size BYTES  largest query answer, at least --max-message-size (default: 1048576)
  --frame-timeout SECONDS    a frame not completed by then closes its connection (default: 30)
  --subscriber-buffer BYTES  bytes queued per monitor before it is cut off (default: 8388608)
  --history-limit N          messages kept per event type (default: 1000)
  --history-bytes BYTES      history bytes kept per event type (default: 8388608)
  --max-state-value BYTES    largest state value; larger updates are dropped (default: 262144)
  --max-state-bytes BYTES    state bytes per event type (default: 4194304)
  --stale-after SECONDS      running operation without update marked failed (default: 1800)
  --strict-payloads          drop messages whose payload fails its type's schema
  -h, --help                 show this help
  -V, --version              print the version

Examples:
  dotfiles-daemon
  dotfiles-daemon /run/user/1000/dotfiles --state-dir ~/.local/state/dotfiles/daemon
  dotfiles-daemon --event-types wallpaper,backup --log-level debug --log-format json`;

/** Stop signals closer together than this are one request (see `serve`). */
const SAME_SIGNAL_MS = 500;

// deno-lint-ignore no-console
const printError = (text: string) => console.error(`dotfiles-daemon: ${text}`);

function count(name: string, value: string | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new RangeError(`--${name} must be an integer of at least ${min}, received '${value}'`);
  }
  return n;
}

function oneOf<T extends string>(
  name: string,
  value: string | undefined,
  allowed: T[],
): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as string[]).includes(value)) {
    throw new TypeError(`--${name} must be one of ${allowed.join(", ")}, received '${value}'`);
  }
  return value as T;
}

/** An absolute path: `~/` is HOME, a relative one is under the cwd; `.` and `..` resolved. */
function absolute(path: string): string {
  const home = path === "~" || path.startsWith("~/") ? Deno.env.get("HOME") : undefined;
  const full = home !== undefined
    ? `${home}${path.slice(1)}`
    : path.startsWith("/")
    ? path
    : `${Deno.cwd()}/${path}`;
  const parts: string[] = [];
  for (const part of full.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

/**
 * Parses the daemon's own flags.
 *
 * @param args The arguments after `serve` (or all of them).
 * @returns The daemon options, or `"help"` / `"version"`.
 * @throws {TypeError | RangeError} On bad usage; the message names the flag.
 */
export function parseServeArgs(args: string[]): DaemonOptions | "help" | "version" {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      "socket-dir": { type: "string" },
      "state-dir": { type: "string" },
      "no-persist": { type: "boolean" },
      "event-types": { type: "string" },
      "log-level": { type: "string" },
      "log-format": { type: "string" },
      "max-message-size": { type: "string" },
      "max-event-types": { type: "string" },
      "max-connections": { type: "string" },
      "max-partial-bytes": { type: "string" },
      "history-bytes": { type: "string" },
      "max-response-size": { type: "string" },
      "max-state-value": { type: "string" },
      "max-state-bytes": { type: "string" },
      "frame-timeout": { type: "string" },
      "subscriber-buffer": { type: "string" },
      "history-limit": { type: "string" },
      "stale-after": { type: "string" },
      "strict-payloads": { type: "boolean" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "V" },
    },
  });
  if (values.help) return "help";
  if (values.version) return "version";
  if (positionals.length > 1) {
    throw new TypeError(
      `expected at most one SOCKET_DIR, received ${positionals.length} arguments`,
    );
  }
  if (positionals.length === 1 && values["socket-dir"] !== undefined) {
    throw new TypeError("give the socket directory once: SOCKET_DIR or --socket-dir, not both");
  }
  if (positionals.length === 1 && !looksLikePath(positionals[0]!)) {
    throw new TypeError(
      `Unknown argument '${positionals[0]}': SOCKET_DIR must be a path, such as './${
        positionals[0]
      }'`,
    );
  }
  const socketDir = positionals[0] ?? values["socket-dir"];
  const eventTypes = values["event-types"]?.split(",").map((t) => t.trim()).filter((t) => t !== "");
  const staleAfter = count("stale-after", values["stale-after"]);
  const frameTimeout = count("frame-timeout", values["frame-timeout"]);
  const options: DaemonOptions = {
    ...(socketDir !== undefined ? { socketDir: absolute(socketDir) } : {}),
    ...(values["state-dir"] !== undefined ? { stateDir: absolute(values["state-dir"]) } : {}),
    ...(values["no-persist"] ? { persist: false } : {}),
    ...(eventTypes !== undefined ? { eventTypes } : {}),
    ...(values["strict-payloads"] ? { strictPayloads: true } : {}),
    ...(staleAfter !== undefined ? { staleAfter: staleAfter * 1000 } : {}),
    ...(frameTimeout !== undefined ? { frameTimeout: frameTimeout * 1000 } : {}),
  };
  const numbers: [keyof DaemonOptions, string][] = [
    ["maxMessageSize", "max-message-size"],
    ["maxEventTypes", "max-event-types"],
    ["maxConnections", "max-connections"],
    ["maxPartialFrameBytes", "max-partial-bytes"],
    ["historyBytes", "history-bytes"],
    ["maxResponseSize", "max-response-size"],
    ["maxStateValueSize", "max-state-value"],
    ["maxStateBytes", "max-state-bytes"],
    ["subscriberBufferSize", "subscriber-buffer"],
    ["historyLimit", "history-limit"],
  ];
  for (const [key, flag] of numbers) {
    const n = count(flag, values[flag as keyof typeof values] as string | undefined);
    if (n !== undefined) (options as Record<string, unknown>)[key] = n;
  }
  const logLevel = oneOf<LogLevel>("log-level", values["log-level"], [
    "debug",
    "info",
    "warn",
    "error",
  ]);
  const logFormat = oneOf<LogFormat>("log-format", values["log-format"], ["text", "json"]);
  if (logLevel !== undefined) options.logLevel = logLevel;
  if (logFormat !== undefined) options.logFormat = logFormat;
  return options;
}

/**
 * Runs the daemon in the foreground until SIGINT, SIGTERM or SIGHUP (each a
 * clean stop; the same signal delivered twice at once, as to a process group
 * under `deno task`, counts once).
 *
 * @param args The arguments after `serve`.
 * @returns The exit code: 0 after a clean stop, 1 when the daemon cannot
 * start (already running, unsafe dir, missing permission), 2 on bad usage.
 */
export async function serve(args: string[]): Promise<number> {
  let options: DaemonOptions | "help" | "version";
  try {
    options = parseServeArgs(args);
  } catch (error) {
    const text = parseArgsMessage(error) ?? (error as Error).message;
    printError(`${text}: see 'dotfiles-daemon serve --help'`);
    return 2;
  }
  if (options === "help") {
    // deno-lint-ignore no-console
    console.log(SERVE_HELP);
    return 0;
  }
  if (options === "version") {
    // deno-lint-ignore no-console
    console.log(`dotfiles-daemon ${denoJson.version}`);
    return 0;
  }
  // Listen for signals before starting: the socket files appear while start-up
  // still runs, and a signal then must stop the daemon, not kill it.
  // A stop signal often arrives twice at once: a terminal's Ctrl-C, `timeout`
  // and systemd signal the whole process group, and `deno task` forwards the
  // signal it got too. Only one that comes later than that exits at once.
  let firstSignalAt: number | null = null;
  let daemon: DotfilesDaemon | undefined;
  let running = false;
  const onSignal = () => {
    const now = performance.now();
    if (firstSignalAt === null) {
      firstSignalAt = now;
      if (running) daemon?.stop();
    } else if (now - firstSignalAt > SAME_SIGNAL_MS) {
      Deno.exit(1);
    }
  };
  const names: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const name of names) Deno.addSignalListener(name, onSignal);
  try {
    try {
      daemon = new DotfilesDaemon(options);
      await daemon.start();
    } catch (error) {
      printError(describeStartError(error));
      return 1;
    }
    running = true;
    if (firstSignalAt !== null) daemon.stop();
    await daemon.finished;
  } finally {
    for (const name of names) Deno.removeSignalListener(name, onSignal);
  }
  return 0;
}

/** One line naming what to fix. */
function describeStartError(error: unknown): string {
  if (error instanceof Deno.errors.NotCapable) {
    const first = error.message.split("\n")[0]!;
    return `missing permission: ${first}`;
  }
  if (error instanceof DaemonAlreadyRunningError || error instanceof UnsafeSocketDirError) {
    return error.message;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `operating system refused access: ${error.message.split("\n")[0]}`;
  }
  if (error instanceof TypeError || error instanceof RangeError) return error.message;
  return `cannot start: ${error instanceof Error ? error.message : String(error)}`;
}
