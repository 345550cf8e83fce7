/**
 * Shared CLI plumbing: the usage error, argument parsing with one-line
 * errors, output helpers and the help texts.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { resolveSocketDir } from "../transport/mod.ts";

/** The command name shown in help and errors. */
export const PROG = "dotfiles-daemon";

/** Exit codes. */
export const Exit = { OK: 0, FAILURE: 1, USAGE: 2 } as const;

/**
 * Bad usage: printed as one line to stderr, exit code 2. The message names
 * what to fix.
 */
export class UsageError extends Error {
  /**
   * @param message One line naming what to fix.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * A runtime failure already explained in one line (daemon unreachable, a
 * query error): printed to stderr, exit code 1.
 */
export class CliFailure extends Error {
  /** The exit code to use. */
  readonly code: number;
  /**
   * @param message One line saying what failed.
   * @param code The exit code.
   */
  constructor(message: string, code: number = Exit.FAILURE) {
    super(message);
    this.name = "CliFailure";
    this.code = code;
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parsed flags: strings, booleans and repeated strings. */
export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** The `--socket-dir` and `--help` options every subcommand takes. */
export const COMMON_OPTIONS: Options = {
  "socket-dir": { type: "string" },
  help: { type: "boolean", short: "h" },
};

/**
 * `parseArgs({ strict: true })` with node's long error messages turned into
 * one line that points at the subcommand's help.
 *
 * @param command The subcommand, for the error message.
 * @param args The arguments after the subcommand.
 * @param options Its options (the common ones are added).
 * @returns The parsed values and positionals.
 */
export function parse(command: string, args: string[], options: Options): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...COMMON_OPTIONS, ...options },
      strict: true,
      allowPositionals: true,
    });
    return { values: values as Parsed["values"], positionals };
  } catch (error) {
    const first = parseArgsMessage(error);
    if (first !== undefined) throw new UsageError(`${first}: see '${PROG} ${command} --help'`);
    throw error;
  }
}

/**
 * The first sentence of a `node:util` `parseArgs` error (`Unknown option
 * '--x'`), without its advice about `--`; `undefined` for any other error.
 *
 * @param error What `parseArgs` threw.
 * @returns The sentence, or `undefined`.
 */
export function parseArgsMessage(error: unknown): string | undefined {
  if (!(error instanceof TypeError && "code" in error)) return undefined;
  return error.message.split(/\.\s/)[0]!.replace(/\.$/, "");
}

/**
 * Whether a positional argument is meant as a directory: it contains `/`
 * or starts with `.` or `~`. A bare word (`stauts`) is not, so a typo is
 * never taken for a socket dir.
 *
 * @param arg The argument.
 * @returns `true` for `./x`, `../x`, `~/x`, `a/b`, `/abs`.
 */
export function looksLikePath(arg: string): boolean {
  return arg.includes("/") || arg.startsWith(".") || arg.startsWith("~");
}

/** Edit distance (insertions, deletions, substitutions, swaps of neighbours). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The closest of `names` to a mistyped `word`, if one is close enough
 * (at most 2 edits, and fewer than half the word's letters), else the one
 * name the word begins.
 *
 * @param word What was typed.
 * @param names The valid names.
 * @returns The suggestion, or `undefined`.
 */
export function closest(word: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of names) {
    const n = distance(word.toLowerCase(), name);
    if (n < bestDistance) [best, bestDistance] = [name, n];
  }
  if (bestDistance <= 2 && bestDistance * 2 < word.length) return best;
  const prefixed = names.filter((name) => word.length >= 2 && name.startsWith(word.toLowerCase()));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/**
 * The error for a word that is no subcommand: with a suggestion when one
 * is close, else the list.
 *
 * @param word What was typed.
 * @param names The subcommands.
 * @returns The usage error.
 */
export function unknownCommand(word: string, names: readonly string[]): UsageError {
  const near = closest(word, names);
  if (near !== undefined) {
    return new UsageError(`Unknown command '${word}'; did you mean '${near}'?`);
  }
  return new UsageError(
    `Unknown command '${word}': use ${names.join(", ")}, or './${word}' for a socket dir`,
  );
}

/**
 * The socket directory: `--socket-dir`, else the daemon's own default.
 *
 * @param value The `--socket-dir` value.
 * @returns An absolute-ish directory path.
 */
