/**
 * `watch EVENT_TYPE… | --all`: follows events through the monitor client
 * (which reconnects and refills from history by `seq`) and prints them as
 * `pretty`, `json` or `waybar`.
 *
 * @module
 */

import {
  subscribe,
  subscribeAll,
  type Subscription,
  type SubscriptionEvent,
} from "../monitor/mod.ts";
// Protocol files one by one: protocol/mod.ts would load the schema library
// (zod, about 13 MiB of RSS) that no watch format needs.
import { DaemonUnavailableError } from "../protocol/errors.ts";
import type { Message } from "../protocol/message.ts";
import { isValidEventType } from "../protocol/socket_paths.ts";
import { PrettyRenderer, terminalHeight, terminalWidth } from "./_render_pretty.ts";
import { WaybarRenderer, type WaybarRendererOptions } from "./_render_waybar.ts";
import { snapshot } from "./_snapshot.ts";
import { templateError } from "./_format.ts";
import { err, Exit, HELP, out, parse, PROG, socketDirOf, UsageError } from "./_usage.ts";

const FORMATS = ["pretty", "json", "waybar"] as const;
type Format = typeof FORMATS[number];

/** Where `watch` output goes: one implementation per format. */
interface Sink {
  message(message: Message): Promise<void>;
  snapshot(messages: Message[]): Promise<void>;
  connected(up: boolean): Promise<void>;
  gap(eventType: string, count: number): Promise<void>;
  close(): void;
}

function jsonSink(): Sink {
  let down = false;
  return {
    async message(message: Message): Promise<void> {
      await out(JSON.stringify(message) + "\n");
    },
    async snapshot(messages: Message[]): Promise<void> {
      if (messages.length === 0) return;
      await out(messages.map((m) => JSON.stringify(m) + "\n").join(""));
    },
    connected(up: boolean): Promise<void> {
      if (!up && !down) err(`${PROG} watch: the daemon is not answering; waiting for it`);
      if (up && down) err(`${PROG} watch: connected`);
      down = !up;
      return Promise.resolve();
    },
    gap(eventType: string, count: number): Promise<void> {
      err(`${PROG} watch: ${count} ${eventType} event(s) missed, no longer kept by the daemon`);
      return Promise.resolve();
    },
    close(): void {},
  };
}

function waybarSink(options: WaybarRendererOptions): Sink {
  const renderer = new WaybarRenderer(options);
  let last = "";
  async function emit(): Promise<void> {
    const line = JSON.stringify(renderer.output());
    if (line === last) return;
    last = line;
    await out(line + "\n");
  }
  return {
    async message(message: Message): Promise<void> {
      renderer.apply(message);
      await emit();
    },
    async snapshot(messages: Message[]): Promise<void> {
      renderer.reset();
      for (const m of messages) renderer.apply(m);
      await emit();
    },
    async connected(up: boolean): Promise<void> {
      renderer.setConnected(up);
      await emit();
    },
    gap(): Promise<void> {
      return Promise.resolve();
    },
    close(): void {},
  };
}

function plainSink(): Sink {
  const renderer = new PrettyRenderer();
  let down = false;
  return {
    async message(message: Message): Promise<void> {
      const lines = renderer.plain(message);
      if (lines.length > 0) await out(lines.join("\n") + "\n");
    },
    async snapshot(messages: Message[]): Promise<void> {
      for (const m of messages) await this.message(m);
    },
    async connected(up: boolean): Promise<void> {
      if (!up && !down) await out("-- daemon not answering, waiting\n");
      if (up && down) await out("-- connected\n");
      down = !up;
    },
    async gap(eventType: string, count: number): Promise<void> {
      await out(`-- ${count} ${eventType} event(s) missed, no longer kept by the daemon\n`);
    },
    close(): void {},
  };
}

