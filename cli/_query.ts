/**
 * `query QUERY_TYPE` and `status`: one-shot questions to `query.sock`.
 *
 * @module
 */

import { query } from "../monitor/mod.ts";
import {
  type DaemonStatusResult,
  DaemonUnavailableError,
  type EventTypesResult,
  type JsonObject,
  QueryError,
  SocketNames,
} from "../protocol/mod.ts";
import { formatDuration, parseTimestamp } from "./_format.ts";
import {
  CliFailure,
  Exit,
  HELP,
  keyValue,
  numberFlag,
  out,
  parse,
  PROG,
  socketDirOf,
  UsageError,
} from "./_usage.ts";

/** Options for {@linkcode ask}. */
interface AskOptions {
  socketDir: string;
  eventType: string;
  parameters: JsonObject;
  timeout: number;
}

/**
 * One query, with the errors turned into one-line CLI failures.
 *
 * @param queryType The query type.
 * @param options Where and what to ask.
 * @returns The result object.
 */
async function ask(queryType: string, options: AskOptions): Promise<JsonObject> {
  const { socketDir, eventType, parameters, timeout } = options;
  try {
    return await query(queryType, { socketDir, eventType, parameters, timeout });
  } catch (error) {
    if (error instanceof QueryError) {
      throw new CliFailure(
        `Cannot query ${queryType}: the daemon answered: ${error.message}`,
        Exit.USAGE,
      );
    }
    if (error instanceof DaemonUnavailableError) {
      throw new CliFailure(
        `Cannot query ${queryType}: no daemon answers at ${socketDir}/${SocketNames.QUERY}; start it with '${PROG} serve' or pass --socket-dir`,
      );
    }
    throw error;
  }
}

/** `query --timeout`'s default, in seconds (the help text says the same; a test checks). */
export const QUERY_TIMEOUT_SECONDS = 5;

/** `status --timeout`'s default, in seconds (the help text says the same; a test checks). */
export const STATUS_TIMEOUT_SECONDS = 2;

/**
 * Runs `query`.
 *
 * @param args The arguments after `query`.
 * @returns The exit code.
 */
export async function queryCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse("query", args, {
    "event-type": { type: "string", short: "e" },
    param: { type: "string", multiple: true, short: "p" },
    timeout: { type: "string" },
  });
  if (values.help) {
    await out(HELP.query!);
    return Exit.OK;
  }
  const [queryType, extra] = positionals;
  if (queryType === undefined) {
    throw new UsageError(`Missing QUERY_TYPE: e.g. '${PROG} query list_event_types'`);
  }
  if (extra !== undefined) {
    throw new UsageError(`Unexpected argument '${extra}': query takes one QUERY_TYPE`);
  }
  const parameters: JsonObject = {};
  for (const kv of (values.param as string[] | undefined) ?? []) {
    const [k, v] = keyValue("--param", kv);
    parameters[k] = v;
  }
  const result = await ask(queryType, {
    socketDir: socketDirOf(values["socket-dir"]),
    eventType: typeof values["event-type"] === "string" ? values["event-type"] : "daemon",
    parameters,
    timeout: typeof values.timeout === "string"
      ? numberFlag("--timeout", values.timeout, 0.001, 3600) * 1000
      : QUERY_TIMEOUT_SECONDS * 1000,
  });
  await out(JSON.stringify(result, null, 2) + "\n");
  return Exit.OK;
}

function counterLines(counters: DaemonStatusResult["counters"]): string[] {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(counters)) {
    if (typeof value === "number") {
      lines.push(`  ${name} ${value}`);
    } else if (typeof value === "object" && value !== null) {
      const parts = Object.entries(value).map(([k, v]) => `${k}=${v}`);
      lines.push(`  ${name} ${parts.length === 0 ? "-" : parts.join(" ")}`);
    }
  }
  return lines;
}

/**
 * The human summary `status` prints.
 *
 * @param daemon The `get_daemon_status` result.
 * @param types The `list_event_types` result.
 * @param now The clock, epoch ms.
 * @returns The text, ending in a newline.
 */
export function formatStatus(
  daemon: DaemonStatusResult,
  types: EventTypesResult,
  now: number,
): string {
  const lines = [
    `${PROG} ${daemon.version} running, pid ${daemon.pid}, up ${
      formatDuration(daemon.uptime_seconds)
    }`,
    `  sockets: ${daemon.socket_dir}`,
    `  state:   ${daemon.state_dir ?? "(not persisted)"}`,
    ...storeLines(daemon.store),
    `event types: ${types.event_types.length}`,
  ];
  const width = Math.max(4, ...types.event_types.map((t) => t.event_type.length));
  for (const t of types.event_types) {
    const at = parseTimestamp(t.last_event_at);
    const last = at === null ? "no events yet" : `last ${formatDuration((now - at) / 1000)} ago`;
    lines.push(
      `  ${t.event_type.padEnd(width)}  ${t.subscribers} subscriber${
        t.subscribers === 1 ? "" : "s"
      }, ${t.message_count} message${t.message_count === 1 ? "" : "s"}, seq ${t.last_seq}, ${last}`,
    );
  }
  const counters = counterLines(daemon.counters);
  if (counters.length > 0) lines.push("counters:", ...counters);
  return lines.join("\n") + "\n";
}

/** One line while the store fails, none while it works. */
function storeLines(store: DaemonStatusResult["store"]): string[] {
  if (store === undefined || store === null || store.ok) return [];
  return [
    `  STORE FAILING since ${store.failing_since} (${store.failed_writes} failed writes): ${store.error}; ${
      store.seqs_saved
        ? "routing goes on, seqs saved beside the database"
        : "NOT ROUTING: the seqs cannot be saved either"
    }`,
  ];
}

/**
 * Runs `status`.
 *
 * @param args The arguments after `status`.
 * @returns The exit code.
 */
export async function statusCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse("status", args, {
    json: { type: "boolean" },
    timeout: { type: "string" },
  });
  if (values.help) {
    await out(HELP.status!);
    return Exit.OK;
  }
  if (positionals.length > 0) {
    throw new UsageError(`Unexpected argument '${positionals[0]}': status takes no arguments`);
  }
  const options = {
    socketDir: socketDirOf(values["socket-dir"]),
    eventType: "daemon",
    parameters: {},
    timeout: typeof values.timeout === "string"
      ? numberFlag("--timeout", values.timeout, 0.001, 3600) * 1000
      : STATUS_TIMEOUT_SECONDS * 1000,
  };
  const daemon = await ask("get_daemon_status", options) as unknown as DaemonStatusResult;
  const types = await ask("list_event_types", options) as unknown as EventTypesResult;
  if (values.json) {
    await out(JSON.stringify({ daemon, event_types: types.event_types }, null, 2) + "\n");
  } else {
    await out(formatStatus(daemon, types, Date.now()));
  }
  return Exit.OK;
}
