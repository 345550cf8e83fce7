/**
 * The bridge against real brokers: `nats-server -js` and `mosquitto` on
 * free loopback ports, two daemons on two socket dirs playing hosts A and B,
 * and bridge processes under their own least-privilege flags.
 */

import assert from "node:assert/strict";
import { type DaemonOptions, DotfilesDaemon } from "../../daemon/mod.ts";
import { DaemonPublisher } from "../../publisher/mod.ts";
import { getEventHistory, listEventTypes } from "../../monitor/mod.ts";
import type { Message } from "../../protocol/mod.ts";
import { counters, type Running, startDaemon, until, withTmpDir } from "../_helpers.ts";
import {
  Broker,
  mosquittoPub,
  mosquittoSub,
  type Proc,
  RawNats,
  SKIP_REASON,
  startBridge,
} from "./_servers.ts";

const ignore = SKIP_REASON !== null;
if (ignore) {
  // deno-lint-ignore no-console
  console.warn(`tests/bridge skipped: ${SKIP_REASON}`);
}

interface Host extends AsyncDisposable {
  name: string;
  daemon: Running;
  stateDir: string;
  publisher: DaemonPublisher;
  bridge: Proc | null;
  start(url: string, args?: string[]): Proc;
  /** Kills the bridge with SIGKILL. */
  kill(): Promise<void>;
  /** Stops the bridge with SIGTERM and returns its exit code. */
  stop(): Promise<number>;
}

async function host(name: string, options: DaemonOptions = {}): Promise<Host> {
  const daemon = await startDaemon({ historyLimit: 5000, ...options });
  const stateDir = `${daemon.root}/bridge-state`;
  const publisher = new DaemonPublisher({ socketDir: daemon.dir, onWarning: () => {} });
  const h: Host = {
    name,
    daemon,
    stateDir,
    publisher,
    bridge: null,
    start(url, args = ["--import"]): Proc {
      h.bridge = startBridge(url, { socketDir: daemon.dir, stateDir, host: name, args });
      return h.bridge;
    },
    async kill(): Promise<void> {
      h.bridge?.kill("SIGKILL");
      await h.bridge?.wait();
    },
    async stop(): Promise<number> {
      const bridge = h.bridge!;
      bridge.kill("SIGTERM");
      return (await bridge.wait()).code;
    },
    async [Symbol.asyncDispose](): Promise<void> {
      if (h.bridge !== null) {
        h.bridge.kill("SIGKILL");
        await h.bridge.wait();
      }
      await publisher.close();
      await daemon[Symbol.asyncDispose]();
    },
  };
  return h;
}

function progressMessage(type: string, i: number): Message {
  return {
    message_id: crypto.randomUUID(),
    timestamp: new Date().toISOString(),
    event_type: type,
    payload: {
      type: "operation_progress",
      operation_id: "op-1",
      step_id: "s",
      step_progress: i % 101,
      overall_progress: i % 101,
      i,
    },
  };
}

async function publishAll(h: Host, messages: Message[], gap = 0): Promise<void> {
  for (const m of messages) {
    assert.ok(await h.publisher.publish(m), `publish to ${h.name}`);
    if (gap > 0) await new Promise((r) => setTimeout(r, gap));
  }
}

async function history(h: Host, type: string): Promise<Message[]> {
  try {
    const r = await getEventHistory(type, { socketDir: h.daemon.dir, limit: 5000 });
    return r.events as unknown as Message[];
  } catch {
    return [];
  }
}

async function types(h: Host): Promise<Record<string, number>> {
  const r = await listEventTypes({ socketDir: h.daemon.dir });
  return Object.fromEntries(r.event_types.map((t) => [t.event_type, t.message_count]));
}

