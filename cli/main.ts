/**
 * The `dotfiles-daemon` command line: `serve` (the default) runs the daemon;
 * `publish`, `watch`, `query` and `status` talk to a running one.
 *
 * Exit codes: 0 ok, 1 daemon unreachable or runtime failure, 2 bad usage.
 * Usage errors are one line on stderr naming what to fix.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { serve } from "./serve.ts";
import { publishCommand } from "./_publish.ts";
import { queryCommand, statusCommand } from "./_query.ts";
import { watchCommand } from "./_watch.ts";
import { CliFailure, err, Exit, HELP, out, PROG, UsageError } from "./_usage.ts";

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  publish: publishCommand,
  watch: watchCommand,
  query: queryCommand,
  status: statusCommand,
};

async function help(args: string[]): Promise<number> {
  const [topic, extra] = args;
  if (extra !== undefined) {
    throw new UsageError(`Unexpected argument '${extra}': '${PROG} help [COMMAND]'`);
  }
  if (topic === undefined) {
    await out(HELP.main!);
    return Exit.OK;
  }
  if (topic === "serve") return await serve(["--help"]);
  const text = HELP[topic];
  if (text === undefined || topic === "main") {
    throw new UsageError(
      `Unknown command '${topic}': use serve, publish, watch, query or status`,
    );
  }
  await out(text);
  return Exit.OK;
}

/**
 * Runs the command line and returns the exit code; `main.ts` passes it to
 * `Deno.exit`. The first argument picks the subcommand; anything else
 * (a socket dir, a daemon flag, nothing) runs the daemon with all arguments.
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
    if (first === "serve") return await serve(rest);
    const command = first === undefined ? undefined : COMMANDS[first];
    if (command === undefined) return await serve(args);
    return await command(rest);
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
