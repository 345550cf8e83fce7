/**
 * The router: frame bodies in, routed frames and counted rejections out.
 * Pure: no sockets and no `Deno.*` I/O, so it can be fuzzed and benchmarked
 * alone. The daemon feeds it the bodies of each read, then takes the batch
 * and hands it to the event broker.
 *
 * @module
 */
import {
  isValidEventType,
  type Message,
  validateMessage,
  validatePayload,
} from "../protocol/mod.ts";
import { BodyTexts, decodeOne, detach } from "../protocol/_body_text.ts";
import { envelopeError, envelopeIssue } from "../protocol/_envelope.ts";
import type { Counters } from "./_counters.ts";
import type { Logger } from "./_logger.ts";
import { PendingFrames, type RoutedBatch } from "./_pending_frames.ts";

/**
 * Deepest nesting of arrays and objects routed. Deeper messages cannot be
 * re-encoded (history, state, persistence) and crash Python monitors, whose
 * `json` module recurses; they are dropped as `too_deep`.
 */
export const MAX_NESTING_DEPTH = 512;

const encoder = new TextEncoder();

/** Where routed messages are numbered and recorded (the daemon's state). */
export interface RouterLedger {
  /** The last `seq` handed out for the event type, 0 when none. */
  lastSeq(eventType: string): number;
  /** Records a routed message (state, operations, history); written by {@linkcode RouterLedger.flush}. */
  record(message: Message, routed: string): void;
  /**
   * Writes what was recorded; called before the batch is broadcast.
   * Returns whether every seq recorded is safe from reuse after a restart
   * (written, or saved beside a failed write): only then is it broadcast.
   */
  flush(): boolean;
  /** True while a failed write could save neither state nor seqs: nothing is routed. */
  readonly seqsUnsafe: boolean;
  /**
   * Whether a `state_update` setting `stateKey` to `value` (routed JSON
   * `routedLength` long) fits the state bounds: `null`, or the refusal.
   */
  admitState?(
    eventType: string,
    stateKey: string,
    value: unknown,
    routedLength: number,
  ): { reason: string; message: string } | null;
}

/** Why a new event type is refused: the reason counted and the log line. */
export interface Refusal {
  /** The `bad_frames` reason. */
  reason: string;
  /** The log line. */
  message: string;
  /** Log fields. */
  fields: Record<string, unknown>;
  /** Log level. @default {"warn"} */
  level?: "warn" | "error";
}

/** Options of {@linkcode Router}. */
export interface RouterOptions {
  /** The largest frame body, with the fields the router adds. */
  maxMessageSize: number;
  /** Refuse messages whose payload fails its schema. @default {false} */
  strictPayloads?: boolean;
  /** Numbers and records routed messages. */
  ledger: RouterLedger;
  /** Counts messages in, routed and rejected. */
  counters: Counters;
  /** Logs each rejection, rate-limited per reason. */
  logger: Logger;
  /**
   * Called once per event type the router has not routed before: opens its
   * socket, or returns why not (the message is then rejected).
   *
   * @default {() => null}
   */
  admit?(eventType: string): Refusal | null;
}

/**
 * Validates, numbers and splices `seq` (and a missing `message_id` or
 * `timestamp`) into each message's own bytes, records it in the ledger, and
 * collects the frames until {@linkcode Router.take}.
 *
 * The hot path, per message: one `JSON.parse` of a slice of the read's text
 * (decoded once per read, see `protocol/_body_text.ts`), the envelope check
 * written out (`protocol/_envelope.ts`), no copy of the parsed object, and
 * no frame of its own: {@linkcode Router.take} writes every frame of the
 * read into one buffer, which is what subscribers share.
 */
export class Router {
  #maxMessageSize: number;
  #strict: boolean;
  #ledger: RouterLedger;
  #counters: Counters;
  #logger: Logger;
  #admit: (eventType: string) => Refusal | null;
  #admitted = new Set<string>();
  #texts = new BodyTexts();
  /** Frames recorded but not yet taken: they go out once the ledger has them. */
  #pending = new PendingFrames();

  /** @param options See {@linkcode RouterOptions}. */
  constructor(options: RouterOptions) {
    this.#maxMessageSize = options.maxMessageSize;
    this.#strict = options.strictPayloads ?? false;
    this.#ledger = options.ledger;
    this.#counters = options.counters;
    this.#logger = options.logger;
    this.#admit = options.admit ?? (() => null);
  }

  /** Frames routed and not yet taken. */
  get pending(): number {
    return this.#pending.count;
  }