export function socketDirOf(value: unknown): string {
  if (typeof value === "string") {
    if (value === "") throw new UsageError("Empty --socket-dir: give a directory path");
    return value.replace(/(.)\/+$/, "$1");
  }
  try {
    return resolveSocketDir();
  } catch (error) {
    throw new UsageError(
      `Cannot find the socket directory: ${
        error instanceof Error ? error.message.replace(/^Cannot find default directory: /, "") : ""
      }; pass --socket-dir`,
    );
  }
}

/**
 * Parses `k=v`: the value as JSON when it parses, else as a string.
 *
 * @param flag The flag name, for errors.
 * @param text The `k=v` text.
 * @returns The key and value.
 */
export function keyValue(flag: string, text: string): [string, unknown] {
  const i = text.indexOf("=");
  if (i <= 0) throw new UsageError(`Cannot read ${flag} '${text}': expected KEY=VALUE`);
  return [text.slice(0, i), jsonOrString(text.slice(i + 1))];
}

/**
 * The value as JSON when it parses, else the string itself.
 *
 * @param text The text.
 * @returns The parsed value.
 */
export function jsonOrString(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * A number in a range from a flag.
 *
 * @param flag The flag name, for errors.
 * @param text The flag's value.
 * @param min Smallest allowed.
 * @param max Largest allowed.
 * @returns The number.
 */
export function numberFlag(flag: string, text: string, min: number, max: number): number {
  const n = text.trim() === "" ? Number.NaN : Number(text);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(
      `Cannot read ${flag} '${text}': expected a number from ${min} to ${
        max === Infinity ? "any" : max
      }`,
    );
  }
  return n;
}

const encoder = new TextEncoder();

/**
 * Writes text to stdout at once (no buffering), all of it.
 *
 * @param text The text.
 */
export async function out(text: string): Promise<void> {
  let bytes = encoder.encode(text);
  while (bytes.length > 0) {
    const n = await Deno.stdout.write(bytes);
    bytes = bytes.subarray(n);
  }
}

/**
 * Writes one line to stderr.
 *
 * @param line The line (a newline is added).
 */
export function err(line: string): void {
  // deno-lint-ignore no-console
  console.error(line);
}

