/**
 * Listens on a Unix socket path with mode 0600. A file left at the path
 * (only possible once the daemon holds the lock, so it is a leftover of
 * ours) is removed and the listen retried once.
 */
export function listenUnix(path: string): Deno.Listener<Deno.UnixConn, Deno.UnixAddr> {
  let listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;
  try {
    listener = Deno.listen({ transport: "unix", path });
  } catch (error) {
    if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    Deno.removeSync(path);
    listener = Deno.listen({ transport: "unix", path });
  }
  try {
    Deno.chmodSync(path, 0o600);
  } catch (error) {
    listener.close();
    throw error;
  }
  return listener;
}

/** Writes all of `bytes`; Deno's `write` may be partial. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) offset += await conn.write(bytes.subarray(offset));
}

/** Closes a resource, ignoring "already closed". */
export function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // already closed
  }
}
