/**
 * The pure router on an in-memory state, for its tests and benchmarks, and
 * a splitter of routed bytes back into frame bodies.
 *
 * @module
 */
import { Counters } from "../../daemon/_counters.ts";
import { Logger } from "../../daemon/_logger.ts";
import { type Refusal, Router } from "../../daemon/_router.ts";
import { DaemonState } from "../../daemon/_state.ts";
import { MemoryStore, type Store } from "../../daemon/_store.ts";
import type { LogLevel } from "../../daemon/mod.ts";

const decoder = new TextDecoder();

/** Options of {@linkcode routerHarness}. */
export interface RouterHarnessOptions {
  /** @default {1048576} */
  maxMessageSize?: number;
  /** @default {false} */
  strictPayloads?: boolean;
  /** Event types admitted before the rest are refused. @default {Infinity} */
  maxTypes?: number;
  /** Log lines at this level and above go to `logs`. @default {"debug"} */
  logLevel?: LogLevel;
  /** The store behind the state (closed with it). @default {new MemoryStore()} */
  store?: Store;
}

/** A router with its counters, state and log lines; dispose closes the state. */
export interface RouterHarness extends Disposable {
  router: Router;
  counters: Counters;
  state: DaemonState;
  logs: string[];
}

/** A router on a `MemoryStore`-backed state (as the daemon runs with `--no-persist`), or on `store`. */
export function routerHarness(options: RouterHarnessOptions = {}): RouterHarness {
  const counters = new Counters();
  const logs: string[] = [];
  const state = new DaemonState({
    store: options.store ?? new MemoryStore(),
    staleAfter: Infinity,
  });
  const admitted = new Set<string>();
  const router = new Router({
    maxMessageSize: options.maxMessageSize ?? 1024 * 1024,
    strictPayloads: options.strictPayloads ?? false,
    ledger: state,
    counters,
    logger: new Logger(options.logLevel ?? "debug", "text", (line) => logs.push(line)),
    admit: (eventType): Refusal | null => {
      if (admitted.has(eventType)) return null;
      if (admitted.size >= (options.maxTypes ?? Infinity)) {
        return { reason: "too_many_event_types", message: "too many", fields: {} };
      }
      admitted.add(eventType);
      return null;
    },
  });
  return { router, counters, state, logs, [Symbol.dispose]: () => state.close() };
}

/** Splits routed bytes back into frame bodies; throws when a length prefix runs past the end. */
export function frameBodies(bytes: Uint8Array): string[] {
  const out: string[] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    const length = new DataView(bytes.buffer, bytes.byteOffset + offset).getUint32(0);
    if (offset + 4 + length > bytes.byteLength) {
      throw new RangeError(
        `Cannot split frames: expected ${length} bytes at ${offset + 4}, received ${
          bytes.byteLength - offset - 4
        }`,
      );
    }
    out.push(decoder.decode(bytes.subarray(offset + 4, offset + 4 + length)));
    offset += 4 + length;
  }
  return out;
}
