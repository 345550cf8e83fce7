/**
 * Socket plumbing shared by the daemon, the publisher, the monitor, the CLI,
 * the benchmarks and the soak run: Unix-socket connect and listen, writing
 * everything, closing quietly, waits that take an `AbortSignal`, one text
 * for connection failures, and the socket directory's default. It is the
 * `Deno.*` layer under the pure `protocol/` and is not exported by the
 * package.
 *
 * ```ts
 * import { connectErrorText, connectUnix, resolveSocketDir } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = resolveSocketDir("/nonexistent/");
 * try {
 *   await connectUnix(`${dir}/command.sock`);
 * } catch (error) {
 *   assert.equal(connectErrorText(error), "no socket (is the daemon running?)");
 * }
 * ```
 *
 * @module
 */

export {
  closeQuietly,
  connectErrorText,
  connectUnix,
  isPermissionError,
  listenUnix,
  type UnixListener,
  writeAll,
} from "./_unix.ts";
export { abortable, sleep } from "./_timers.ts";
export { resolveSocketDir } from "./_socket_dir.ts";
