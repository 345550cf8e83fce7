/**
 * The `dotfiles-daemon` command line: `serve` (the default) runs the daemon;
 * `publish`, `watch`, `query` and `status` talk to a running one. A word
 * that is no subcommand is an error, never a socket dir.
 *
 * Exit codes: 0 ok, 1 daemon unreachable or runtime failure, 2 bad usage.
 * Usage errors are one line on stderr naming what to fix.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import {
  CliFailure,
  err,
  Exit,
  HELP,
  looksLikePath,
  out,
  PROG,
  unknownCommand,
  UsageError,
} from "./_usage.ts";

/** A subcommand: takes the arguments after its name, returns the exit code. */
type Command = (args: string[]) => Promise<number>;

/**
 * The subcommands, by name. Each is loaded only when it runs, so a `watch`
 * does not carry the daemon. A new subcommand is one line here (its
 * `--help` is what `help NAME` prints).
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import("./serve.ts")).serve,
  publish: async () => (await import("./_publish.ts")).publishCommand,
  watch: async () => (await import("./_watch.ts")).watchCommand,
  query: async () => (await import("./_query.ts")).queryCommand,
  status: async () => (await import("./_query.ts")).statusCommand,
  bridge: async () => (await import("./_bridge.ts")).bridgeCommand,
};

const NAMES: readonly string[] = [...Object.keys(COMMANDS), "help"];

async function help(args: string[]): Promise<number> {
  const [topic, extra] = args;
  if (extra !== undefined) {
    throw new UsageError(`Unexpected argument '${extra}': '${PROG} help [COMMAND]'`);
  }
  if (topic === undefined) {
    await out(HELP.main!);
    return Exit.OK;
  }
  const load = Object.hasOwn(COMMANDS, topic) ? COMMANDS[topic] : undefined;
  if (load === undefined) throw unknownCommand(topic, Object.keys(COMMANDS));
  return await (await load())(["--help"]);
}

/**
 * Runs the command line and returns the exit code; `main.ts` passes it to
 * `Deno.exit`. The first argument picks the subcommand; a path (a socket
 * dir: it has a `/` or starts with `.` or `~`), a flag or nothing runs the
 * daemon with all arguments; any other word is an unknown command (exit 2,
 * with the closest name), never a socket dir.
 *
 * @param args The arguments, as `Deno.args`.
 * @returns 0 ok, 1 daemon unreachable or runtime failure, 2 bad usage.
 *
 * @example Usage
 * ```ts ignore
 * import { main } from "./cli/main.ts";
 * Deno.exit(await main(["status"]));
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  try {
    if (first === "--help" || first === "-h") return await help([]);
    if (first === "--version" || first === "-V") {
      await out(`${PROG} ${denoJson.version}\n`);
      return Exit.OK;
    }
    if (first === "help") return await help(rest);
    if (first === undefined || first.startsWith("-") || looksLikePath(first)) {
      return await (await COMMANDS.serve!())(args);
    }
    const load = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
    if (load === undefined) throw unknownCommand(first, NAMES);
    return await (await load())(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      err(`${PROG}: ${error.message}`);
      return Exit.USAGE;
    }
    if (error instanceof CliFailure) {
      err(`${PROG}: ${error.message}`);
      return error.code;
    }
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      err(`${PROG}: ${error.message.split("\n")[0]}`);
      return Exit.FAILURE;
    }
    throw error;
  }
}