/** Waits until B has exactly `sent` as `<A>.<type>`, then checks ids, payloads, order. */
async function expectImported(
  b: Host,
  a: Host,
  type: string,
  sent: Message[],
  ms = 20_000,
): Promise<void> {
  const local = `${a.name}.${type}`;
  await until(
    async () => (await history(b, local)).length >= sent.length,
    `${local} on ${b.name}`,
    ms,
  );
  const got = await history(b, local);
  assert.equal(
    got.length,
    sent.length,
    `${local}: expected ${sent.length}, received ${got.length}`,
  );
  for (let i = 0; i < sent.length; i++) {
    assert.equal(got[i]!.message_id, sent[i]!.message_id, `${local}[${i}] message_id`);
    assert.deepEqual(got[i]!.payload, sent[i]!.payload, `${local}[${i}] payload`);
    assert.equal(got[i]!.event_type, local);
  }
}

/** Numbered `wallpaper` progress published on a host, and all of it sent so far. */
interface Stream {
  sent: Message[];
  send(n: number, gap?: number): Promise<void>;
}

/** A {@linkcode Stream} published on `a`. */
function stream(a: Host): Stream {
  const sent: Message[] = [];
  const send = async (n: number, gap = 0): Promise<void> => {
    const batch = Array.from(
      { length: n },
      (_, i) => progressMessage("wallpaper", sent.length + i),
    );
    sent.push(...batch);
    await publishAll(a, batch, gap);
  };
  return { sent, send };
}

/**
 * The exporting bridge, then the importing one, killed with -9 while
 * messages flow, each started again (with messages published while the
 * exporter is down): every time B ends with each message once, in order.
 */
async function killEachMidStream(url: string, a: Host, b: Host, flow: Stream): Promise<void> {
  const { sent, send } = flow;
  await send(50);
  await expectImported(b, a, "wallpaper", sent);

  const flood = send(200, 2);
  await new Promise((r) => setTimeout(r, 150));
  await a.kill();
  assert.ok((await history(b, "hosta.wallpaper")).length < 250, "A was killed mid-stream");
  await flood;
  await send(20);
  a.start(url);
  await expectImported(b, a, "wallpaper", sent);

  const more = send(200, 2);
  await new Promise((r) => setTimeout(r, 150));
  await b.kill();
  assert.ok((await history(b, "hosta.wallpaper")).length < sent.length, "B was killed mid-stream");
  await more;
  b.start(url);
  await expectImported(b, a, "wallpaper", sent);
}

async function streamMessages(nats: RawNats): Promise<number> {
  const info = await nats.request("$JS.API.STREAM.INFO.DOTFILES", "");
  return (JSON.parse(info.body) as { state: { messages: number } }).state.messages;
}

Deno.test({
  name: "bridge over NATS: A's events reach B as A.<type> in order, on the wire as pinned, once",
  ignore,
  async fn(): Promise<void> {
    await using tmp = await withTmpDir();
    await using broker = await Broker.nats(tmp.path);
    await using a = await host("hosta");
    await using b = await host("hostb");
    using raw = await RawNats.connect(broker.port);
    await raw.subscribe("dotfiles.>");
    b.start(broker.url);
    a.start(broker.url);
    const daily = Array.from({ length: 30 }, (_, i) => progressMessage("backup.daily", i));
    const theme: Message = {
      message_id: crypto.randomUUID(),
      timestamp: new Date().toISOString(),
      event_type: "theme",
      payload: { type: "state_update", state_key: "current", state_value: { name: "dark" } },
    };
    await publishAll(a, [...daily, theme]);
    await expectImported(b, a, "backup.daily", daily);
    await expectImported(b, a, "theme", [theme]);

    // The wire: subject, Nats-Msg-Id header, body = the routed message.
    await until(() => raw.messages.length >= 31, "raw subscriber", 5000);
    const first = raw.messages.find((m) => m.subject === "dotfiles.hosta.backup.daily")!;
    assert.equal(first.headers["Nats-Msg-Id"], daily[0]!.message_id);
    const body = JSON.parse(first.body);
    assert.equal(body.seq, 1);
    assert.equal(body.event_type, "backup.daily");
    assert.equal(body.message_id, daily[0]!.message_id);
    // B does not send the imported types back out.
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(
      raw.messages.every((m) => m.subject.startsWith("dotfiles.hosta.")),
      "only A's subjects",
    );

    // JetStream: every message once in DOTFILES; the state in the KV bucket.
    assert.equal(await streamMessages(raw), 31);
    const kv = await raw.request(
      "$JS.API.STREAM.MSG.GET.KV_dotfiles-state",
      JSON.stringify({ last_by_subj: "$KV.dotfiles-state.hosta/theme/current" }),
    );
    const stored = JSON.parse(kv.body) as { message: { data: string } };
    assert.deepEqual(JSON.parse(atob(stored.message.data)), { name: "dark" });

    assert.equal(await a.stop(), 0);
    assert.equal(await b.stop(), 0);
    const resume = JSON.parse(
      await Deno.readTextFile(`${a.stateDir}/bridge-hosta-127.0.0.1-${broker.port}.json`),
    );
    assert.deepEqual(resume.exported, { "backup.daily": 30, theme: 1 });
    await raw.close();
  },
});

