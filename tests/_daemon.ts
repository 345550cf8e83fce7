/**
 * The one daemon test harness: a daemon in this process ({@linkcode startDaemon})
 * or in a child process ({@linkcode spawnDaemon}), on a temp dir or on dirs
 * the test names, removed on `await using`, and one readiness check
 * ({@linkcode untilReady}): `query.sock` answers `get_daemon_status`.
 *
 * @module
 */

import { type DaemonOptions, DotfilesDaemon } from "../daemon/mod.ts";
import { sleep } from "../transport/mod.ts";
import { RawClient, withTmpDir } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** `cli/serve.ts` alone, for the tests that must not depend on the rest of the CLI. */
const RUN_SERVE = new URL("./robustness/_run_daemon.ts", import.meta.url).pathname;
/** The permission flags of a daemon process unless a test gives its own. */
const FLAGS = ["--allow-read", "--allow-write", "--allow-net", "--allow-env"];

/** Options of {@linkcode untilReady}. */
export interface ReadyOptions {
  /** Give up after this many ms. @default {20000} */
  timeoutMs?: number;
  /** Ends the wait early: the daemon process exited. */
  signal?: AbortSignal;
}

/**
 * Waits until the daemon on `socketDir` answers a status query: every
 * socket it listens on at start-up is then open (it listens on all of them
 * before it serves any).
 */
export async function untilReady(socketDir: string, options: ReadyOptions = {}): Promise<void> {
  const { timeoutMs = 20_000, signal } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    try {
      using q = await RawClient.connect(`${socketDir}/query.sock`, 0);
      const response = await q.query("get_daemon_status");
      if ((response.payload as Record<string, unknown>)?.type === "query_response") return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`daemon on ${socketDir} not ready within ${timeoutMs} ms`, {
          cause: error,
        });
      }
    }
    await sleep(20, signal);
  }
}

/** A daemon running in this process. */
export interface Running extends AsyncDisposable {
  daemon: DotfilesDaemon;
  /** The temp root (`sockets/` and `state/` live in it unless the options name dirs). */
  root: string;
  /** The socket dir. */
  dir: string;
  /** Log lines at `logLevel` (default warn) and above. */
  logs: string[];
  sock(name: string): string;
}

/**
 * Starts a daemon in this process (`persist: false` and logs collected
 * unless the options say otherwise); ready when it resolves. On dispose it
 * is stopped and the temp root removed.
 */
export async function startDaemon(options: DaemonOptions = {}): Promise<Running> {
  const tmp = await withTmpDir();
  const logs: string[] = [];
  const dir = options.socketDir ?? `${tmp.path}/sockets`;
  const daemon = new DotfilesDaemon({
    socketDir: dir,
    stateDir: `${tmp.path}/state`,
    persist: false,
    logLevel: "warn",
    logSink: (line) => logs.push(line),
    ...options,
  });
  try {
    await daemon.start();
  } catch (error) {
    await tmp[Symbol.asyncDispose]();
    throw error;
  }
  return {
    daemon,
    root: tmp.path,
    dir,
    logs,
    sock: (name) => `${dir}/${name}`,
    async [Symbol.asyncDispose](): Promise<void> {
      await daemon.stop();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

/** Options of {@linkcode spawnDaemon}. */
export interface SpawnOptions {
  /** The socket dir (absolute). */
  socketDir: string;
  /** The state dir; omitted, the daemon's default (of `HOME`) applies. */
  stateDir?: string;
  /** Flags after the dirs, such as `["--no-persist"]`. @default {[]} */
  args?: string[];
  /**
   * `main.ts serve` (the CLI) or `serve` alone (`cli/serve.ts`).
   *
   * @default {"serve"}
   */
  entry?: "main" | "serve";
  /** `deno run` permission flags. @default {["--allow-read", "--allow-write", "--allow-net", "--allow-env"]} */
  flags?: string[];
  /** The child's environment, added to this one's. */
  env?: Record<string, string>;
  /** Wait for {@linkcode untilReady}. @default {true} */
  ready?: boolean;
  /** A command that execs the daemon, such as `["prlimit", "--nofile=128", "--"]` (the pid stays the daemon's). */
  wrapper?: string[];
}

/** A daemon in a child process. */
export interface ChildDaemon extends AsyncDisposable {
  child: Deno.ChildProcess;
  pid: number;
  /** The socket dir. */
  dir: string;
  sock(name: string): string;
  /** Collected stderr (log lines). */
  stderr(): string;
  /** SIGTERM, then wait for the exit; idempotent. */
  stop(): Promise<{ code: number; stderr: string }>;
  /** SIGKILL, then wait. */
  kill9(): Promise<void>;
}

/** `deno run` arguments for a daemon process. */
export function daemonArgs(options: SpawnOptions): string[] {
  const { socketDir, stateDir, args = [], entry = "serve", flags = FLAGS } = options;
  return [
    "run",
    ...flags,
    ...(entry === "main" ? [`${ROOT}main.ts`, "serve"] : [RUN_SERVE]),
    socketDir,
    ...(stateDir !== undefined ? ["--state-dir", stateDir] : []),
    ...args,
  ];
}

/**
 * Spawns `deno run <flags> <entry> <socketDir> --state-dir <stateDir> <args>`
 * and waits until it is ready (or throws with its stderr when it exits
 * first). On dispose: SIGTERM, SIGKILL after 5 s.
 */
export async function spawnDaemon(options: SpawnOptions): Promise<ChildDaemon> {
  const [command, ...before] = [...(options.wrapper ?? []), Deno.execPath()];
  const child = new Deno.Command(command!, {
    args: [...before, ...daemonArgs(options)],
    cwd: ROOT,
    ...(options.env !== undefined ? { env: options.env } : {}),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let err = "";
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) err += decoder.decode(chunk, { stream: true });
  })();
  const exited = new AbortController();
  const status = child.status.then((s) => {
    exited.abort(new Error("the daemon process exited"));
    return s;
  });
  const signal = (name: Deno.Signal): void => {
    if (exited.signal.aborted) return;
    try {
      child.kill(name);
    } catch {
      // already gone
    }
  };
  let stopping: Promise<{ code: number; stderr: string }> | null = null;
  const stop = (): Promise<{ code: number; stderr: string }> =>
    stopping ??= (async () => {
      signal("SIGTERM");
      const timer = setTimeout(() => signal("SIGKILL"), 5000);
      const { code } = await status;
      clearTimeout(timer);
      await reading;
      return { code, stderr: err };
    })();
  const handle: ChildDaemon = {
    child,
    pid: child.pid,
    dir: options.socketDir,
    sock: (name) => `${options.socketDir}/${name}`,
    stderr: () => err,
    stop,
    async kill9(): Promise<void> {
      signal("SIGKILL");
      await status;
      await reading;
    },
    async [Symbol.asyncDispose](): Promise<void> {
      await stop();
    },
  };
  if (options.ready ?? true) {
    try {
      await untilReady(options.socketDir, { signal: exited.signal });
    } catch (error) {
      await stop();
      throw new Error(`daemon did not become ready: ${err}`, { cause: error });
    }
  }
  return handle;
}