/** Help text per subcommand. */
export const HELP: Record<string, string> = {
  main: `${PROG}: an event router for dotfiles managers and status bars

Usage:
  ${PROG} [serve] [SOCKET_DIR] [DAEMON FLAGS]   run the daemon (default)
  ${PROG} publish EVENT_TYPE FLAGS             send an event
  ${PROG} watch EVENT_TYPE...|--all [--format pretty|json|waybar]
  ${PROG} query QUERY_TYPE [--event-type T] [--param k=v ...]
  ${PROG} status                               is the daemon up? what does it do?
  ${PROG} help [COMMAND]                       help for a command
  ${PROG} --version

Every command takes --socket-dir DIR (default: $XDG_CACHE_HOME/dotfiles/sockets,
else ~/.cache/dotfiles/sockets, as the daemon resolves it).

Exit codes: 0 ok, 1 daemon unreachable or failed, 2 bad usage.

Examples:
  ${PROG}                                      # run the daemon in the foreground
  ${PROG} publish theme --state current=dark
  ${PROG} watch --all
  ${PROG} status || systemctl --user restart dotfiles-daemon
`,
  publish: `Usage: ${PROG} publish EVENT_TYPE [FLAGS]

Sends one or more messages to the daemon. Exactly one kind of message:
  --state KEY=JSON             state_update (repeatable); a value that is not
                               a JSON object is sent as {"value": VALUE}, and
                               one that is not JSON at all as a string
  --started NAME --operation ID [--param k=v ...]
                               operation_started (params become 'parameters')
  --progress PCT --step STEP [--step-progress PCT] [--step-name TEXT]
      --operation ID           operation_progress (step progress defaults to PCT)
  --completed --operation ID [--duration SECONDS]
                               operation_completed (duration defaults to 0)
  --failed CODE --message TEXT --operation ID
                               operation_failed
  --payload JSON               any payload object, with its "type"
  (none of these)              JSON lines on stdin: each a whole message, or
                               a payload (with "type") for EVENT_TYPE; with
                               whole messages EVENT_TYPE may be left out

Options:
  --quiet, -q                  print nothing and exit 0 when no daemon answers
                               (bad usage still exits 2)
  --timeout SECONDS            connection timeout (default 2)
  --socket-dir DIR             the daemon's socket directory

Exit codes: 0 sent, 1 daemon unreachable, 2 bad usage.

Examples:
  ${PROG} publish theme --state current='{"name":"nord","dark":true}'
  ${PROG} publish volume --state level=42
  ${PROG} publish wallpaper --started "set wallpaper" --operation w1
  ${PROG} publish wallpaper --progress 40 --step resize --operation w1
  ${PROG} publish wallpaper --completed --operation w1 --duration 2.5
  ${PROG} publish backup --failed E_DISK --message "disk full" --operation b7
  echo '{"type":"state_update","state_key":"k","state_value":{}}' | ${PROG} publish demo
`,
  watch: `Usage: ${PROG} watch EVENT_TYPE... | --all [OPTIONS]

Follows events as they are routed, across daemon restarts (missed events are
filled in from the daemon's history).

Options:
  --all, -a                    every event type (the events.sock firehose)
  --format pretty|json|waybar  output (default: pretty on a terminal, json
                               when stdout is a pipe or file)
        pretty                 a live progress bar per running operation
                               (name, percent, step, elapsed); finished ones
                               as one ✓/✗ line with the duration; state as
                               "[type] key = value". Plain lines, one per
                               event, when stdout is not a terminal or
                               NO_COLOR is set
        json                   one message per line, flushed at once (for jq)
        waybar                 one JSON object per line: text, alt and class
                               (running, completed, failed, idle,
                               disconnected), tooltip and percentage; text and
                               tooltip are Pango-escaped; starts with the
                               current state; implies --initial
  --initial                    print the current state and running operations
                               first (json: as messages marked "initial": true)
  --state-key KEY              waybar: the state key the idle text shows
                               (default: the one updated last)
  --state-text TEMPLATE        waybar: how the idle text shows that value:
                               {field.path} of it, {} the whole value
  --idle-text TEXT             waybar: the idle text while there is no value
  --socket-dir DIR             the daemon's socket directory

Examples:
  ${PROG} watch wallpaper theme
  ${PROG} watch --all --format json | jq -c 'select(.payload.type == "state_update")'
  ${PROG} watch wallpaper --format waybar     # waybar "exec" with "return-type": "json"
  ${PROG} watch theme --format waybar --state-key current --state-text '{name}'
`,
  query: `Usage: ${PROG} query QUERY_TYPE [--event-type T] [--param k=v ...]

Asks the daemon and prints the result object as JSON.

Query types: get_current_state (params: state_key), get_operation_status
(operation_id, status), list_event_types, get_event_history (limit,
after_seq), get_daemon_status.

Options:
  --event-type T, -e T         the event type (default "daemon"; "*" means all
                               types for get_current_state)
  --param k=v, -p k=v          a parameter (repeatable); the value is read as
                               JSON when it parses, else as a string
  --timeout SECONDS            give up after this long (default 5)
  --socket-dir DIR             the daemon's socket directory

Exit codes: 0 answered, 1 no daemon answers, 2 bad usage or a query the
daemon refused (its error is printed).

Examples:
  ${PROG} query get_current_state --event-type theme
  ${PROG} query get_current_state -e '*'
  ${PROG} query get_operation_status -e wallpaper -p status=running
  ${PROG} query get_event_history -e wallpaper -p limit=5 -p after_seq=40
  ${PROG} query list_event_types | jq -r '.event_types[].event_type'
`,
  status: `Usage: ${PROG} status [--json]

Prints a summary of the running daemon: version, pid, uptime, directories,
event types with their subscribers and counts, and its counters. Exits 1 when
no daemon answers, so it doubles as a health check.

Options:
  --json                       print get_daemon_status and list_event_types as
                               one JSON object instead
  --timeout SECONDS            give up after this long (default 2)
  --socket-dir DIR             the daemon's socket directory

Examples:
  ${PROG} status
  ${PROG} status --json | jq .daemon.uptime_seconds
  ${PROG} status >/dev/null || notify-send "dotfiles-daemon is down"
`,
};
