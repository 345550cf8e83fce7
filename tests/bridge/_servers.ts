/**
 * Test harness for the bridge: real `nats-server -js` and `mosquitto` on
 * free loopback ports and temp dirs, bridge processes under their own
 * least-privilege flags, and a raw NATS client (hand-written protocol, so
 * the wire is checked without the library the bridge uses).
 *
 * @module
 */

import { bridgePermissionFlags } from "../../service/permissions.ts";
import { until } from "../_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Whether a program is on PATH. */
export function have(program: string): boolean {
  try {
    const out = new Deno.Command("sh", {
      args: ["-c", `command -v ${program}`],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return out.success;
  } catch {
    return false;
  }
}

/** Why the broker tests are skipped, or `null` when both brokers are installed. */
export const SKIP_REASON: string | null =
  ["nats-server", "mosquitto", "mosquitto_sub", "mosquitto_pub"].filter((p) => !have(p))
      .length === 0
    ? null
    : "nats-server, mosquitto or mosquitto-clients not installed (apt-get install nats-server mosquitto mosquitto-clients)";

/** Whether the tests run as root (`id -u`: no sys permission needed). */
function isRoot(): boolean {
  const out = new Deno.Command("id", { args: ["-u"], stdout: "piped", stderr: "null" })
    .outputSync();
  return new TextDecoder().decode(out.stdout).trim() === "0";
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return (listener.addr as Deno.NetAddr).port;
}

async function waitPort(port: number, ms: number): Promise<void> {
  await until(
    async () => {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conn.close();
        return true;
      } catch {
        return false;
      }
    },
    `port ${port}`,
    ms,
  );
}

/** A child process whose output is collected. */
export class Proc implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  #done: Promise<void>;
  #status: Promise<Deno.CommandStatus>;

  constructor(cmd: string, args: string[], env?: Record<string, string>) {
    this.child = new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...(env ? { env } : {}),
    }).spawn();
    this.#status = this.child.status;
    this.#done = Promise.all([this.#collect(this.child.stdout), this.#collect(this.child.stderr)])
      .then(() => {});
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      this.lines.push(...parts);
    }
    if (rest !== "") this.lines.push(rest);
  }

  /** The output so far, one string. */
  get text(): string {
    return this.lines.join("\n");
  }

  /** Sends a signal (ignored when the process is gone). */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.child.kill(signal);
    } catch {
      // Already exited.
    }
  }

  /** Waits for the exit and the end of its output. */
  async wait(): Promise<Deno.CommandStatus> {
    const status = await this.#status;
    await this.#done;
    return status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.kill("SIGKILL");
    await this.wait();
  }
}

/** A broker process that can be stopped and started again on the same port and dir. */
export class Broker implements AsyncDisposable {
  readonly port: number;
  readonly kind: "nats" | "mqtt";
  readonly dir: string;
  #proc: Proc | null = null;
  #extra: string[];

  private constructor(kind: "nats" | "mqtt", dir: string, extra: string[]) {
    this.kind = kind;
    this.dir = dir;
    this.port = freePort();
    this.#extra = extra;
  }

  /** Starts `nats-server -js` (with extra args such as `--user`). */
  static async nats(dir: string, extra: string[] = []): Promise<Broker> {
    const broker = new Broker("nats", dir, extra);
    await broker.start();
    return broker;
  }

  /** Starts `mosquitto` with persistence in `dir`. */
  static async mqtt(dir: string): Promise<Broker> {
    const broker = new Broker("mqtt", dir, []);
    await Deno.writeTextFile(
      `${dir}/mosquitto.conf`,
      [
        `listener ${broker.port} 127.0.0.1`,
        "allow_anonymous true",
        "persistence true",
        // mosquitto drops QoS 1 messages beyond 1000 queued per client by default.
        "max_queued_messages 1000000",
        "set_tcp_nodelay true",
        // Started as root, mosquitto drops to the mosquitto user, which cannot
        // write its persistence file into our 0700 temp dir: stay who we are.
        ...(isRoot() ? ["user root"] : []),
        `persistence_location ${dir}/`,
        "log_dest stderr",
        "",
      ].join("\n"),
    );
    await broker.start();
    return broker;
  }

  /** The URL a bridge connects to. */
  get url(): string {
    return `${this.kind}://127.0.0.1:${this.port}`;
  }