async function liveSink(): Promise<Sink> {
  // Loaded only for a live terminal, so pipes and tests never pull it in.
  const { createLogUpdate } = await import("log-update");
  const encoder = new TextEncoder();
  // A minimal stream for log-update over Deno.stdout (no node:process).
  const stdout = {
    isTTY: true,
    get columns(): number {
      return terminalWidth(Deno.consoleSize().columns);
    },
    get rows(): number {
      return terminalHeight(Deno.consoleSize().rows);
    },
    write(text: string): boolean {
      let bytes = encoder.encode(text);
      while (bytes.length > 0) bytes = bytes.subarray(Deno.stdout.writeSync(bytes));
      return true;
    },
  };
  const update = createLogUpdate(stdout as unknown as Parameters<typeof createLogUpdate>[0]);
  const renderer = new PrettyRenderer({ color: true });
  let timer: ReturnType<typeof setInterval> | undefined;
  let down = false;
  function draw(): void {
    const frame = renderer.frame({ now: Date.now(), width: stdout.columns });
    if (frame === "") update.clear();
    else update(frame);
    if (renderer.operations.length > 0 && timer === undefined) {
      timer = setInterval(draw, 1000);
    } else if (renderer.operations.length === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  }
  function persist(lines: string[]): void {
    if (lines.length > 0) update.persist(lines.join("\n"));
    draw();
  }
  return {
    message(message: Message): Promise<void> {
      persist(renderer.apply(message));
      return Promise.resolve();
    },
    snapshot(messages: Message[]): Promise<void> {
      persist(messages.flatMap((m) => renderer.apply(m)));
      return Promise.resolve();
    },
    connected(up: boolean): Promise<void> {
      if (!up && !down) persist(["-- daemon not answering, waiting"]);
      if (up && down) persist(["-- connected"]);
      down = !up;
      return Promise.resolve();
    },
    gap(eventType: string, count: number): Promise<void> {
      persist([`-- ${count} ${eventType} event(s) missed, no longer kept by the daemon`]);
      return Promise.resolve();
    },
    close(): void {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      update.done();
    },
  };
}

/**
 * Interleaves several async iterables, in arrival order; ends when all end.
 * When the consumer stops early, `stop` runs first: a source suspended in a
 * read only returns once that read ends, so awaiting it before stopping the
 * sources would wait for the next event (a `watch` whose reader went away
 * would then outlive it until its type's next event).
 *
 * @param iterables The sources.
 * @param stop Ends every source's pending read.
 * @returns One iterable of everything.
 */
async function* merge<T>(iterables: AsyncIterable<T>[], stop: () => void): AsyncGenerator<T> {
  const iterators = iterables.map((it) => it[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ i: number; r: IteratorResult<T> }>>();
  const pull = (i: number): void => {
    pending.set(i, iterators[i]!.next().then((r) => ({ i, r })));
  };
  iterators.forEach((_, i) => pull(i));
  try {
    while (pending.size > 0) {
      const { i, r } = await Promise.race(pending.values());
      pending.delete(i);
      if (r.done) continue;
      pull(i);
      yield r.value;
    }
  } finally {
    stop();
    await Promise.allSettled(iterators.map((it) => it.return?.()));
  }
}

/**
 * The subscriptions of `watch`, resuming from a snapshot's `lastSeqs` when
 * one was taken: a type the snapshot did not list had no message yet, so it
 * starts at its first (`since: 0`; with `--all`, `sinceIsComplete`),
 * whenever that was stamped. Without that,
 * its start would be the subscription's creation time, after the first line
 * was printed: a message routed in between (or stamped in that millisecond)
 * would be lost.
 *
 * @param types The event types, or `null` for all.
 * @param lastSeqs The snapshot's last `seq` per listed type, or `null`.
 * @param options Socket directory and signal.
 * @returns One subscription per type (one for all).
 */
export function subscribeAfter(
  types: string[] | null,
  lastSeqs: Record<string, number> | null,
  options: { socketDir: string; signal: AbortSignal },
): Subscription[] {
  if (types === null) {
    return [
      subscribeAll({
        ...options,
        ...(lastSeqs === null ? {} : { since: lastSeqs, sinceIsComplete: true }),
      }),
    ];
  }
  return types.map((type) =>
    subscribe(type, { ...options, ...(lastSeqs === null ? {} : { since: lastSeqs[type] ?? 0 }) })
  );
}

/**
 * Runs `watch`.
 *
 * @param args The arguments after `watch`.
 * @returns The exit code.
 */
export async function watchCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse("watch", args, {
    all: { type: "boolean", short: "a" },
    format: { type: "string", short: "f" },
    initial: { type: "boolean" },
    "state-key": { type: "string" },
    "state-text": { type: "string" },
    "idle-text": { type: "string" },
  });
  if (values.help) {
    await out(HELP.watch!);
    return Exit.OK;
  }
  const all = values.all === true;
  if (all && positionals.length > 0) {
    throw new UsageError("Conflicting --all and EVENT_TYPE: give event types or --all, not both");
  }
  if (!all && positionals.length === 0) {
    throw new UsageError(
      `Missing EVENT_TYPE: e.g. '${PROG} watch wallpaper' or '${PROG} watch --all'`,
    );
  }
  for (const type of positionals) {
    if (!isValidEventType(type)) {
      throw new UsageError(
        `Invalid EVENT_TYPE '${type}': use letters, digits, '_', '.' or '-' (at most 64, not starting with a symbol)`,
      );
    }
  }
  const format: Format = typeof values.format === "string"
    ? FORMATS.find((f) => f === values.format) ??
      (() => {
        throw new UsageError(
          `Unknown --format '${values.format}': use pretty, json or waybar`,
        );
      })()
    : Deno.stdout.isTerminal()
    ? "pretty"
    : "json";
  const socketDir = socketDirOf(values["socket-dir"]);
  const waybarOptions: WaybarRendererOptions = { socketDir };
  for (const flag of ["state-key", "state-text", "idle-text"] as const) {
    const value = values[flag];
    if (typeof value !== "string") continue;
    if (format !== "waybar") {
      throw new UsageError(`Cannot use --${flag} with --format ${format}: it shapes waybar output`);
    }
    if (flag === "state-key") waybarOptions.stateKey = value;
    if (flag === "idle-text") waybarOptions.idleText = value;
    if (flag === "state-text") {
      const problem = templateError(value);
      if (problem !== null) throw new UsageError(`Invalid --state-text '${value}': ${problem}`);
      waybarOptions.stateText = value;
    }
  }
  const initial = values.initial === true || format === "waybar";
  const types = all ? null : [...new Set(positionals)];

  const controller = new AbortController();
  const { signal } = controller;
  const stop = (): void => controller.abort();
  // SIGHUP: the terminal or the session that ran us is gone.
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of signals) Deno.addSignalListener(s, stop);

  const live = format === "pretty" && Deno.stdout.isTerminal() &&
    (Deno.env.get("NO_COLOR") ?? "") === "";
  const sink = format === "json"
    ? jsonSink()
    : format === "waybar"
    ? waybarSink(waybarOptions)
    : live
    ? await liveSink()
    : plainSink();

  let subscriptions: Subscription[] = [];
  let snapshotted = false;
  /**
   * Each type's last `seq` that the latest snapshot already shows: after a
   * reconnect the subscription catches up from history, and drawing those
   * messages again after the snapshot made a bar flicker through them.
   */
  let shown: Record<string, number> = {};
  async function takeSnapshot(): Promise<Record<string, number> | null> {
    try {
      const { messages, lastSeqs } = await snapshot(types, {
        socketDir,
        signal,
        lastFinished: format === "waybar",
      });
      await sink.snapshot(messages);
      shown = lastSeqs;
      snapshotted = true;
      await sink.connected(true);
      return lastSeqs;
    } catch (error) {
      if (error instanceof DaemonUnavailableError) await sink.connected(false);
      else if (!signal.aborted) throw error;
      return null;
    }
  }

  try {
    // Resume from the snapshot's seqs so nothing between the two is lost.
    const since = initial ? await takeSnapshot() : null;
    // The subscriptions start after that snapshot's seqs, so their first
    // `connected` misses nothing: a second snapshot then only redrew the
    // bar (and, with messages routed in between, drew them out of order).
    let justSnapshotted = since !== null;
    subscriptions = subscribeAfter(types, since, { socketDir, signal });
    const events = merge<SubscriptionEvent>(subscriptions.map((s) => s.events()), stop);
    for await (const event of events) {
      if (signal.aborted) break;
      switch (event.type) {
        case "message": {
          const { seq, event_type: type } = event.message;
          if (typeof seq === "number" && seq <= (shown[type] ?? 0)) break;
          await sink.message(event.message);
          break;
        }
        case "connected":
          if (!justSnapshotted && (format === "waybar" || (initial && !snapshotted))) {
            await takeSnapshot();
          } else await sink.connected(true);
          justSnapshotted = false;
          break;
        case "disconnected":
          justSnapshotted = false;
          await sink.connected(false);
          break;
        case "gap":
          await sink.gap(event.eventType, event.to - event.from + 1);
          break;
      }
    }
    return Exit.OK;
  } catch (error) {
    // The reader went away (`| head`, waybar reloaded): nothing to report.
    if (error instanceof Deno.errors.BrokenPipe) return Exit.OK;
    throw error;
  } finally {
    controller.abort();
    for (const s of signals) Deno.removeSignalListener(s, stop);
    for (const s of subscriptions) s.close();
    sink.close();
  }
}
