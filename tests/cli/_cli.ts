/**
 * Helpers for the CLI end-to-end tests: run `main.ts` as a child process
 * with the documented permission flags, and a live daemon in a temp dir.
 *
 * @module
 */

import { type ChildDaemon, spawnDaemon } from "../_daemon.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const FLAGS = ["--allow-read", "--allow-write", "--allow-net", "--allow-env"];

/** `main.ts`'s path, for tests that spawn it themselves. */
export const CLI_MAIN = MAIN;
/** The documented permission flags of the CLI. */
export const CLI_FLAGS: readonly string[] = FLAGS;

/** What a finished CLI run left. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@linkcode run}. */
export interface RunOptions {
  /** Text piped to stdin (stdin is closed when absent). */
  stdin?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** The working directory (default: this process's). */
  cwd?: string;
}

/** Runs `main.ts ARGS` to completion. */
export async function run(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, MAIN, ...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const dec = new TextDecoder();
  return { code, stdout: dec.decode(stdout), stderr: dec.decode(stderr) };
}

/** A child process whose stdout is read line by line. */
export class LineChild implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #lines: ReadableStreamDefaultReader<string>;
  #buffer: string[] = [];
  #rest = "";
  #pending: Promise<ReadableStreamReadResult<string>> | null = null;
  #stderr: Promise<string>;

  constructor(args: string[], env: Record<string, string> = {}) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...FLAGS, MAIN, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...env },
    }).spawn();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#stderr = new Response(this.#child.stderr).text();
  }

  /** The next stdout line; throws after `ms` without one. */
  async line(ms = 10_000): Promise<string> {
    const deadline = Date.now() + ms;
    while (this.#buffer.length === 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
      });
      // A read that lost the race stays pending for the next call.
      this.#pending ??= this.#lines.read();
      const read = await Promise.race([this.#pending, timeout]).finally(() => clearTimeout(timer));
      if (read === "timeout") throw new Error(`No line within ${ms} ms`);
      this.#pending = null;
      if (read.done) throw new Error(`stdout closed; stderr: ${await this.#stderr}`);
      this.#rest += read.value;
      const parts = this.#rest.split("\n");
      this.#rest = parts.pop()!;
      this.#buffer.push(...parts);
    }
    return this.#buffer.shift()!;
  }

  /** Sends SIGTERM (or `signal`) and waits; returns the exit code. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<number> {
    try {
      this.#child.kill(signal);
    } catch {
      // Already exited.
    }
    const { code } = await this.#child.status;
    return code;
  }

  /** The stderr text, after the process ended. */
  stderr(): Promise<string> {
    return this.#stderr;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await this.#lines.cancel().catch(() => {});
    await this.#stderr.catch(() => "");
  }
}

/** A daemon process (`main.ts serve`) in a temp dir, through the one harness. */
export class DaemonProcess implements AsyncDisposable {
  readonly socketDir: string;
  readonly root: string;
  #child: ChildDaemon | null = null;

  private constructor(root: string) {
    this.root = root;
    this.socketDir = `${root}/sockets`;
  }

  /** Makes a temp dir and starts a daemon on it. */
  static async start(): Promise<DaemonProcess> {
    const root = await Deno.makeTempDir({ prefix: "dotfiles-cli-test-" });
    const daemon = new DaemonProcess(root);
    await daemon.restart();
    return daemon;
  }

  /** (Re)starts the daemon; resolves when it is ready. */
  async restart(): Promise<void> {
    await this.kill();
    this.#child = await spawnDaemon({
      entry: "main",
      socketDir: this.socketDir,
      stateDir: `${this.root}/state`,
      args: ["--log-level", "error"],
    });
  }

  /** Stops the daemon with SIGTERM and waits for it. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    await child?.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
    await Deno.remove(this.root, { recursive: true }).catch(() => {});
  }
}
