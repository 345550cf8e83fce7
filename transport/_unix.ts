/**
 * Unix-socket plumbing shared by the daemon, the clients, the CLI, the
 * benchmarks and the soak run: connect, listen, write everything, close.
 *
 * @module
 */

import { abortable } from "./_timers.ts";

/** A Unix stream listener. */
export type UnixListener = Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;

/**
 * Connects to a Unix socket; the signal abandons the attempt (a connection
 * that completes afterwards is closed).
 *
 * @param path The socket path.
 * @param signal Abandons the attempt when aborted.
 * @returns The connection.
 *
 * @example
 * ```ts
 * import { connectUnix } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * await assert.rejects(connectUnix("/nonexistent/x.sock"), Deno.errors.NotFound);
 * ```
 */
export function connectUnix(path: string, signal?: AbortSignal): Promise<Deno.UnixConn> {
  return abortable(Deno.connect({ transport: "unix", path }), signal, (conn) => conn.close());
}

/**
 * Listens on a Unix socket path with mode 0600. A file left at the path is
 * removed and the listen retried once: call it only while holding the
 * directory's lock, when anything there is a leftover of ours.
 *
 * @param path The socket path.
 * @returns The listener; closing it removes the socket file.
 *
 * @example
 * ```ts
 * import { listenUnix } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const listener = listenUnix(`${dir}/x.sock`);
 * assert.equal(Deno.statSync(`${dir}/x.sock`).mode! & 0o777, 0o600);
 * listener.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function listenUnix(path: string): UnixListener {
  let listener: UnixListener;
  try {
    listener = Deno.listen({ transport: "unix", path });
  } catch (error) {
    if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    Deno.removeSync(path);
    listener = Deno.listen({ transport: "unix", path });
  }
  try {
    // chmod follows links: make sure the path is the socket just bound.
    if (!Deno.lstatSync(path).isSocket) {
      throw new Deno.errors.AlreadyExists(
        `Cannot listen on '${path}': expected the socket just created, received another kind of file`,
      );
    }
    Deno.chmodSync(path, 0o600);
  } catch (error) {
    listener.close();
    throw error;
  }
  return listener;
}

/**
 * Writes all of `bytes`: a socket write may be partial.
 *
 * @param conn The connection (any writer).
 * @param bytes The bytes.
 *
 * @example
 * ```ts
 * import { writeAll } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const chunks: number[] = [];
 * const halfWriter = { write: (b: Uint8Array) => Promise.resolve(chunks.push(Math.ceil(b.byteLength / 2)) && Math.ceil(b.byteLength / 2)) };
 * await writeAll(halfWriter, new Uint8Array(8));
 * assert.deepEqual(chunks, [4, 2, 1, 1]);
 * ```
 */
export async function writeAll(
  conn: { write(bytes: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) written += await conn.write(bytes.subarray(written));
}

/**
 * Closes a resource, ignoring "already closed".
 *
 * @param resource A connection, listener or file; `null` is ignored.
 *
 * @example
 * ```ts
 * import { closeQuietly } from "./mod.ts";
 *
 * const file = Deno.openSync(Deno.execPath());
 * closeQuietly(file);
 * closeQuietly(file); // no "BadResource"
 * closeQuietly(null);
 * ```
 */
export function closeQuietly(resource: { close(): void } | null | undefined): void {
  try {
    resource?.close();
  } catch {
    // Already closed.
  }
}

/**
 * Whether an error means "fix your permissions", not "the daemon is away".
 *
 * @param error What a connect or open threw.
 * @returns `true` for Deno's `NotCapable` and the OS's `PermissionDenied`.
 *
 * @example
 * ```ts
 * import { isPermissionError } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isPermissionError(new Deno.errors.NotCapable("net")), true);
 * assert.equal(isPermissionError(new Deno.errors.NotFound("x")), false);
 * ```
 */
export function isPermissionError(error: unknown): boolean {
  return error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied;
}

/**
 * The one text for why a connection to the daemon failed, shared by the
 * publisher's warnings, the monitor's errors and the CLI.
 *
 * @param error What `connectUnix` threw.
 * @returns A short reason, e.g. `no socket (is the daemon running?)`.
 *
 * @example
 * ```ts
 * import { connectErrorText } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(connectErrorText(new Deno.errors.NotFound("x")), "no socket (is the daemon running?)");
 * assert.equal(connectErrorText(new Deno.errors.ConnectionRefused("x")), "connection refused (is the daemon running?)");
 * ```
 */
export function connectErrorText(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no socket (is the daemon running?)";
  if (error instanceof Deno.errors.ConnectionRefused) {
    return "connection refused (is the daemon running?)";
  }
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