  /** Starts the server (again). */
  async start(): Promise<void> {
    if (this.kind === "nats") {
      this.#proc = new Proc("nats-server", [
        "-a",
        "127.0.0.1",
        "-p",
        String(this.port),
        "-js",
        "-sd",
        `${this.dir}/js`,
        ...this.#extra,
      ]);
    } else {
      this.#proc = new Proc("mosquitto", ["-c", `${this.dir}/mosquitto.conf`]);
    }
    await waitPort(this.port, 10_000);
  }

  /** Stops the server (SIGTERM: mosquitto saves its persistence file). */
  async stop(): Promise<void> {
    const proc = this.#proc;
    this.#proc = null;
    if (proc === null) return;
    proc.kill("SIGTERM");
    await proc.wait();
  }

  /** The server's log so far. */
  get log(): string {
    return this.#proc?.text ?? "";
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Options of {@linkcode startBridge}. */
export interface BridgeProcOptions {
  socketDir: string;
  stateDir: string;
  host: string;
  args?: string[];
  env?: Record<string, string>;
}

/** Runs `main.ts bridge URL` under the bridge's own permission flags. */
export function startBridge(url: string, options: BridgeProcOptions): Proc {
  const broker = url.replace(/^[a-z]+:\/\//, "");
  const flags = bridgePermissionFlags({
    socketDir: options.socketDir,
    stateDir: options.stateDir,
    broker,
  });
  return new Proc(Deno.execPath(), [
    "run",
    "--quiet",
    ...flags,
    `${ROOT}main.ts`,
    "bridge",
    url,
    "--socket-dir",
    options.socketDir,
    "--state-dir",
    options.stateDir,
    "--host",
    options.host,
    ...(options.args ?? []),
  ], options.env);
}

/** One message from the raw NATS client. */
export interface NatsMsg {
  subject: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * A minimal NATS client speaking the text protocol by hand: `SUB`, `PUB`
 * and request/reply, `MSG` and `HMSG` parsed from the bytes.
 */
export class RawNats implements Disposable {
  readonly messages: NatsMsg[] = [];
  #conn: Deno.TcpConn;
  #buf = new Uint8Array(0);
  #sid = 0;
  #waiters = new Map<string, (m: NatsMsg) => void>();
  #reading: Promise<void>;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    this.#reading = this.#read();
  }

  /** Connects and sends `CONNECT` (headers on). */
  static async connect(port: number): Promise<RawNats> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const nats = new RawNats(conn);
    await nats.#send(`CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\n`);
    return nats;
  }

  async #send(text: string): Promise<void> {
    let bytes = encoder.encode(text);
    while (bytes.length > 0) bytes = bytes.subarray(await this.#conn.write(bytes));
  }

  /** Subscribes; messages land in {@linkcode RawNats.messages}. */
  async subscribe(subject: string): Promise<void> {
    await this.#send(`SUB ${subject} ${++this.#sid}\r\n`);
  }

  /** A request with an inbox reply, resolved with the first answer. */
  async request(subject: string, body: string, ms = 5000): Promise<NatsMsg> {
    const inbox = `_INBOX.raw${++this.#sid}`;
    const answer = new Promise<NatsMsg>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer on ${subject}`)), ms);
      this.#waiters.set(inbox, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
    await this.#send(`SUB ${inbox} ${this.#sid}\r\n`);
    const bytes = encoder.encode(body);
    await this.#send(`PUB ${subject} ${inbox} ${bytes.byteLength}\r\n${body}\r\n`);
    return await answer;
  }

  async #read(): Promise<void> {
    const chunk = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await this.#conn.read(chunk);
        if (n === null) return;
        const next = new Uint8Array(this.#buf.length + n);
        next.set(this.#buf);
        next.set(chunk.subarray(0, n), this.#buf.length);
        this.#buf = next;
        await this.#parse();
      }
    } catch {
      // Closed.
    }
  }

  async #parse(): Promise<void> {
    for (;;) {
      const eol = this.#indexOfCrlf(0);
      if (eol < 0) return;
      const line = decoder.decode(this.#buf.subarray(0, eol));
      const [op, ...args] = line.split(" ");
      if (op === "PING") {
        this.#buf = this.#buf.subarray(eol + 2);
        await this.#send("PONG\r\n");
        continue;
      }
      if (op === "MSG" || op === "HMSG") {
        const total = Number(args.at(-1));
        const headerSize = op === "HMSG" ? Number(args.at(-2)) : 0;
        const start = eol + 2;
        if (this.#buf.length < start + total + 2) return;
        const raw = this.#buf.subarray(start, start + total);
        const headers: Record<string, string> = {};
        if (headerSize > 0) {
          const lines = decoder.decode(raw.subarray(0, headerSize)).split("\r\n").slice(1);
          for (const h of lines) {
            const i = h.indexOf(":");
            if (i > 0) headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
          }
        }
        const msg = {
          subject: args[0]!,
          headers,
          body: decoder.decode(raw.subarray(headerSize)),
        };
        this.#buf = this.#buf.subarray(start + total + 2);
        const waiter = this.#waiters.get(msg.subject);
        if (waiter !== undefined) {
          this.#waiters.delete(msg.subject);
          waiter(msg);
        } else {
          this.messages.push(msg);
        }
        continue;
      }
      this.#buf = this.#buf.subarray(eol + 2);
    }
  }

  #indexOfCrlf(from: number): number {
    for (let i = from; i + 1 < this.#buf.length; i++) {
      if (this.#buf[i] === 13 && this.#buf[i + 1] === 10) return i;
    }
    return -1;
  }

  [Symbol.dispose](): void {
    try {
      this.#conn.close();
    } catch {
      // Closed.
    }
  }

  /** Closes and waits for the reader to end. */
  async close(): Promise<void> {
    this[Symbol.dispose]();
    await this.#reading;
  }
}

/** Runs `mosquitto_sub` until it has `count` messages or `seconds` pass; lines `topic payload`. */
export async function mosquittoSub(
  port: number,
  topics: string[],
  count: number,
  seconds = 5,
): Promise<string[]> {
  const out = await new Deno.Command("mosquitto_sub", {
    args: [
      "-h",
      "127.0.0.1",
      "-p",
      String(port),
      "-v",
      "-C",
      String(count),
      "-W",
      String(seconds),
      ...topics.flatMap((t) => ["-t", t]),
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  return decoder.decode(out.stdout).split("\n").filter((l) => l !== "");
}

/** Runs `mosquitto_pub` once. */
export async function mosquittoPub(port: number, topic: string, payload: string): Promise<void> {
  const out = await new Deno.Command("mosquitto_pub", {
    args: ["-h", "127.0.0.1", "-p", String(port), "-q", "1", "-t", topic, "-m", payload],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`mosquitto_pub failed: ${decoder.decode(out.stderr)}`);
}
