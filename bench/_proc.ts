/**
 * Process plumbing for the benchmark suite: spawning the relays and the
 * client with deadlines, and reading CPU time and memory from `/proc`.
 * Every process spawned here is killed by `kill()`/`stop()`, which the suite
 * calls in `finally`.
 *
 * @module
 */

/** The repository root. */
export const ROOT = new URL("..", import.meta.url).pathname;
/** The permission flags the daemon and the relay run with (no `-A`). */
export const RELAY_FLAGS = ["--allow-read", "--allow-write", "--allow-net", "--allow-env"];

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Whole lines of a child's text output, however its pipe splits or joins
 * them: one read of the pipe can hold several lines (a child that writes
 * three lines in a burst is often read as one or two chunks) or part of one.
 */
export class LineReader {
  #reader: ReadableStreamDefaultReader<string>;
  #buffered = "";

  /** Reads `stream` from now on. */
  constructor(stream: ReadableStream<string>) {
    this.#reader = stream.getReader();
  }

  /**
   * The next whole line, without its `\n`.
   *
   * @throws When the stream ends before one.
   */
  async next(): Promise<string> {
    for (;;) {
      const end = this.#buffered.indexOf("\n");
      if (end >= 0) {
        const line = this.#buffered.slice(0, end);
        this.#buffered = this.#buffered.slice(end + 1);
        return line;
      }
      const { value, done } = await this.#reader.read();
      if (done) throw new Error("Cannot read a line: the output ended");
      this.#buffered += value;
    }
  }