Deno.test({
  name:
    "bridge over NATS: kill -9 of either bridge and a broker restart lose nothing, repeat nothing",
  ignore,
  async fn(): Promise<void> {
    await using tmp = await withTmpDir();
    await using broker = await Broker.nats(tmp.path);
    await using a = await host("hosta");
    await using b = await host("hostb");
    b.start(broker.url);
    a.start(broker.url);
    const flow = stream(a);
    const { sent, send } = flow;
    await killEachMidStream(broker.url, a, b, flow);

    // Broker down: A keeps publishing into its daemon, the bridges retry.
    await broker.stop();
    await send(30);
    await until(
      () =>
        a.bridge!.text.includes("Cannot connect to") || a.bridge!.text.includes("Lost connection"),
      "A notices the broker is gone",
      10_000,
    );
    await broker.start();
    await send(10);
    await expectImported(b, a, "wallpaper", sent, 40_000);

    using raw = await RawNats.connect(broker.port);
    assert.equal(await streamMessages(raw), sent.length, "the stream holds each message once");
    const lost = a.bridge!.lines.filter((l) => l.includes("Lost connection")).length;
    assert.ok(lost <= 1, `one line per outage, received:\n${a.bridge!.text}`);
    await raw.close();
  },
});

Deno.test({
  name: "bridge over NATS: a ring of two importing bridges does not loop",
  ignore,
  async fn(): Promise<void> {
    await using tmp = await withTmpDir();
    await using broker = await Broker.nats(tmp.path);
    await using a = await host("hosta");
    await using b = await host("hostb");
    a.start(broker.url);
    b.start(broker.url);
    const fromA = Array.from({ length: 10 }, (_, i) => progressMessage("backup.daily", i));
    const fromB = Array.from({ length: 10 }, (_, i) => progressMessage("wallpaper", i));
    await publishAll(a, fromA);
    await publishAll(b, fromB);
    await expectImported(b, a, "backup.daily", fromA);
    await expectImported(a, b, "wallpaper", fromB);
    const before = [await types(a), await types(b)];
    await new Promise((r) => setTimeout(r, 1500));
    const after = [await types(a), await types(b)];
    assert.deepEqual(after, before, "counts stay stable");
    assert.deepEqual(after[0], { "backup.daily": 10, "hostb.wallpaper": 10 });
    assert.deepEqual(after[1], { wallpaper: 10, "hosta.backup.daily": 10 });
    using raw = await RawNats.connect(broker.port);
    assert.equal(await streamMessages(raw), 20);
    await raw.close();
  },
});

