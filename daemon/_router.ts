/**
 * The router: frame bodies in, routed frames and counted rejections out.
 * Pure: no sockets and no `Deno.*` I/O, so it can be fuzzed and benchmarked
 * alone. The daemon feeds it the bodies of each read, then takes the batch
 * and hands it to the event broker.
 *
 * @module
 */
import {
  encodeFrame,
  isValidEventType,
  type Message,
  validateMessage,
  validatePayload,
} from "../protocol/mod.ts";
import type { Counters } from "./_counters.ts";
import type { Logger } from "./_logger.ts";

/**
 * Deepest nesting of arrays and objects routed. Deeper messages cannot be
 * re-encoded (history, state, persistence) and crash Python monitors, whose
 * `json` module recurses; they are dropped as `too_deep`.
 */
export const MAX_NESTING_DEPTH = 512;

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Where routed messages are numbered and recorded (the daemon's state). */
export interface RouterLedger {
  /** The last `seq` handed out for the event type, 0 when none. */
  lastSeq(eventType: string): number;
  /** Records a routed message (state, operations, history); written by {@linkcode RouterLedger.flush}. */
  record(message: Message, routed: string): void;
  /** Writes what was recorded; called before the batch is broadcast. */
  flush(): void;
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

/** One event type's frames of a batch, joined into one buffer. */
export interface RoutedFrames {
  /** The event type. */
  eventType: string;
  /** How many frames. */
  frames: number;
  /** The frames, in order, shared by every subscriber. */
  bytes: Uint8Array;
}

/** What one read routed: per type, and all of it in order for the firehose. */
export interface RoutedBatch {
  /** Per event type, in order of first appearance. */
  types: RoutedFrames[];
  /** Every frame of the batch. */
  frames: number;
  /** Every frame in the order routed (joined on first call). */
  all(): Uint8Array;
}

/**
 * Validates, numbers and splices `seq` (and a missing `message_id` or
 * `timestamp`) into each message's own bytes, records it in the ledger, and
 * collects the frames until {@linkcode Router.take}.
 */
export class Router {
  #maxMessageSize: number;
  #strict: boolean;
  #ledger: RouterLedger;
  #counters: Counters;
  #logger: Logger;
  #admit: (eventType: string) => Refusal | null;
  #admitted = new Set<string>();
  /** Frames recorded but not yet taken: they go out once the ledger has them. */
  #pendingTypes: string[] = [];
  #pendingFrames: Uint8Array[] = [];

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
    return this.#pendingFrames.length;
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
   * @param body The frame's body (without the length prefix).
   */
  route(body: Uint8Array): void {
    this.#counters.messagesIn++;
    let text: string;
    try {
      text = decoder.decode(body);
    } catch {
      return this.#reject("invalid_utf8", "body is not valid UTF-8");
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return this.#reject("invalid_json", `body is not JSON: ${(error as Error).message}`);
    }
    const checked = validateMessage(value);
    if (!checked.ok) return this.#reject(checked.error.reason, checked.error.message);
    const message = checked.message;
    const eventType = message.event_type;
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
      const payload = validatePayload(message);
      if (!payload.ok) {
        this.#counters.payloadInvalid++;
        return this.#reject(payload.error.reason, payload.error.message, { event_type: eventType });
      }
    }
    if (!this.#admits(eventType)) return;
    const raw = value as Record<string, unknown>;
    const seq = this.#ledger.lastSeq(eventType) + 1;
    message.seq = seq;
    let routed: string;
    let frame: Uint8Array;
    if (!Object.hasOwn(raw, "seq")) {
      // Splice what the daemon adds before the closing brace: every other
      // byte goes out as the sender wrote it, with no re-serialisation.
      let insert = `,"seq":${seq}`;
      if (raw.message_id === undefined) insert += `,"message_id":"${message.message_id}"`;
      if (raw.timestamp === undefined) insert += `,"timestamp":"${message.timestamp}"`;
      const length = body.byteLength + insert.length;
      if (length > this.#maxMessageSize) return this.#oversized(length, eventType);
      const close = text.lastIndexOf("}");
      routed = text.slice(0, close) + insert + text.slice(close);
      let end = body.byteLength - 1;
      while (body[end] !== 0x7d) end--;
      frame = new Uint8Array(4 + length);
      new DataView(frame.buffer).setUint32(0, length);
      frame.set(body.subarray(0, end), 4);
      encoder.encodeInto(insert, frame.subarray(4 + end));
      frame.set(body.subarray(end), 4 + end + insert.length);
    } else {
      // A sender's own `seq` is replaced: re-encode (rare; no client sends one).
      try {
        routed = JSON.stringify({
          ...raw,
          message_id: message.message_id,
          timestamp: message.timestamp,
          seq,
        });
      } catch (error) {
        return this.#reject(
          "invalid_json",
          `cannot re-encode message: ${(error as Error).message}`,
        );
      }
      frame = encodeFrame(encoder.encode(routed));
      if (frame.byteLength - 4 > this.#maxMessageSize) {
        return this.#oversized(frame.byteLength - 4, eventType);
      }
    }
    this.#deliver(eventType, message, routed, frame);
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
    this.#deliver(eventType, routedMessage, routed, encodeFrame(encoder.encode(routed)));
    return true;
  }

  #deliver(eventType: string, message: Message, routed: string, frame: Uint8Array): void {
    this.#ledger.record(message, routed);
    this.#pendingTypes.push(eventType);
    this.#pendingFrames.push(frame);
    const c = this.#counters;
    c.messagesRouted++;
    c.messagesInByType.set(eventType, (c.messagesInByType.get(eventType) ?? 0) + 1);
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
    const frames = this.#pendingFrames;
    if (frames.length === 0) return null;
    const types = this.#pendingTypes;
    this.#pendingFrames = [];
    this.#pendingTypes = [];
    this.#ledger.flush();
    // Join each type's frames of this read into one buffer that all its
    // subscribers share: one copy per read, not one per subscriber.
    const byType = new Map<string, Uint8Array[]>();
    for (let i = 0; i < frames.length; i++) {
      const list = byType.get(types[i]!);
      if (list === undefined) byType.set(types[i]!, [frames[i]!]);
      else list.push(frames[i]!);
    }
    const routed: RoutedFrames[] = [];
    for (const [eventType, list] of byType) {
      routed.push({
        eventType,
        frames: list.length,
        bytes: list.length === 1 ? list[0]! : concat(list),
      });
    }
    let all: Uint8Array | undefined;
    return {
      types: routed,
      frames: frames.length,
      all: () => all ??= routed.length === 1 ? routed[0]!.bytes : concat(frames),
    };
  }
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
