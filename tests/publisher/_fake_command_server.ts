/**
 * A stand-in for the daemon's `command.sock`: accepts publishers and
 * collects the frames they send, or (with `read: false`) accepts and never
 * reads, like a daemon that stopped reading.
 *
 * @module
 */

import { FrameDecoder } from "../../protocol/mod.ts";

/** Options of {@linkcode FakeCommandServer.start}. */
export interface FakeCommandServerOptions {
  /** Read what publishers send. @default {true} */
  read?: boolean;
  /**
   * Stop reading a connection after this many bytes (and keep it open),
   * like a daemon that stopped reading in the middle of a frame.
   *
   * @default {Infinity}
   */
  readLimit?: number;
}

/** A fake `command.sock` that records received messages. */
export class FakeCommandServer implements AsyncDisposable {
  readonly path: string;
  readonly messages: Record<string, unknown>[] = [];
  /** Connections accepted so far. */
  accepted = 0;
  /** Bytes read so far, over all connections. */
  bytesRead = 0;
  #listener: Deno.UnixListener;
  #conns = new Set<Deno.UnixConn>();
  #tasks = new Set<Promise<void>>();
  #waiters: { done: () => boolean; resolve: () => void }[] = [];
  #readLimit: number;
  #acceptLoop: Promise<void>;
  #stopped = false;

  private constructor(path: string, read: boolean, readLimit: number) {
    this.path = path;
    this.#readLimit = readLimit;
    this.#listener = Deno.listen({ transport: "unix", path });
    this.#acceptLoop = this.#accept(read);
  }

  /** Listens on `<dir>/command.sock`. */
  static start(dir: string, options: FakeCommandServerOptions = {}): FakeCommandServer {
    return new FakeCommandServer(
      `${dir}/command.sock`,
      options.read ?? true,
      options.readLimit ?? Infinity,
    );
  }

  async #accept(read: boolean): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        this.accepted++;
        this.#conns.add(conn);
        if (!read) continue;
        const task = this.#readConn(conn);
        this.#tasks.add(task);
        task.finally(() => this.#tasks.delete(task));
      }
    } catch {
      // listener closed
    }
  }

  async #readConn(conn: Deno.UnixConn): Promise<void> {
    const decoder = new FrameDecoder(16 * 1024 * 1024);
    const text = new TextDecoder();
    const buffer = new Uint8Array(64 * 1024);
    let left = this.#readLimit;
    try {
      while (left > 0) {
        const n = await conn.read(buffer.subarray(0, Math.min(buffer.byteLength, left)));
        if (n === null) break;
        left -= n;
        this.bytesRead += n;
        decoder.push(buffer.subarray(0, n), (body) => {
          this.messages.push(JSON.parse(text.decode(body)));
        });
        this.#wake();
      }
      // Limit reached: the connection stays open, unread, until dropped.
      if (left <= 0) return;
    } catch {
      // closed
    }
    this.#conns.delete(conn);
    try {
      conn.close();
    } catch {
      // already closed
    }
  }

  #wake(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.done()) return true;
      w.resolve();
      return false;
    });
  }

  #until(done: () => boolean, what: () => string, timeoutMs: number): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== finish);
        reject(new Error(what()));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.#waiters.push({ done, resolve: finish });
    });
  }

  /** Resolves once `n` messages have arrived (rejects after `timeoutMs`). */
  waitFor(n: number, timeoutMs = 5000): Promise<void> {
    return this.#until(
      () => this.messages.length >= n,
      () => `received ${this.messages.length} of ${n} messages`,
      timeoutMs,
    );
  }

  /** Resolves once `n` bytes have been read (rejects after `timeoutMs`). */
  waitForBytes(n: number, timeoutMs = 5000): Promise<void> {
    return this.#until(
      () => this.bytesRead >= n,
      () => `read ${this.bytesRead} of ${n} bytes`,
      timeoutMs,
    );
  }

  /**
   * Closes every accepted connection, keeping the listener. Resolves once
   * the reads on them have ended (Deno closes the descriptor only then).
   */
  async dropConnections(): Promise<void> {
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
    this.#conns.clear();
    await Promise.all(this.#tasks);
    await new Promise((r) => setTimeout(r, 0));
  }

  /** Closes everything and waits until the socket file is gone. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#listener.close();
    await this.dropConnections();
    await this.#acceptLoop;
    await Promise.all(this.#tasks);
    // Closing a Unix listener removes its file a moment later.
    for (let i = 0; i < 200; i++) {
      try {
        await Deno.lstat(this.path);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await Deno.remove(this.path).catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