Deno.test({
  name: "bridge over MQTT: A's events reach B, state is retained, Home Assistant sees the host",
  ignore,
  async fn(): Promise<void> {
    await using tmp = await withTmpDir();
    await using broker = await Broker.mqtt(tmp.path);
    await using a = await host("hosta");
    await using b = await host("hostb");
    b.start(broker.url);
    a.start(broker.url, ["--import", "--homeassistant"]);
    await until(() => a.bridge!.text.includes("Connected"), "A connected", 10_000);
    await until(() => b.bridge!.text.includes("Importing from"), "B subscribed", 10_000);
    const op = "op-9";
    const backup: Message[] = [
      {
        message_id: crypto.randomUUID(),
        timestamp: new Date().toISOString(),
        event_type: "backup",
        payload: { type: "operation_started", operation_id: op, operation_name: "nightly" },
      },
      ...Array.from({ length: 20 }, (_, i) => ({
        ...progressMessage("backup", i),
        payload: {
          type: "operation_progress",
          operation_id: op,
          step_id: "copy",
          step_progress: i * 5,
          overall_progress: i * 5,
        },
      })),
    ];
    const theme: Message = {
      message_id: crypto.randomUUID(),
      timestamp: new Date().toISOString(),
      event_type: "theme",
      payload: { type: "state_update", state_key: "current/a", state_value: { name: "dark" } },
    };
    await publishAll(a, [...backup, theme]);
    await expectImported(b, a, "backup", backup);
    await expectImported(b, a, "theme", [theme]);

    // A late subscriber sees the present: state, availability, discovery.
    const retained = await mosquittoSub(
      broker.port,
      ["dotfiles/hosta/+/state/#", "dotfiles/hosta/status", "dotfiles/hosta/backup/operation"],
      3,
    );
    assert.ok(
      retained.includes('dotfiles/hosta/theme/state/current%2Fa {"name":"dark"}'),
      retained.join("\n"),
    );
    assert.ok(retained.includes("dotfiles/hosta/status online"), retained.join("\n"));
    const operation = retained.find((l) => l.startsWith("dotfiles/hosta/backup/operation "))!;
    const state = JSON.parse(operation.slice(operation.indexOf(" ") + 1));
    assert.equal(state.status, "running");
    assert.equal(state.progress, 95);
    assert.equal(state.operation_name, "nightly");

    const discovery = await mosquittoSub(broker.port, ["homeassistant/sensor/+/config"], 2);
    assert.equal(discovery.length, 2, discovery.join("\n"));
    const line = discovery.find((l) =>
      l.startsWith("homeassistant/sensor/dotfiles_hosta_backup/config ")
    )!;
    const config = JSON.parse(line.slice(line.indexOf(" ") + 1));
    for (
      const key of [
        "name",
        "unique_id",
        "object_id",
        "state_topic",
        "value_template",
        "json_attributes_topic",
        "availability_topic",
        "payload_available",
        "payload_not_available",
        "device",
      ]
    ) {
      assert.ok(key in config, `discovery key ${key}`);
    }
    assert.equal(config.state_topic, "dotfiles/hosta/backup/operation");
    assert.equal(config.availability_topic, "dotfiles/hosta/status");
    assert.equal(config.unique_id, "dotfiles_hosta_backup");

    // kill -9: the last will says offline.
    await a.kill();
    const status = await mosquittoSub(broker.port, ["dotfiles/hosta/status"], 1);
    assert.deepEqual(status, ["dotfiles/hosta/status offline"]);
  },
});

