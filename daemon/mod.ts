/**
 * The dotfiles event daemon as a library: {@linkcode DotfilesDaemon} runs
 * the command, query and event sockets, keeping state, operations and
 * history in `<stateDir>/state.db` (or in memory with `persist: false`).
 * Start it, stop it, or `await using` it; it fails to start with
 * {@linkcode DaemonAlreadyRunningError} or {@linkcode UnsafeSocketDirError}.
 *
 * Permissions: `--allow-read` and `--allow-write` on the socket and state
 * directories, `--allow-net` (Deno checks Unix sockets against net
 * permission, and event sockets are created on demand), `--allow-env` for
 * the default directories (`HOME`, `XDG_CACHE_HOME`, `XDG_STATE_HOME`).
 *
 * ```ts
 * import { DotfilesDaemon } from "@dotfiles/daemon/daemon";
 * import assert from "node:assert/strict";
 *
 * const socketDir = await Deno.makeTempDir();
 * {
 *   await using daemon = new DotfilesDaemon({ socketDir, persist: false, logLevel: "warn" });
 *   await daemon.start();
 *   assert.ok((await Deno.stat(`${socketDir}/query.sock`)).isSocket);
 * }
 * await Deno.remove(socketDir, { recursive: true });
 * ```
 *
 * @module
 */

export { type DaemonConfig, type DaemonOptions, type LogFormat, type LogLevel } from "./config.ts";
export { DotfilesDaemon } from "./daemon.ts";
export { DaemonAlreadyRunningError, UnsafeSocketDirError } from "./errors.ts";
// The type of `DaemonOptions.store`, and the types its methods take and return.
export type {
  HistoryPrune,
  Store,
  StoreBatch,
  StoredEventType,
  StoredHistoryEntry,
  StoredState,
  StoreHealth,
  StoreSnapshot,
} from "./_store.ts";
