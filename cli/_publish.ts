/**
 * `publish EVENT_TYPE`: sends messages built from flags, or JSON lines read
 * from stdin, through the publisher library.
 *
 * @module
 */

import { DaemonPublisher } from "../publisher/mod.ts";
import {
  isValidEventType,
  type JsonObject,
  type Message,
  MessageBuilder,
  SocketNames,
  validateMessage,
} from "../protocol/mod.ts";
import {
  CliFailure,
  err,
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

const MODES = ["state", "started", "progress", "completed", "failed", "payload"] as const;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function need(values: Record<string, unknown>, flag: string, mode: string): string {
  const value = values[flag];
  if (typeof value !== "string" || value === "") {
    throw new UsageError(`Missing --${flag}: --${mode} needs --${flag} ${flag.toUpperCase()}`);
  }
  return value;
}

/** Turns a `Cannot build ...` TypeError from MessageBuilder into usage. */
function build(fn: () => Message): Message {
  try {
    return fn();
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) {
      throw new UsageError(error.message);
    }
    throw error;
  }
}

/**
 * Builds the messages the flags describe.
 *
 * @param eventType The event type.
 * @param values The parsed flags.
 * @returns The messages, in order.
 */
export function messagesFromFlags(
  eventType: string,
  values: Record<string, string | boolean | string[] | undefined>,
): Message[] {
  const modes = MODES.filter((m) => values[m] !== undefined);
  if (modes.length > 1) {
    throw new UsageError(
      `Conflicting flags --${modes.join(", --")}: give one kind of message per call`,
    );
  }
  const mode = modes[0];
  const operationId = typeof values.operation === "string" ? values.operation : undefined;
  const params = (values.param as string[] | undefined) ?? [];
  if (params.length > 0 && mode !== "started") {
    throw new UsageError("Unexpected --param: it sets the parameters of --started only");
  }
  switch (mode) {
    case "state":
      return (values.state as string[]).map((kv) => {
        const [stateKey, value] = keyValue("--state", kv);
        const stateValue = isObject(value) ? value : { value };
        return build(() => MessageBuilder.stateUpdate({ eventType, stateKey, stateValue }));
      });
    case "started": {
      const parameters: JsonObject = {};
      for (const kv of params) {
        const [k, v] = keyValue("--param", kv);
        parameters[k] = v;
      }
      return [build(() =>
        MessageBuilder.operationStarted({
          eventType,
          operationId: need(values, "operation", mode),
          operationName: values.started as string,
          ...(params.length > 0 ? { parameters } : {}),
        })
      )];
    }
    case "progress": {
      const overall = numberFlag("--progress", values.progress as string, 0, 100);
      const stepProgress = typeof values["step-progress"] === "string"
        ? numberFlag("--step-progress", values["step-progress"], 0, 100)
        : overall;
      const stepId = need(values, "step", mode);
      const id = need(values, "operation", mode);
      return [build(() =>
        MessageBuilder.operationProgress({
          eventType,
          operationId: id,
          stepId,
          stepProgress,
          overallProgress: overall,
          ...(typeof values["step-name"] === "string" ? { stepName: values["step-name"] } : {}),
        })
      )];
    }
    case "completed": {
      const durationSeconds = typeof values.duration === "string"
        ? numberFlag("--duration", values.duration, 0, Infinity)
        : 0;
      const id = need(values, "operation", mode);
      return [
        build(() =>
          MessageBuilder.operationCompleted({ eventType, operationId: id, durationSeconds })
        ),
      ];
    }
    case "failed": {
      const errorMessage = need(values, "message", mode);
      const id = need(values, "operation", mode);
      return [build(() =>
        MessageBuilder.operationFailed({
          eventType,
          operationId: id,
          errorCode: values.failed as string,
          errorMessage,
        })
      )];
    }
    case "payload": {
      let payload: unknown;
      try {
        payload = JSON.parse(values.payload as string);
      } catch {
        throw new UsageError(
          `Cannot read --payload: expected a JSON object, received invalid JSON`,
        );
      }
      if (!isObject(payload) || typeof payload.type !== "string" || payload.type === "") {
        throw new UsageError(`Cannot read --payload: expected a JSON object with a "type" string`);
      }
      return [{
        message_id: crypto.randomUUID(),
        timestamp: new Date().toISOString(),
        event_type: eventType,
        payload: payload as Message["payload"],
      }];
    }
    default:
      if (operationId !== undefined) {
        throw new UsageError(
          "Unexpected --operation alone: add --started, --progress, --completed or --failed",
        );
      }
      return [];
  }
}

/**
 * Reads one stdin line into a message.
 *
 * @param line The line's text.
 * @param eventType The event type from the command line, if any.
 * @returns The message.
 */