  /** Stops reading; a pending {@linkcode LineReader.next} ends. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

/** Races `promise` against a deadline; rejects with `what` when it passes. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function tail(): { push(chunk: Uint8Array): void; text(): string } {
  let kept = "";
  const decoder = new TextDecoder();
  return {
    push(chunk): void {
      kept = (kept + decoder.decode(chunk, { stream: true })).slice(-4096);
    },
    text: () => kept,
  };
}

async function drain(
  stream: ReadableStream<Uint8Array>,
  sink: (c: Uint8Array) => void,
): Promise<void> {
  try {
    for await (const chunk of stream) sink(chunk);
  } catch {
    // process killed
  }
}

/** A server process started by {@linkcode spawnServer}. */
export interface Server {
  pid: number;
  /** ms from spawn to the first accepted connection. */
  startupMs: number;
  /** The last few KB the process wrote to stderr (and stdout). */
  stderr(): string;
  /** SIGTERM, then SIGKILL after 5 s; removes `dirs`. Idempotent. */
  kill(): Promise<void>;
}

/** How to start a server. */
export interface SpawnOptions {
  /** Name in error messages. */
  label: string;
  /** Tries one connection; resolves when the server accepts. */
  probe(): Promise<void>;
  /** Directories removed once the process is gone. */
  dirs?: string[];
  /** ms to wait for the first accepted connection. @default {15000} */
  waitMs?: number;
}

/**
 * Spawns `command args` and waits until `probe()` succeeds (retried every
 * 2 ms). On failure the process is killed and its dirs removed.
 */
export async function spawnServer(
  command: string,
  args: string[],
  options: SpawnOptions,
): Promise<Server> {
  const { label, probe, dirs = [], waitMs = 15_000 } = options;
  const started = performance.now();
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const err = tail();
  const drained = Promise.all([drain(child.stdout, err.push), drain(child.stderr, err.push)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  let killed = false;
  async function kill(): Promise<void> {
    if (killed) return;
    killed = true;
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch {
        // gone
      }
      try {
        await withTimeout(status, 5000, `${label} to exit on SIGTERM`);
      } catch {
        try {
          child.kill("SIGKILL");
        } catch {
          // gone
        }
        await withTimeout(status, 5000, `${label} to exit on SIGKILL`).catch(() => {});
      }
    }
    await withTimeout(drained, 2000, "stderr").catch(() => {});
    for (const d of dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
  }
  try {
    const deadline = started + waitMs;
    for (;;) {
      if (exited) throw new Error(`${label} exited at start-up: ${err.text()}`);
      try {
        await probe();
        break;
      } catch (e) {
        if (performance.now() > deadline) {
          throw new Error(`${label} did not accept within ${waitMs} ms (${e}): ${err.text()}`);
        }
        await sleep(2);
      }
    }
    return { pid: child.pid, startupMs: performance.now() - started, stderr: err.text, kill };
  } catch (e) {
    await kill();
    throw e;
  }
}

/** What a client run printed last (`{"event":"result", ...}`). */
export type ClientResult = Record<string, unknown> & { ok?: boolean; error?: string };

function clientArgs(spec: Record<string, unknown>): string[] {
  return [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-net",
    "--allow-env",
    `${ROOT}bench/_client.ts`,
    JSON.stringify(spec),
  ];
}

function lines(onLine: (line: Record<string, unknown>) => void): (chunk: Uint8Array) => void {
  const decoder = new TextDecoder();
  let buffered = "";
  return (chunk) => {
    buffered += decoder.decode(chunk, { stream: true });
    let i: number;
    while ((i = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      try {
        onLine(JSON.parse(line));
      } catch {
        // not ours
      }
    }
  };
}

/**
 * Runs the client process to completion (killed after `timeoutMs`) and
 * returns its result line.
 */
export async function runClient(
  spec: Record<string, unknown>,
  timeoutMs: number,
): Promise<ClientResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: clientArgs({ ...spec, timeoutMs: timeoutMs - 3000 }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let result: ClientResult = { ok: false, error: "client printed no result" };
  const err = tail();
  const out = drain(
    child.stdout,
    lines((l) => {
      if (l.event === "result") result = l as ClientResult;
    }),
  );
  const errDone = drain(child.stderr, err.push);
  try {
    await withTimeout(child.status, timeoutMs, "client");
  } catch (e) {
    result = { ok: false, error: String(e) };
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited
    }
    await withTimeout(Promise.all([out, errDone, child.status]), 5000, "client exit").catch(
      () => {},
    );
  }
  if (result.error !== undefined && err.text()) result.stderr = err.text().slice(-800);
  return result;
}

/** A client holding subscribers open until `stop()`. */
export interface HoldingClient extends AsyncDisposable {
  pid: number;
  stop(): Promise<ClientResult>;
}

/** Starts a `hold` client and waits (at most `timeoutMs`) until it is ready. */
export async function holdClient(
  spec: Record<string, unknown>,
  timeoutMs: number,
): Promise<HoldingClient> {
  const child = new Deno.Command(Deno.execPath(), {
    args: clientArgs({ ...spec, mode: "hold", timeoutMs: 600_000 }),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let result: ClientResult = { ok: false, error: "client printed no result" };
  let markReady: (v: Record<string, unknown>) => void = () => {};
  const ready = new Promise<Record<string, unknown>>((r) => (markReady = r));
  const err = tail();
  const out = drain(
    child.stdout,
    lines((l) => {
      if (l.event === "ready") markReady(l);
      if (l.event === "result") {
        result = l as ClientResult;
        markReady(l);
      }
    }),
  );
  const errDone = drain(child.stderr, err.push);
  let stopped = false;
  async function stop(): Promise<ClientResult> {
    if (!stopped) {
      stopped = true;
      await child.stdin.close().catch(() => {});
      await withTimeout(child.status, 10_000, "hold client to exit").catch(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // exited
        }
      });
      await withTimeout(Promise.all([out, errDone, child.status]), 5000, "client exit").catch(
        () => {},
      );
    }
    return result;
  }
  try {
    const first = await withTimeout(ready, timeoutMs, "hold client to be ready");
    if (first.event !== "ready") {
      throw new Error(`hold client failed: ${JSON.stringify(first)} ${err.text().slice(-800)}`);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { pid: child.pid, stop, [Symbol.asyncDispose]: async () => void await stop() };
}

/**
 * Reads files under `/proc` through `cat`: Deno 2.9 lets a `deno run` script
 * read another process's `/proc` entries only with `--allow-all`, and the
 * suite runs with explicit permissions (`--allow-run` covers `cat`).
 */
export async function readProc(...paths: string[]): Promise<string> {
  const out = await new Deno.Command("cat", {
    args: paths,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout);
}

/** A CPU-time snapshot of a process. */
export interface CpuSnapshot {
  /** Run time per live thread in ns, from `/proc/<pid>/task/<tid>/schedstat`. */
  threads: Map<string, number>;
  /** `utime + stime` of `/proc/<pid>/stat` (10 ms ticks) in ns, exited threads included. */
  statNs: number;
}

/** Takes a CPU-time snapshot of a process. */
export async function cpuTime(pid: number): Promise<CpuSnapshot> {
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      `for f in /proc/${Number(pid)}/task/*/schedstat; do echo "$f $(cat "$f")"; done`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  const threads = new Map<string, number>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const [path, run] = line.split(" ");
    if (path && run) threads.set(path, Number(run));
  }
  const stat = await readProc(`/proc/${pid}/stat`);
  // Fields after the command name (which may contain spaces): state is 3rd.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime (14), stime (15)
  return { threads, statNs: ticks * 10_000_000 };
}

/**
 * CPU time used between two snapshots, in ns: per thread, ns resolution
 * (threads that exited in between lose their share; idle pool threads are
 * what exits), and from `utime + stime` (10 ms resolution).
 */
export function cpuDelta(before: CpuSnapshot, after: CpuSnapshot): {
  schedNs: number;
  statNs: number;
} {
  let schedNs = 0;
  for (const [tid, ns] of after.threads) schedNs += ns - (before.threads.get(tid) ?? 0);
  return { schedNs, statNs: after.statNs - before.statNs };
}

/** Resident set size of a process in bytes (`VmRSS`). */
export async function rss(pid: number): Promise<number> {
  const status = await readProc(`/proc/${pid}/status`);
  const match = status.match(/^VmRSS:\s+(\d+) kB/m);
  return match ? Number(match[1]) * 1024 : NaN;
}

/** Runs `deno bench` on the publisher bench file against `socketDir`. */
export async function publisherBench(
  socketDir: string,
  iterations: number,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["bench", ...RELAY_FLAGS, "--json", `${ROOT}bench/publisher_bench.ts`],
    env: { BENCH_SOCKET_DIR: socketDir, BENCH_N: String(iterations) },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const chunks: Uint8Array[] = [];
  const err = tail();
  const out = drain(child.stdout, (c) => chunks.push(c));
  const errDone = drain(child.stderr, err.push);
  try {
    await withTimeout(child.status, timeoutMs, "deno bench");
    await withTimeout(Promise.all([out, errDone]), 5000, "deno bench output");
    const text = new TextDecoder().decode(await new Blob(chunks as BlobPart[]).bytes());
    const report = JSON.parse(text);
    const out2: Record<string, unknown> = {};
    for (const b of report.benches ?? []) {
      const ok = b.results?.[0]?.ok;
      if (ok) out2[b.name] = { n: ok.n, avgNs: ok.avg, p75Ns: ok.p75, p99Ns: ok.p99 };
    }
    return out2;
  } catch (e) {
    return { error: `${e} ${err.text().slice(-800)}` };
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited
    }
    await withTimeout(child.status, 5000, "deno bench exit").catch(() => {});
  }
}