Deno.test({
  name:
    "bridge over MQTT: kill -9 and a broker restart lose nothing, repeat nothing; refused imports are skipped once",
  ignore,
  async fn(): Promise<void> {
    await using tmp = await withTmpDir();
    await using broker = await Broker.mqtt(tmp.path);
    await using a = await host("hosta");
    await using b = await host("hostb");
    b.start(broker.url);
    a.start(broker.url);
    await until(() => b.bridge!.text.includes("Importing from"), "B subscribed", 10_000);
    const flow = stream(a);
    const { sent, send } = flow;
    await killEachMidStream(broker.url, a, b, flow);

    // The broker restarts while B is away: B's session (its subscription and
    // the messages queued for it) must survive in mosquitto's persistence file.
    await b.kill();
    await broker.stop();
    assert.ok((await Deno.stat(`${tmp.path}/mosquitto.db`)).isFile, broker.log);
    await send(30);
    await broker.start();
    const resume = `${a.stateDir}/bridge-hosta-127.0.0.1-${broker.port}.json`;
    await until(
      async () => {
        try {
          return JSON.parse(await Deno.readTextFile(resume)).exported.wallpaper === sent.length;
        } catch {
          return false;
        }
      },
      "A forwards while B is away",
      40_000,
    );
    b.start(broker.url);
    await expectImported(b, a, "wallpaper", sent, 40_000);

    // A name too long for the local daemon: skipped, counted, logged once,
    // and the messages behind it still arrive.
    const long = `h${"x".repeat(40)}`;
    const bad = (i: number): string =>
      JSON.stringify({ ...progressMessage("y".repeat(30), i), seq: i + 1 });
    for (let i = 0; i < 3; i++) {
      await mosquittoPub(broker.port, `dotfiles/${long}/${"y".repeat(30)}`, bad(i));
    }
    const after: Message = { ...progressMessage("ok", 0), seq: 1 } as Message;
    await mosquittoPub(broker.port, "dotfiles/hostc/ok", JSON.stringify(after));
    await until(async () => (await history(b, "hostc.ok")).length === 1, "hostc.ok on B", 10_000);
    const skipped = b.bridge!.lines.filter((l) => l.includes("Skipped a message from host"));
    assert.equal(skipped.length, 1, b.bridge!.text);
    assert.match(skipped[0]!, /over 64 characters/);
    assert.equal(await b.stop(), 0);
    assert.match(b.bridge!.text, /3 refused/);
  },
});

Deno.test({
  name:
    "bridge faults: bad URL exits 2, an unreachable broker is one line and retried, a failed login says so",
  ignore,
  async fn(): Promise<void> {
    await using tmp = await withTmpDir();
    await using a = await host("hosta");
    const bad = startBridge("ftp://127.0.0.1:1", {
      socketDir: a.daemon.dir,
      stateDir: a.stateDir,
      host: "hosta",
    });
    assert.equal((await bad.wait()).code, 2);
    assert.match(bad.text, /scheme must be nats, tls, mqtt or mqtts/);

    // Nothing listens: one line, then quiet retries.
    const closed = await Broker.nats(tmp.path);
    const url = closed.url;
    await closed.stop();
    a.start(url, []);
    await new Promise((r) => setTimeout(r, 3000));
    const failures = a.bridge!.lines.filter((l) => l.includes("Cannot connect"));
    assert.equal(failures.length, 1, a.bridge!.text);
    assert.match(failures[0]!, /connection refused .*; retrying with backoff up to 30 s$/);
    assert.equal(await a.stop(), 0);

    // Wrong credentials: a clear login failure; the right ones connect.
    await using tmp2 = await withTmpDir();
    await using secured = await Broker.nats(tmp2.path, ["--user", "me", "--pass", "s3cret"]);
    const wrong = startBridge(secured.url, {
      socketDir: a.daemon.dir,
      stateDir: a.stateDir,
      host: "hosta",
      env: { NATS_USER: "me", NATS_PASSWORD: "wrong" },
    });
    await until(() => wrong.text.includes("Cannot log in"), "login failure", 10_000);
    assert.match(wrong.text, /Authorization Violation; check NATS_USER\/NATS_PASSWORD/);
    wrong.kill("SIGTERM");
    assert.equal((await wrong.wait()).code, 0);
    const right = startBridge(secured.url, {
      socketDir: a.daemon.dir,
      stateDir: a.stateDir,
      host: "hosta",
      env: { NATS_USER: "me", NATS_PASSWORD: "s3cret" },
    });
    await until(() => right.text.includes("Connected"), "login", 10_000);
    right.kill("SIGTERM");
    assert.equal((await right.wait()).code, 0);

    // A corrupt resume file: exit 1, naming the file.
    const resume = `${a.stateDir}/bridge-hosta-127.0.0.1-${secured.port}.json`;
    await Deno.writeTextFile(resume, "{not json");
    const corrupt = startBridge(secured.url, {
      socketDir: a.daemon.dir,
      stateDir: a.stateDir,
      host: "hosta",
    });
    assert.equal((await corrupt.wait()).code, 1);
    assert.match(corrupt.text, /Cannot read resume file .*move it away/);
  },
});