export function messageFromLine(line: string, eventType: string | undefined): Message {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new SyntaxError("expected a JSON object, received invalid JSON");
  }
  if (!isObject(value)) throw new TypeError("expected a JSON object");
  let candidate: JsonObject;
  if (isObject(value.payload)) {
    candidate = { ...value };
    if (candidate.event_type === undefined) {
      if (eventType === undefined) {
        throw new TypeError("message has no event_type and none was given on the command line");
      }
      candidate.event_type = eventType;
    }
  } else if (typeof value.type === "string") {
    if (eventType === undefined) {
      throw new TypeError("a bare payload needs EVENT_TYPE on the command line");
    }
    candidate = { event_type: eventType, payload: value };
  } else {
    throw new TypeError(`expected a message with "payload" or a payload with "type"`);
  }
  candidate.message_id ??= crypto.randomUUID();
  candidate.timestamp ??= new Date().toISOString();
  const checked = validateMessage(candidate);
  if (!checked.ok) throw new TypeError(checked.error.message);
  return checked.message;
}

async function* stdinLines(): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let i: number;
    while ((i = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, i);
      rest = rest.slice(i + 1);
    }
  }
  if (rest !== "") yield rest;
}

/** `--timeout`'s default, in seconds (the help text says the same; a test checks). */
export const PUBLISH_TIMEOUT_SECONDS = 2;

/** Printed to stderr before `publish` reads a terminal's stdin. */
export const STDIN_HINT = `${PROG} publish: reading JSON lines from stdin, Ctrl-D to end ` +
  "(to send one message, give --state, --started, --progress, --completed, --failed or --payload)";

/**
 * The one line for a publish that reached no daemon: where it looked, the
 * reason in a few words (from the publisher's warning, without its advice),
 * and what to do.
 *
 * @param path The command socket.
 * @param warning The publisher's first warning, if any.
 * @returns The line.
 */
export function unreachableText(path: string, warning: string | undefined): string {
  const reason = warning?.match(/': ([^;]*)/)?.[1]?.replace(/\s*\([^)]*\)$/, "");
  return `Cannot publish: no daemon answers at ${path}${
    reason ? ` (${reason})` : ""
  }; start it with '${PROG} serve' or pass --socket-dir`;
}

/**
 * Runs `publish`.
 *
 * @param args The arguments after `publish`.
 * @returns The exit code.
 */
export async function publishCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse("publish", args, {
    state: { type: "string", multiple: true },
    started: { type: "string" },
    progress: { type: "string" },
    step: { type: "string" },
    "step-progress": { type: "string" },
    "step-name": { type: "string" },
    completed: { type: "boolean" },
    duration: { type: "string" },
    failed: { type: "string" },
    message: { type: "string" },
    operation: { type: "string" },
    param: { type: "string", multiple: true, short: "p" },
    payload: { type: "string" },
    quiet: { type: "boolean", short: "q" },
    timeout: { type: "string" },
  });
  if (values.help) {
    await out(HELP.publish!);
    return Exit.OK;
  }
  if (positionals.length > 1) {
    throw new UsageError(
      `Unexpected argument '${positionals[1]}': publish takes one EVENT_TYPE`,
    );
  }
  const eventType = positionals[0];
  if (eventType !== undefined && !isValidEventType(eventType)) {
    throw new UsageError(
      `Invalid EVENT_TYPE '${eventType}': use letters, digits, '_', '.' or '-' (at most 64, not starting with a symbol)`,
    );
  }
  const socketDir = socketDirOf(values["socket-dir"]);
  const quiet = values.quiet === true;
  const timeout = typeof values.timeout === "string"
    ? numberFlag("--timeout", values.timeout, 0.001, 3600)
    : PUBLISH_TIMEOUT_SECONDS;

  const anyMode = MODES.some((m) => values[m] !== undefined);
  if (anyMode && eventType === undefined) {
    throw new UsageError(`Missing EVENT_TYPE: '${PROG} publish EVENT_TYPE --state k=v'`);
  }
  const fromFlags = messagesFromFlags(eventType ?? "", values);
  const fromStdin = fromFlags.length === 0;

  const warnings: string[] = [];
  await using publisher = new DaemonPublisher({
    socketDir,
    connectionTimeout: timeout * 1000,
    onWarning: (text) => warnings.push(text),
  });
  const unreachable = (): number => {
    if (quiet) return Exit.OK;
    throw new CliFailure(
      unreachableText(`${socketDir}/${SocketNames.COMMAND}`, warnings[0]),
    );
  };
  if (!await publisher.connect()) return unreachable();
  if (fromStdin && !quiet && Deno.stdin.isTerminal()) err(STDIN_HINT);

  if (!fromStdin) {
    for (const message of fromFlags) {
      if (!await publisher.publish(message)) return unreachable();
    }
    return Exit.OK;
  }

  let lineNo = 0;
  let bad = 0;
  let lost = 0;
  for await (const raw of stdinLines()) {
    lineNo++;
    const line = raw.trim();
    if (line === "") continue;
    let message: Message;
    try {
      message = messageFromLine(line, eventType);
    } catch (error) {
      bad++;
      if (!quiet) {
        err(`Skipped stdin line ${lineNo}: ${error instanceof Error ? error.message : error}`);
      }
      continue;
    }
    if (!await publisher.publish(message)) lost++;
  }
  if (lost > 0) {
    if (quiet) return bad > 0 ? Exit.USAGE : Exit.OK;
    throw new CliFailure(
      `Cannot publish: ${lost} message(s) not sent, the daemon at ${socketDir} stopped answering`,
    );
  }
  return bad > 0 ? Exit.USAGE : Exit.OK;
}
