/**
 * The bridge: a monitor and a manager of the local daemon that forwards its
 * routed messages to NATS or MQTT and, with `importing`, brings other hosts'
 * messages in as `<host>.<event_type>`. It is a separate process; the
 * daemon itself stays Unix-socket only.
 *
 * @module
 */

import {
  DEFAULT_MAX_MESSAGE_SIZE,
  defaultSocketDir,
  defaultStateDir,
  encodeFrame,
  FRAME_HEADER_SIZE,
  isValidEventType,
  type Message,
  validateMessage,
} from "../protocol/mod.ts";
import { getEventHistory, listEventTypes, subscribeAll } from "../monitor/mod.ts";
import { DaemonPublisher } from "../publisher/mod.ts";
import { isPermissionError, sleep } from "../transport/mod.ts";
import { type BrokerUrl, parseBrokerUrl } from "./broker_url.ts";
import { bridgeHostName, HOST_REGEXP, resumeFileName } from "./naming.ts";
import { BridgeLog, stderrSink } from "./_log.ts";
import { emptyResume, loadResume, type ResumeState, saveResume } from "./_resume.ts";
import {
  BrokerError,
  type BrokerLink,
  errorText,
  type Incoming,
  type LinkConfig,
} from "./_link.ts";

const BATCH = 256;
const decoder = new TextDecoder();

/**
 * Options of {@linkcode Bridge}.
 *
 * @example
 * ```ts
 * import type { BridgeOptions } from "./bridge.ts";
 * import assert from "node:assert/strict";
 *
 * const options: BridgeOptions = { url: "nats://127.0.0.1:4222", host: "laptop", importing: true };
 * assert.equal(options.host, "laptop");
 * ```
 */
export interface BridgeOptions {
  /** The broker: `nats://HOST:PORT`, `tls://`, `mqtt://HOST:PORT` or `mqtts://`. */
  url: string;
  /**
   * The local daemon's socket directory.
   *
   * @default {defaultSocketDir(Deno.env.get)}
   */
  socketDir?: string;
  /**
   * This machine's name on the broker, `[A-Za-z0-9-]`.
   *
   * @default {the host name, reduced to [A-Za-z0-9-]}
   */
  host?: string;
  /**
   * The local event types to forward; every type when absent (imported
   * types are never forwarded).
   *
   * @default {undefined}
   */
  types?: readonly string[];
  /**
   * Bring other hosts' messages into the local daemon as `<host>.<type>`.
   *
   * @default {false}
   */
  importing?: boolean;
  /**
   * Publish Home Assistant discovery configs and operation states (MQTT).
   *
   * @default {false}
   */
  homeAssistant?: boolean;
  /**
   * Where the resume file lives.
   *
   * @default {"$XDG_STATE_HOME/dotfiles/bridge" (else "~/.local/state/dotfiles/bridge")}
   */
  stateDir?: string;
  /**
   * Reads environment variables (credentials, `HOME`, XDG directories).
   *
   * @default {Deno.env.get}
   */
  env?: (name: string) => string | undefined;
  /** Stops the bridge (it saves its resume file and closes everything). */
  signal?: AbortSignal;
  /**
   * Receives each log line.
   *
   * @default {a line on stderr}
   */
  onLog?: (line: string) => void;
  /**
   * The longest wait between connection attempts, in ms (the wait starts at
   * 500 ms and doubles).
   *
   * @default {30000}
   */
  maxBackoff?: number;
  /**
   * The longest wait for a broker connection or acknowledgement, in ms.
   *
   * @default {5000}
   */
  connectTimeout?: number;
  /**
   * Messages held for the broker before the bridge lets go of the daemon's
   * firehose and catches up by `seq` later (so the daemon is never slowed).
   *
   * @default {10000}
   */
  queueLimit?: number;
  /**
   * The longest time between a confirmed message and the resume file
   * saying so, in ms.
   *
   * @default {200}
   */
  saveInterval?: number;
}