Deno.test({
  name:
    "bridge: a broker slower than the daemon makes the bridge let go and catch up by seq, never slowing the daemon",
  ignore,
  async fn(): Promise<void> {
    await using tmp = await withTmpDir();
    await using broker = await Broker.nats(tmp.path);
    await using a = await host("hosta");
    await using b = await host("hostb");
    b.start(broker.url);
    a.start(broker.url, ["--queue-limit", "20"]);
    await until(() => a.bridge!.text.includes("Connected"), "A connected", 10_000);
    const sent = Array.from({ length: 600 }, (_, i) => progressMessage("wallpaper", i));
    await publishAll(a, sent);
    await expectImported(b, a, "wallpaper", sent, 30_000);
    assert.match(a.bridge!.text, /The broker is slower than the local daemon/);
    const stats = await counters(a.daemon.sock("query.sock"));
    assert.equal(
      stats.slow_subscribers_dropped,
      0,
      "the daemon never had to cut the bridge off",
    );
    assert.equal(await a.stop(), 0);
    assert.match(a.bridge!.text, /600 forwarded/);
  },
});

Deno.test({
  name: "bridge: a host whose daemon lost its state numbers from 1 again and is still imported",
  ignore,
  async fn(): Promise<void> {
    await using tmp = await withTmpDir();
    await using broker = await Broker.mqtt(tmp.path);
    await using a = await host("hosta");
    await using b = await host("hostb");
    b.start(broker.url);
    await until(() => b.bridge!.text.includes("Importing from"), "B subscribed", 10_000);
    a.start(broker.url);
    const before = Array.from({ length: 5 }, (_, i) => progressMessage("theme", i));
    await publishAll(a, before);
    await expectImported(b, a, "theme", before);
    // Host A starts over: a new daemon (no store), its bridge with no resume file.
    await a.kill();
    await using fresh = await host("hosta");
    fresh.start(broker.url);
    await until(() => fresh.bridge!.text.includes("Connected"), "A connected", 10_000);
    await new Promise((r) => setTimeout(r, 5));
    const after = Array.from({ length: 3 }, (_, i) => progressMessage("theme", 100 + i));
    await publishAll(fresh, after);
    await expectImported(b, fresh, "theme", [...before, ...after]);
    assert.match(b.bridge!.text, /numbers 'theme' from 1 again/);
  },
});

Deno.test({
  name: "bridge: the importing host's daemon restarting holds the imports, then takes each once",
  ignore,
  async fn(): Promise<void> {
    await using tmp = await withTmpDir();
    await using broker = await Broker.nats(tmp.path);
    await using a = await host("hosta");
    await using b = await host("hostb", { persist: true });
    b.start(broker.url);
    a.start(broker.url);
    const sent = Array.from({ length: 20 }, (_, i) => progressMessage("wallpaper", i));
    await publishAll(a, sent.slice(0, 10));
    await expectImported(b, a, "wallpaper", sent.slice(0, 10));
    await b.daemon.daemon.stop();
    await publishAll(a, sent.slice(10));
    await until(() => b.bridge!.text.includes("holding imported messages"), "B holds", 10_000);
    // The same directories again: the store keeps the first ten.
    await until(async () => {
      try {
        await Deno.lstat(b.daemon.sock("command.sock"));
        return false;
      } catch {
        return true;
      }
    }, "the old socket files are gone");
    const again = new DotfilesDaemon({
      socketDir: b.daemon.dir,
      stateDir: `${b.daemon.root}/state`,
      persist: true,
      historyLimit: 5000,
      logLevel: "warn",
      logSink: () => {},
    });
    await again.start();
    try {
      await expectImported(b, a, "wallpaper", sent);
    } finally {
      await again.stop();
    }
  },
});
