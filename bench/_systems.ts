/**
 * The systems the suite measures, each started fresh on its own temp dirs:
 *
 * - `daemon`: `main.ts` as users run it (store on, validation on), or with
 *   `--no-persist`.
 * - `relay`: `bench/baseline_relay.ts`, the same wire protocol with nothing
 *   added: what the runtime itself allows.
 * - `redis`: `redis-server` on a Unix socket (`port 0`, no persistence,
 *   no output-buffer limit for pub/sub subscribers, so it never drops one).
 * - `nats`: `nats-server` on a free loopback port, with its slow-consumer
 *   limits raised (`max_pending` 1 GB, `write_deadline` 60 s) so it never
 *   drops one either.
 *
 * Redis and NATS are skipped, with a one-line reason, when their binary is
 * not installed.
 *
 * @module
 */

import { RELAY_FLAGS, ROOT, type Server, spawnServer } from "./_proc.ts";
import type { Endpoint } from "./_wire.ts";

/** The systems, in table order. */
export const SYSTEMS = ["daemon", "relay", "redis", "nats"] as const;
/** One of {@linkcode SYSTEMS}. */
export type SystemKind = typeof SYSTEMS[number];

/** A running system. */
export interface System extends Server {
  kind: SystemKind;
  label: string;
  endpoint: Endpoint;
  /** The daemon's and the relay's socket dir; `""` for Redis and NATS. */
  socketDir: string;
}

/** How to start a system. */
export interface SystemOptions {
  /** Daemon only: keep the store on. @default {true} */
  persist?: boolean;
  /** More arguments for the daemon or the relay. */
  extraArgs?: string[];
  /** Name in logs. */
  label?: string;
}

const BINARIES: Partial<Record<SystemKind, string>> = {
  redis: "redis-server",
  nats: "nats-server",
};

/** Why `kind` cannot run here (its binary is missing), or null. */
export async function unavailable(kind: SystemKind): Promise<string | null> {
  const bin = BINARIES[kind];
  if (bin === undefined) return null;
  try {
    const out = await new Deno.Command(bin, {
      args: ["--version"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success ? null : `${bin} --version failed`;
  } catch {
    return `${bin} is not installed (apt-get install ${bin}); ${kind} skipped`;
  }
}

async function connects(options: Deno.ConnectOptions | Deno.UnixConnectOptions): Promise<void> {
  const conn = await Deno.connect(options as Deno.ConnectOptions);
  conn.close();
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Starts `kind` on fresh temp dirs; resolves once it accepts a connection. */
export async function startSystem(
  kind: SystemKind,
  options: SystemOptions = {},
): Promise<System> {
  const { persist = true, extraArgs = [], label = kind } = options;
  // BENCH_CPU_PROF_DIR=DIR: each daemon the suite starts writes a V8 CPU
  // profile there when it stops (see bench/profile_summary.ts).
  const profileDir = Deno.env.get("BENCH_CPU_PROF_DIR");
  const profile = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  const dir = await Deno.makeTempDir({ prefix: `dotfiles-bench-${kind}-` });
  await Deno.chmod(dir, 0o700);
  const run = async (
    command: string,
    args: string[],
    endpoint: Endpoint,
    probe: () => Promise<void>,
    socketDir = "",
  ) => {
    const server = await spawnServer(command, args, { label, probe, dirs: [dir] });
    return { ...server, kind, label, endpoint, socketDir };
  };
  if (kind === "daemon" || kind === "relay") {
    const socketDir = `${dir}/sock`;
    await Deno.mkdir(socketDir, { mode: 0o700 });
    const args = kind === "daemon"
      ? [
        "run",
        ...RELAY_FLAGS,
        ...profile,
        `${ROOT}main.ts`,
        socketDir,
        "--state-dir",
        `${dir}/state`,
        ...(persist ? [] : ["--no-persist"]),
        "--log-level",
        "error",
        ...extraArgs,
      ]
      : ["run", ...RELAY_FLAGS, `${ROOT}bench/baseline_relay.ts`, socketDir, ...extraArgs];
    const path = `${socketDir}/command.sock`;
    return await run(
      Deno.execPath(),
      args,
      { protocol: "dotfiles", address: socketDir },
      () => connects({ transport: "unix", path }),
      socketDir,
    );
  }
  if (kind === "redis") {
    const path = `${dir}/redis.sock`;
    return await run(
      "redis-server",
      [
        "--port",
        "0",
        "--unixsocket",
        path,
        "--unixsocketperm",
        "700",
        "--dir",
        dir,
        "--save",
        "",
        "--appendonly",
        "no",
        "--client-output-buffer-limit",
        "pubsub 0 0 0",
        "--loglevel",
        "warning",
      ],
      { protocol: "redis", address: path },
      () => connects({ transport: "unix", path }),
    );
  }
  const port = freePort();
  const config = `${dir}/nats.conf`;
  await Deno.writeTextFile(
    config,
    [
      `listen: "127.0.0.1:${port}"`,
      `max_pending: 1073741824`,
      `write_deadline: "60s"`,
      `max_connections: 10000`,
      "",
    ].join("\n"),
  );
  return await run(
    "nats-server",
    ["-c", config],
    { protocol: "nats", address: `127.0.0.1:${port}` },
    () => connects({ hostname: "127.0.0.1", port }),
  );
}