/** What a bridge has done, for logs and tests. */
export interface BridgeCounters {
  /** Messages the broker confirmed. */
  exported: number;
  /** Messages put into the local daemon as `<host>.<type>`. */
  imported: number;
  /** This host's own messages that came back from the broker. */
  echoes: number;
  /** Messages from other hosts already imported (redelivered), skipped. */
  duplicates: number;
  /** Messages the local daemon would refuse (bad envelope, name too long, too big), skipped. */
  refused: number;
  /** Messages lost because the daemon no longer kept them (gaps, by count). */
  missed: number;
  /** Times the queue for the broker filled and the bridge let go of the firehose. */
  fellBehind: number;
  /** Broker connections made. */
  connections: number;
  /** Failed connection attempts. */
  connectFailures: number;
}

/**
 * The bridge's default state directory, beside the daemon's:
 * `$XDG_STATE_HOME/dotfiles/bridge`, else `~/.local/state/dotfiles/bridge`.
 *
 * @param env Reads an environment variable (pass `Deno.env.get`).
 * @returns The directory.
 * @throws {TypeError} When neither `$XDG_STATE_HOME` nor `$HOME` is absolute.
 *
 * @example
 * ```ts
 * import { defaultBridgeStateDir } from "./bridge.ts";
 * import assert from "node:assert/strict";
 *
 * const env = (n: string) => ({ HOME: "/home/me" } as Record<string, string>)[n];
 * assert.equal(defaultBridgeStateDir(env), "/home/me/.local/state/dotfiles/bridge");
 * ```
 */
export function defaultBridgeStateDir(env: (name: string) => string | undefined): string {
  return defaultStateDir(env).replace(/\/daemon$/, "/bridge");
}

function waiter(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => resolve = r);
  return { promise, resolve };
}

/** Waits, or less when the signal aborts (never rejects). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, signal).catch(() => {});
}

/**
 * A bridge between the local daemon and a broker. `run()` connects, retries
 * with backoff, forwards and imports until the signal aborts.
 *
 * @example
 * ```ts ignore
 * import { Bridge } from "./bridge.ts";
 *
 * const controller = new AbortController();
 * Deno.addSignalListener("SIGTERM", () => controller.abort());
 * await new Bridge({ url: "nats://nas.lan:4222", importing: true, signal: controller.signal }).run();
 * ```
 */
export class Bridge {
  readonly #url: BrokerUrl;
  readonly #socketDir: string;
  readonly #host: string;
  readonly #types: ReadonlySet<string> | null;
  readonly #importing: boolean;
  readonly #homeAssistant: boolean;
  readonly #stateDir: string;
  readonly #resumePath: string;
  readonly #env: (name: string) => string | undefined;
  readonly #signal: AbortSignal;
  readonly #log: BridgeLog;
  readonly #maxBackoff: number;
  readonly #connectTimeout: number;
  readonly #queueLimit: number;
  readonly #saveInterval: number;

