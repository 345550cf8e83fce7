import {
  defaultSocketDir,
  FrameDecoder,
  type Message,
  parseMessage,
  type ValidationResult,
} from "../protocol/mod.ts";

/** The largest frame the monitor reads (history pages can be large). */
export const MAX_RESPONSE_SIZE = 256 * 1024 * 1024;

/** The socket directory from the options, or the default one. */
export function resolveSocketDir(socketDir: string | undefined): string {
  const dir = socketDir ?? defaultSocketDir((name) => Deno.env.get(name));
  return dir.replace(/\/+$/, "");
}

/** Whether an error means "fix your permissions", not "the daemon is away". */
export function isPermissionError(err: unknown): boolean {
  return err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied;
}

/** Resolves after `ms`, or rejects with the signal's reason. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    function onAbort(): void {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Races `promise` against `signal`; when the signal wins, `onAbort` runs
 * (to release what the promise holds) and the result rejects with the reason.
 */
export function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  onAbort?: (value: T) => void,
): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.then((v) => onAbort?.(v), () => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    function abort(): void {
      if (settled) return;
      settled = true;
      promise.then((v) => onAbort?.(v), () => {});
      reject(signal!.reason);
    }
    signal.addEventListener("abort", abort, { once: true });
    promise.then((value) => {
      signal.removeEventListener("abort", abort);
      if (settled) return onAbort?.(value);
      settled = true;
      resolve(value);
    }, (err) => {
      signal.removeEventListener("abort", abort);
      if (settled) return;
      settled = true;
      reject(err);
    });
  });
}

/** Connects to a Unix socket; the signal abandons the attempt. */
export function connectUnix(path: string, signal?: AbortSignal): Promise<Deno.UnixConn> {
  return abortable(Deno.connect({ transport: "unix", path }), signal, (conn) => conn.close());
}

/** Closes a connection, ignoring "already closed". */
export function closeQuietly(conn: Deno.Conn | null): void {
  try {
    conn?.close();
  } catch {
    // Already closed.
  }
}

/** Writes all of `bytes` (a write may be partial). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = await conn.write(bytes);
  while (written < bytes.byteLength) written += await conn.write(bytes.subarray(written));
}

/**
 * Reads frames from a connection on demand and parses each body. Reading
 * only when asked keeps back-pressure on the daemon, which queues for slow
 * monitors. Close the connection to interrupt a pending read.
 */
export class MessageReader {
  #conn: Deno.Conn;
  #decoder: FrameDecoder;
  #buffer = new Uint8Array(64 * 1024);
  #parsed: ValidationResult<Message>[] = [];
  #head = 0;
  #eof = false;

  constructor(conn: Deno.Conn, maxMessageSize: number = MAX_RESPONSE_SIZE) {
    this.#conn = conn;
    this.#decoder = new FrameDecoder(maxMessageSize);
  }

  /** The next parsed frame, or `null` at the end of the stream. */
  async read(): Promise<ValidationResult<Message> | null> {
    while (this.#head >= this.#parsed.length) {
      if (this.#eof) return null;
      this.#parsed = [];
      this.#head = 0;
      const n = await this.#conn.read(this.#buffer);
      if (n === null) {
        this.#eof = true;
        this.#decoder.end();
        return null;
      }
      // Bodies are views of the buffer: parse them before the next read.
      this.#decoder.push(this.#buffer.subarray(0, n), (body) => {
        this.#parsed.push(parseMessage(body));
      });
    }
    return this.#parsed[this.#head++]!;
  }
}