  #reject(reason: string, message: string, fields: Record<string, unknown> = {}): void {
    this.#counters.bad(reason);
    this.#logger.limited("warn", reason, `dropped message: ${message}`, fields);
  }

  #admits(eventType: string): boolean {
    if (this.#admitted.has(eventType)) return true;
    const refusal = this.#admit(eventType);
    if (refusal === null) {
      this.#admitted.add(eventType);
      return true;
    }
    this.#counters.rejectedEventTypes++;
    this.#counters.bad(refusal.reason);
    this.#logger.limited(refusal.level ?? "warn", refusal.reason, refusal.message, refusal.fields);
    return false;
  }

  /**
   * Routes one frame body: validate, number, splice, record. A rejected
   * body is counted in `bad_frames` under its reason and logged.
   *
   * @param body The frame's body (without the length prefix); its bytes
   * must not change until {@linkcode Router.take}.
   */
  route(body: Uint8Array): void {
    this.#route(body, decodeOne(body));
  }

  /**
   * Routes the frame bodies of one read, in order, with one UTF-8 decode
   * for all of them when they are ASCII. Same answers as
   * {@linkcode Router.route} on each.
   *
   * @param bodies The bodies; their bytes must not change until {@linkcode Router.take}.
   */
  routeAll(bodies: readonly Uint8Array[]): void {
    if (bodies.length === 1) return this.route(bodies[0]!);
    const texts = this.#texts.decode(bodies);
    for (let i = 0; i < bodies.length; i++) this.#route(bodies[i]!, texts[i]!);
  }

  #route(body: Uint8Array, text: string | null): void {
    this.#counters.messagesIn++;
    if (text === null) return this.#reject("invalid_utf8", "body is not valid UTF-8");
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return this.#reject("invalid_json", `body is not JSON: ${(error as Error).message}`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      const checked = validateMessage(value);
      if (!checked.ok) return this.#reject(checked.error.reason, checked.error.message);
    }
    // The parsed object is the message: nothing else holds it, so it is
    // numbered and filled in where it is rather than copied.
    const raw = value as Record<string, unknown>;
    const issue = envelopeIssue(raw);
    if (issue !== null) {
      const error = envelopeError(issue);
      return this.#reject(error.reason, error.message);
    }
    const eventType = raw.event_type as string;
    if (!isValidEventType(eventType)) {
      this.#counters.rejectedEventTypes++;
      return this.#reject("invalid_event_type", "event_type is not a valid socket name", {
        event_type: eventType.slice(0, 80),
      });
    }
    if (body.byteLength > 2 * MAX_NESTING_DEPTH && nestedDeeperThan(body, MAX_NESTING_DEPTH)) {
      return this.#reject("too_deep", `nested deeper than ${MAX_NESTING_DEPTH} levels`, {
        event_type: eventType,
      });
    }
    if (this.#strict) {
      const payload = validatePayload(raw as Message);
      if (!payload.ok) {
        this.#counters.payloadInvalid++;
        return this.#reject(payload.error.reason, payload.error.message, { event_type: eventType });
      }
    }
    if (this.#ledger.seqsUnsafe) {
      return this.#reject(
        "store_unavailable",
        "the store can save neither state nor seqs, so nothing is broadcast (a seq could be reused after a restart)",
        { event_type: eventType },
      );
    }
    if (!this.#admits(eventType)) return;
    const seq = this.#ledger.lastSeq(eventType) + 1;
    const messageId = (raw.message_id ?? crypto.randomUUID()) as string;
    const timestamp = (raw.timestamp ?? now()) as string;
    let routed: string;
    let source: Uint8Array;
    let split: number;
    let insert = "";
    if (!Object.hasOwn(raw, "seq")) {
      // Splice what the daemon adds before the closing brace: every other
      // byte goes out as the sender wrote it, with no re-serialisation.
      insert = `,"seq":${seq}`;
      if (raw.message_id === undefined) insert += `,"message_id":"${messageId}"`;
      if (raw.timestamp === undefined) insert += `,"timestamp":"${timestamp}"`;
      const length = body.byteLength + insert.length;
      if (length > this.#maxMessageSize) return this.#oversized(length, eventType);
      const close = text.lastIndexOf("}");
      // A copy: the slices would keep the whole read alive in the history.
      routed = detach(text.slice(0, close) + insert + text.slice(close));
      split = body.byteLength - 1;
      while (body[split] !== 0x7d) split--;
      source = body;
    } else {
      // A sender's own `seq` is replaced: re-encode (rare; no client sends one).
      try {
        routed = JSON.stringify({ ...raw, message_id: messageId, timestamp, seq });
      } catch (error) {
        return this.#reject(
          "invalid_json",
          `cannot re-encode message: ${(error as Error).message}`,
        );
      }
      source = encoder.encode(routed);
      if (source.byteLength > this.#maxMessageSize) {
        return this.#oversized(source.byteLength, eventType);
      }
      split = source.byteLength;
    }
    const payload = raw.payload as Record<string, unknown> | null;
    if (
      typeof payload === "object" && payload !== null && payload.type === "state_update" &&
      typeof payload.state_key === "string"
    ) {
      const refusal = this.#ledger.admitState?.(
        eventType,
        payload.state_key,
        payload.state_value,
        routed.length,
      );
      if (refusal) {
        return this.#reject(refusal.reason, `state_update ${refusal.message}`, {
          event_type: eventType,
          state_key: payload.state_key.slice(0, 80),
        });
      }
    }
    raw.message_id = messageId;
    raw.timestamp = timestamp;
    raw.seq = seq;
    this.#deliver(eventType, raw as Message, routed, source, split, insert);
  }

  #oversized(length: number, eventType: string): void {
    this.#reject(
      "routed_oversized",
      `with the fields the daemon adds the message would be ${length} bytes, over the maximum of ${this.#maxMessageSize}`,
      { event_type: eventType },
    );
  }

  /**
   * Routes a message the daemon made itself (the `operation_failed` of a
   * stale operation): numbered and recorded like any other, and counted in
   * `stale_operations`.
   *
   * @param message A valid message without `seq`.
   * @returns `false` when its event type is refused.
   */
  routeStale(message: Message): boolean {
    const eventType = message.event_type;
    if (!this.#admits(eventType)) return false;
    const seq = this.#ledger.lastSeq(eventType) + 1;
    const routedMessage = { ...message, seq };
    const routed = JSON.stringify(routedMessage);
    this.#counters.staleOperations++;
    this.#logger.warn("operation marked stale", {
      event_type: eventType,
      operation_id: String(message.payload.operation_id),
    });
    const bytes = encoder.encode(routed);
    this.#deliver(eventType, routedMessage, routed, bytes, bytes.byteLength, "");
    return true;
  }

  #deliver(
    eventType: string,
    message: Message,
    routed: string,
    source: Uint8Array,
    split: number,
    insert: string,
  ): void {
    this.#ledger.record(message, routed);
    this.#pending.add(eventType, source, split, insert);
    this.#counters.messagesRouted++;
    if (this.#logger.enabled("debug")) {
      this.#logger.debug("routed", {
        event_type: eventType,
        seq: message.seq,
        type: message.payload.type,
      });
    }
  }

  /**
   * Writes what was routed since the last call to the ledger (one
   * transaction for the whole read), then returns it to be broadcast: a
   * monitor therefore never sees a `seq` the store could lose in a crash.
   *
   * @returns The batch, or `null` when nothing was routed.
   */
  take(): RoutedBatch | null {
    const count = this.#pending.count;
    if (count === 0) return null;
    if (!this.#ledger.flush()) {
      // Neither written nor saved: a seq broadcast now could be handed out
      // again after a restart, so these are recorded but never sent.
      this.#pending.clear();
      this.#counters.messagesHeldBack += count;
      this.#logger.limited("error", "messages_held_back", "messages not broadcast", {
        messages: count,
        reason: "the store can save neither state nor seqs",
      });
      return null;
    }
    const batch = this.#pending.take();
    const byTypeCount = this.#counters.messagesInByType;
    for (const { eventType, frames } of batch.types) {
      byTypeCount.set(eventType, (byTypeCount.get(eventType) ?? 0) + frames);
    }
    return batch;
  }
}

let nowMs = NaN;
let nowIso = "";

/** `new Date().toISOString()`, made once per millisecond: a burst shares it. */
function now(): string {
  const ms = Date.now();
  if (ms !== nowMs) {
    nowIso = new Date(ms).toISOString();
    nowMs = ms;
  }
  return nowIso;
}

/** Joins byte arrays into one. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Whether valid JSON bytes nest arrays and objects deeper than `limit` (strings skipped). */
function nestedDeeperThan(body: Uint8Array, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.byteLength; i++) {
    const b = body[i]!;
    if (inString) {
      if (b === 0x5c) i++;
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x7b || b === 0x5b) {
      if (++depth > limit) return true;
    } else if (b === 0x7d || b === 0x5d) depth--;
  }
  return false;
}