  #state: ResumeState = emptyResume();
  /** Local types that this bridge (or an earlier run) created by importing. */
  #importedTypes = new Set<string>();
  /** Per imported local type, the timestamp (ms) of the last message imported. */
  #lastImportedAt = new Map<string, number>();
  #saveTimer: ReturnType<typeof setTimeout> | undefined;
  #saving: Promise<void> = Promise.resolve();
  #dirty = false;
  #counters: BridgeCounters = {
    exported: 0,
    imported: 0,
    echoes: 0,
    duplicates: 0,
    refused: 0,
    missed: 0,
    fellBehind: 0,
    connections: 0,
    connectFailures: 0,
  };

  /**
   * Creates a bridge; nothing connects until {@linkcode Bridge.run}.
   *
   * @param options The broker URL and the {@linkcode BridgeOptions}.
   * @throws {TypeError} When the URL, host or a type is invalid, or no
   * directory can be found.
   */
  constructor(options: BridgeOptions) {
    const {
      env = (name: string) => Deno.env.get(name),
      importing = false,
      homeAssistant = false,
      maxBackoff = 30_000,
      connectTimeout = 5000,
      queueLimit = 10_000,
      saveInterval = 200,
    } = options;
    this.#url = parseBrokerUrl(options.url);
    if (homeAssistant && this.#url.kind !== "mqtt") {
      throw new TypeError("Cannot start bridge: Home Assistant discovery needs an mqtt:// URL");
    }
    const host = options.host ?? bridgeHostName(Deno.hostname());
    if (!HOST_REGEXP.test(host)) {
      throw new TypeError(
        `Cannot start bridge: host must be 1 to 63 letters, digits or '-', received ${
          JSON.stringify(host)
        }`,
      );
    }
    for (const type of options.types ?? []) {
      if (!isValidEventType(type)) {
        throw new TypeError(
          `Cannot start bridge: not an event type, received ${JSON.stringify(type.slice(0, 80))}`,
        );
      }
    }
    this.#host = host;
    this.#types = options.types === undefined ? null : new Set(options.types);
    this.#importing = importing;
    this.#homeAssistant = homeAssistant;
    this.#env = env;
    this.#socketDir = (options.socketDir ?? defaultSocketDir(env)).replace(/(.)\/+$/, "$1");
    this.#stateDir = (options.stateDir ?? defaultBridgeStateDir(env)).replace(/(.)\/+$/, "$1");
    this.#resumePath = `${this.#stateDir}/${resumeFileName(host, this.#url.host, this.#url.port)}`;
    this.#signal = options.signal ?? new AbortController().signal;
    this.#log = new BridgeLog(options.onLog ?? stderrSink);
    this.#maxBackoff = maxBackoff;
    this.#connectTimeout = connectTimeout;
    this.#queueLimit = queueLimit;
    this.#saveInterval = saveInterval;
  }

  /** The resume file's path. */
  get resumePath(): string {
    return this.#resumePath;
  }

  /** This bridge's host name on the broker. */
  get host(): string {
    return this.#host;
  }

  /** A snapshot of the counters. */
  get counters(): Readonly<BridgeCounters> {
    return { ...this.#counters };
  }

  /**
   * Runs until the signal aborts: connects (retrying with backoff), forwards
   * the local daemon's messages, imports other hosts' messages.
   *
   * @throws {Error} When the resume file cannot be read or written, or a
   * permission is missing; broker and daemon trouble is retried, not thrown.
   */
  async run(): Promise<void> {
    await Deno.mkdir(this.#stateDir, { recursive: true, mode: 0o700 });
    this.#state = await loadResume(this.#resumePath);
    for (const [host, types] of Object.entries(this.#state.imported)) {
      for (const type of Object.keys(types)) this.#importedTypes.add(`${host}.${type}`);
    }
    await using publisher = new DaemonPublisher({
      socketDir: this.#socketDir,
      onWarning: (text) =>
        this.#log.limited(
          "local-publish",
          `Local daemon: ${text.split("; ")[0]}; holding imported messages until it is back`,
        ),
    });
    const what = [
      `forwarding ${this.#types === null ? "every type" : [...this.#types].join(",")}`,
      ...(this.#importing ? ["importing other hosts"] : []),
      ...(this.#homeAssistant ? ["Home Assistant discovery"] : []),
    ].join(", ");
    this.#log.info(
      `Bridge ${this.#host} <-> ${this.#url.href}: ${what}; socket dir ${this.#socketDir}, resume file ${this.#resumePath}`,
    );
    try {
      if (this.#importing) await this.#reconcileImports();
      await this.#loop(publisher);
    } finally {
      clearTimeout(this.#saveTimer);
      this.#saveTimer = undefined;
      await this.#saving;
      if (this.#dirty) await this.#save();
    }
  }

  async #open(config: LinkConfig): Promise<BrokerLink> {
    // The clients are loaded only when a bridge connects.
    if (this.#url.kind === "nats") {
      const { openNatsLink } = await import("./_nats.ts");
      return await openNatsLink(config);
    }
    const { openMqttLink } = await import("./_mqtt.ts");
    return await openMqttLink(config);
  }

  async #loop(publisher: DaemonPublisher): Promise<void> {
    const signal = this.#signal;
    const initialDelay = Math.min(500, this.#maxBackoff);
    let delay = initialDelay;
    let failures = 0;
    let lastFailure = "";
    let lastFailureLoggedAt = 0;
    while (!signal.aborted) {
      let link: BrokerLink;
      try {
        link = await this.#open({
          url: this.#url,
          host: this.#host,
          importing: this.#importing,
          streamSeq: this.#state.streamSeq,
          homeAssistant: this.#homeAssistant,
          env: this.#env,
          readFile: (path) => Deno.readFile(path),
          log: this.#log,
          connectTimeout: this.#connectTimeout,
          signal,
        });
      } catch (err) {
        if (isPermissionError(err) || (err instanceof BrokerError && err.kind === "permission")) {
          throw err;
        }
        if (signal.aborted) break;
        failures++;
        this.#counters.connectFailures++;
        const line = err instanceof BrokerError
          ? err.message
          : `Cannot connect to ${this.#url.href}: ${errorText(err)}`;
        const now = performance.now();
        // One line per distinct failure; a reminder every ten minutes.
        if (line !== lastFailure || now - lastFailureLoggedAt > 600_000) {
          this.#log.info(
            `${line}; retrying with backoff up to ${this.#maxBackoff / 1000} s` +
              (failures > 1 ? ` (${failures} attempts so far)` : ""),
          );
          lastFailure = line;
          lastFailureLoggedAt = now;
        }
        await pause(delay, signal);
        delay = Math.min(delay * 2, this.#maxBackoff);
        continue;
      }
      this.#counters.connections++;
      this.#log.info(
        `Connected to ${this.#url.href} (${link.description})` +
          (failures > 0 ? ` after ${failures} failed attempts` : ""),
      );
      failures = 0;
      lastFailure = "";
      delay = initialDelay;
      const reason = await this.#session(link, publisher);
      if (signal.aborted) break;
      this.#log.info(
        `Lost connection to ${this.#url.href}: ${reason}; reconnecting, then resuming by seq`,
      );
    }
  }

  /** One broker connection: forward and import until it fails or the bridge stops. */
  async #session(link: BrokerLink, publisher: DaemonPublisher): Promise<string> {
    const session = new AbortController();
    const signal = AbortSignal.any([session.signal, this.#signal]);
    let reason = "closed";
    const fail = (err: unknown): void => {
      if (!session.signal.aborted) reason = errorText(err);
      session.abort();
    };
    const tasks = [this.#export(link, signal).catch(fail)];
    if (this.#importing) tasks.push(this.#import(link, publisher, signal).catch(fail));
    link.closed.then((err) => fail(err ?? new Error("connection closed")));
    const stopped = new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    await stopped;
    session.abort();
    await link.close();
    await Promise.allSettled(tasks);
    return reason;
  }

  /** Whether a local type is forwarded (the message may still be an import). */
  #forwarded(type: string): boolean {
    return (this.#types === null || this.#types.has(type)) && !this.#importedTypes.has(type);
  }

  #exportable(message: Message): boolean {
    if (!this.#forwarded(message.event_type)) return false;
    // Imported by any bridge on this machine (this one, or one to another broker).
    return !Object.hasOwn(message, "origin");
  }

  async #export(link: BrokerLink, signal: AbortSignal): Promise<void> {
    const queue: Message[] = [];
    let head = 0;
    let consumerWake = waiter();
    let producerWake = waiter();
    const low = Math.max(1, Math.floor(this.#queueLimit / 2));
    /** Last seq queued (or seen and skipped) per type: where the next subscription starts. */
    const queued = new Map<string, number>(Object.entries(this.#state.exported));
    signal.addEventListener("abort", () => {
      consumerWake.resolve();
      producerWake.resolve();
    }, { once: true });

    const consumer = async (): Promise<void> => {
      while (!signal.aborted) {
        if (head >= queue.length) {
          await consumerWake.promise;
          consumerWake = waiter();
          continue;
        }
        const batch = queue.slice(head, head + BATCH);
        await link.publish(batch);
        head += batch.length;
        if (head > 4096 && head * 2 > queue.length) {
          queue.splice(0, head);
          head = 0;
        }
        for (const message of batch) {
          this.#state.exported[message.event_type] = message.seq!;
        }
        this.#counters.exported += batch.length;
        this.#scheduleSave();
        if (queue.length - head < low) producerWake.resolve();
      }
    };

    const producer = async (): Promise<void> => {
      let daemonDown = false;
      while (!signal.aborted) {
        const since = await this.#since(queued, signal);
        if (since === null) {
          await pause(1000, signal);
          continue;
        }
        const subscription = subscribeAll({ socketDir: this.#socketDir, since, signal });
        let restart = false;
        for await (const event of subscription.events()) {
          if (event.type === "connected") {
            // A type created between our look at the daemon and the
            // subscription's own starts at its current seq there: start
            // over with it from 0, so its first messages are not skipped.
            const late = Object.entries(subscription.lastSeqs)
              .filter(([type, seq]) => !(type in since) && seq > 0 && this.#forwarded(type));
            if (late.length > 0) {
              for (const [type] of late) queued.set(type, 0);
              restart = true;
              break;
            }
          }
          if (event.type === "message") {
            const message = event.message;
            if (typeof message.seq !== "number") continue;
            queued.set(message.event_type, message.seq);
            if (!this.#exportable(message)) continue;
            queue.push(message);
            consumerWake.resolve();
            if (queue.length - head >= this.#queueLimit) break;
          } else if (event.type === "gap") {
            const count = event.to - event.from + 1;
            this.#counters.missed += count;
            queued.set(event.eventType, event.to);
            this.#log.limited(
              `gap:${event.eventType}`,
              `Missed ${count} message(s) of '${event.eventType}' (seq ${event.from} to ${event.to}): ` +
                `the daemon no longer keeps them (${this.#counters.missed} missed in all)`,
            );
          } else if (event.type === "disconnected") {
            if (!daemonDown) {
              daemonDown = true;
              this.#log.limited(
                "daemon-down",
                `Local daemon at ${this.#socketDir} unreachable (${
                  event.error ? errorText(event.error) : "closed"
                }); waiting for it`,
              );
            }
          } else if (event.type === "connected" && daemonDown) {
            daemonDown = false;
            this.#log.info(
              `Local daemon at ${this.#socketDir} reachable again; catching up by seq`,
            );
          }
        }
        if (signal.aborted) return;
        if (restart) continue;
        // The broker is slower than the daemon: let go of the firehose (so the
        // daemon never waits for us) and catch up from history once drained.
        this.#counters.fellBehind++;
        this.#log.limited(
          "behind",
          `The broker is slower than the local daemon: ${queue.length - head} messages queued; ` +
            "catching up by seq from the daemon's history",
        );
        while (!signal.aborted && queue.length - head >= low) {
          await producerWake.promise;
          producerWake = waiter();
        }
      }
    };

    const running = [consumer(), producer()];
    for (const task of running) task.catch(() => {}); // The first failure is raced below.
    await Promise.race(running);
  }

  /**
   * Where a subscription starts per type: the last queued seq, else 0 for a
   * type to forward (everything the daemon still keeps), else its last seq.
   */
  async #since(
    queued: Map<string, number>,
    signal: AbortSignal,
  ): Promise<Record<string, number> | null> {
    let types;
    try {
      types = await listEventTypes({ socketDir: this.#socketDir, signal });
    } catch (err) {
      if (isPermissionError(err)) throw err;
      this.#log.limited(
        "daemon-down",
        `Local daemon at ${this.#socketDir} unreachable (${errorText(err)}); waiting for it`,
      );
      return null;
    }
    const since: Record<string, number> = Object.fromEntries(queued);
    for (const info of types.event_types) {
      const type = info.event_type;
      if (type in since) continue;
      since[type] = this.#forwarded(type) ? 0 : info.last_seq;
    }
    return since;
  }

  /** After a restart: take each imported type's last origin seq from the daemon's history. */
  async #reconcileImports(): Promise<void> {
    for (const local of this.#importedTypes) {
      if (!(await this.#reconcile(local))) return; // The daemon is down: the file is all there is.
    }
  }

  /**
   * Raises the import mark of one local type `<host>.<type>` to the origin
   * seq of its last message in the local daemon (imported by an earlier run
   * that died before saving, or by another bridge on this machine).
   */
  async #reconcile(local: string): Promise<boolean> {
    const dot = local.indexOf(".");
    const host = local.slice(0, dot);
    const type = local.slice(dot + 1);
    let history;
    try {
      history = await getEventHistory(local, {
        socketDir: this.#socketDir,
        limit: 1,
        signal: this.#signal,
      });
    } catch {
      return false;
    }
    const types = this.#state.imported[host] ??= {};
    const last = history.events.at(-1) as
      | { origin?: { seq?: unknown }; timestamp?: unknown }
      | undefined;
    const at = typeof last?.timestamp === "string" ? Date.parse(last.timestamp) : Number.NaN;
    if (!Number.isNaN(at)) this.#lastImportedAt.set(local, at);
    const origin = last?.origin;
    const seq = origin?.seq;
    if (typeof seq === "number" && Number.isSafeInteger(seq) && seq > (types[type] ?? 0)) {
      types[type] = seq;
    } else {
      types[type] ??= 0;
    }
    return true;
  }

  async #import(link: BrokerLink, publisher: DaemonPublisher, signal: AbortSignal): Promise<void> {
    for await (const incoming of link.incoming()) {
      if (signal.aborted) return;
      if (incoming.host === this.#host) {
        this.#counters.echoes++;
        this.#advanceStream(incoming);
        incoming.done();
        continue;
      }
      const handled = await this.#importOne(incoming, publisher, signal);
      if (!handled) return;
      incoming.done();
    }
  }

  #advanceStream(incoming: Incoming): void {
    if (incoming.streamSeq !== undefined && incoming.streamSeq > this.#state.streamSeq) {
      this.#state.streamSeq = incoming.streamSeq;
      this.#scheduleSave();
    }
  }

  #refuse(incoming: Incoming, localType: string, why: string, originSeq: number | null): void {
    this.#counters.refused++;
    this.#log.once(
      `refused:${localType}:${why.slice(0, 40)}`,
      `Skipped a message from host '${incoming.host}' type '${incoming.eventType}': ${why} ` +
        `(logged once per type and reason; ${this.#counters.refused} skipped so far)`,
    );
    if (originSeq !== null) this.#markImported(incoming, originSeq);
    this.#advanceStream(incoming);
  }

  #markImported(incoming: Incoming, originSeq: number): void {
    const types = this.#state.imported[incoming.host] ??= {};
    types[incoming.eventType] = originSeq;
    this.#scheduleSave();
  }

  /** Imports one message; `false` when the bridge stopped before it was in. */
  async #importOne(
    incoming: Incoming,
    publisher: DaemonPublisher,
    signal: AbortSignal,
  ): Promise<boolean> {
    const localType = `${incoming.host}.${incoming.eventType}`;
    let value: unknown;
    try {
      value = JSON.parse(decoder.decode(incoming.data));
    } catch {
      this.#refuse(incoming, localType, "body is not JSON", null);
      return true;
    }
    const checked = validateMessage(value);
    if (!checked.ok) {
      this.#refuse(incoming, localType, checked.error.message, null);
      return true;
    }
    const { seq, ...envelope } = checked.message;
    const originSeq = typeof seq === "number" && Number.isSafeInteger(seq) && seq > 0 ? seq : null;
    if (envelope.event_type !== incoming.eventType) {
      this.#refuse(
        incoming,
        localType,
        `its event_type ${JSON.stringify(envelope.event_type)} differs from the subject's`,
        null,
      );
      return true;
    }
    if (this.#state.imported[incoming.host]?.[incoming.eventType] === undefined) {
      await this.#reconcile(localType);
    }
    const seen = this.#state.imported[incoming.host]?.[incoming.eventType] ?? 0;
    const sentAt = Date.parse(envelope.timestamp);
    if (originSeq !== null && originSeq <= seen) {
      // A seq already imported is a redelivery, unless the message is newer
      // than the last one imported: then the other host's daemon lost its
      // state and numbers from 1 again.
      const last = this.#lastImportedAt.get(localType);
      if (last !== undefined && sentAt > last) {
        this.#log.info(
          `Host '${incoming.host}' numbers '${incoming.eventType}' from ${originSeq} again (was at ${seen}): its daemon lost its state`,
        );
      } else {
        this.#counters.duplicates++;
        this.#advanceStream(incoming);
        return true;
      }
    }
    if (originSeq !== null && seen > 0 && originSeq > seen + 1) {
      const count = originSeq - seen - 1;
      this.#counters.missed += count;
      this.#log.limited(
        `import-gap:${localType}`,
        `Missed ${count} message(s) of host '${incoming.host}' type '${incoming.eventType}' ` +
          `(seq ${seen + 1} to ${originSeq - 1}): the broker did not deliver them ` +
          `(mosquitto: raise max_queued_messages; ${this.#counters.missed} missed in all)`,
      );
    }
    if (!isValidEventType(localType)) {
      this.#refuse(
        incoming,
        localType,
        `the local name '${localType.slice(0, 80)}' is over 64 characters or not an event type`,
        originSeq,
      );
      return true;
    }
    const local = {
      ...envelope,
      event_type: localType,
      origin: { host: incoming.host, event_type: incoming.eventType, seq: originSeq },
    };
    let size: number;
    try {
      size = encodeFrame(local).byteLength - FRAME_HEADER_SIZE;
    } catch (err) {
      this.#refuse(incoming, localType, errorText(err), originSeq);
      return true;
    }
    if (size > DEFAULT_MAX_MESSAGE_SIZE) {
      this.#refuse(
        incoming,
        localType,
        `${size} bytes exceed the daemon's ${DEFAULT_MAX_MESSAGE_SIZE}-byte message limit`,
        originSeq,
      );
      return true;
    }
    this.#importedTypes.add(localType);
    let delay = 100;
    while (!(await publisher.publish(local))) {
      if (signal.aborted) return false;
      // The local daemon is down or stalled: hold this message (the broker
      // keeps the rest). A write that timed out may still have gone in.
      await pause(delay, signal);
      delay = Math.min(delay * 2, 5000);
      if (await this.#alreadyIn(localType, envelope.message_id)) break;
    }
    this.#counters.imported++;
    if (!Number.isNaN(sentAt)) this.#lastImportedAt.set(localType, sentAt);
    if (originSeq !== null) this.#markImported(incoming, originSeq);
    this.#advanceStream(incoming);
    return true;
  }

  /** Whether the local daemon's last message of `type` is this one. */
  async #alreadyIn(type: string, messageId: string): Promise<boolean> {
    try {
      const history = await getEventHistory(type, {
        socketDir: this.#socketDir,
        limit: 1,
        signal: this.#signal,
      });
      return history.events.at(-1)?.message_id === messageId;
    } catch {
      return false;
    }
  }

  #scheduleSave(): void {
    this.#dirty = true;
    if (this.#saveTimer !== undefined) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = undefined;
      this.#saving = this.#saving.then(() => this.#save());
    }, this.#saveInterval);
  }

  async #save(): Promise<void> {
    this.#dirty = false;
    try {
      await saveResume(this.#resumePath, this.#state, {
        host: this.#host,
        broker: this.#url.href,
      });
    } catch (err) {
      this.#dirty = true;
      this.#log.limited(
        "save",
        `Cannot write resume file '${this.#resumePath}': ${errorText(err)}`,
      );
    }
  }
}
