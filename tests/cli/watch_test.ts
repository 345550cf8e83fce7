import assert from "node:assert/strict";
import { DaemonPublisher } from "../../publisher/mod.ts";
import { type Message, MessageBuilder } from "../../protocol/mod.ts";
import { snapshot } from "../../cli/_snapshot.ts";
import { subscribeAfter } from "../../cli/_watch.ts";
import { cliShim } from "../../scripts/install_cli.ts";
import { spawnDaemon } from "../_daemon.ts";
import { CLI_FLAGS, CLI_MAIN, DaemonProcess, LineChild, run } from "./_cli.ts";

const KEYS = ["alt", "class", "percentage", "text", "tooltip"];

/** Publishes `ping` state updates until the watcher prints one: it is subscribed. */
async function untilSubscribed(
  publisher: DaemonPublisher,
  child: LineChild,
  eventType: string,
  isPing: (line: string) => boolean,
): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await publisher.publish(
      MessageBuilder.stateUpdate({ eventType, stateKey: "ping", stateValue: { value: i } }),
    );
    try {
      for (;;) if (isPing(await child.line(200))) return;
    } catch {
      // No line yet: publish another ping.
    }
  }
  throw new Error("The watcher never printed a ping");
}

Deno.test("watch --format json prints the initial state, then one message per line", async () => {
  await using daemon = await DaemonProcess.start();
  const dir = ["--socket-dir", daemon.socketDir];
  const pre = await run(["publish", "theme", "--state", "current=nord", ...dir]);
  assert.equal(pre.code, 0, pre.stderr);
  await using publisher = new DaemonPublisher({ socketDir: daemon.socketDir });
  await using child = new LineChild(["watch", "theme", "--format", "json", "--initial", ...dir]);
  const initial = JSON.parse(await child.line());
  assert.equal(initial.initial, true);
  assert.deepEqual(initial.payload, {
    type: "state_update",
    state_key: "current",
    state_value: { value: "nord" },
  });
  await untilSubscribed(
    publisher,
    child,
    "theme",
    (l) => JSON.parse(l).payload.state_key === "ping",
  );
  await publisher.publish(
    MessageBuilder.operationStarted({
      eventType: "theme",
      operationId: "t1",
      operationName: "apply",
    }),
  );
  const line = JSON.parse(await child.line());
  assert.equal(line.payload.type, "operation_started");
  assert.equal(typeof line.seq, "number");
  assert.equal(await child.stop(), 0);
});

Deno.test("watch --format pretty prints plain lines when stdout is not a terminal", async () => {
  await using daemon = await DaemonProcess.start();
  await using publisher = new DaemonPublisher({ socketDir: daemon.socketDir });
  await using child = new LineChild([
    "watch",
    "--all",
    "--format",
    "pretty",
    "--socket-dir",
    daemon.socketDir,
  ]);
  await untilSubscribed(publisher, child, "demo", (l) => l.startsWith("[demo] ping = "));
  const messages = [
    MessageBuilder.operationStarted({ eventType: "wp", operationId: "w", operationName: "set" }),
    MessageBuilder.operationProgress({
      eventType: "wp",
      operationId: "w",
      stepId: "resize",
      stepProgress: 50,
      overallProgress: 40,
    }),
    MessageBuilder.operationCompleted({ eventType: "wp", operationId: "w", durationSeconds: 2.5 }),
    MessageBuilder.stateUpdate({ eventType: "wp", stateKey: "path", stateValue: { value: "/a" } }),
  ];
  for (const m of messages) await publisher.publish(m);
  const lines = [await child.line(), await child.line(), await child.line(), await child.line()];
  assert.deepEqual(lines, [
    "[wp] ▶ set started",
    "[wp] set 40% resize",
    "[wp] ✓ set 2.5s",
    "[wp] path = /a",
  ]);
});

Deno.test("watch --format waybar starts with the current state and shows the daemon going down and back", async () => {
  await using daemon = await DaemonProcess.start();
  const dir = ["--socket-dir", daemon.socketDir];
  let r = await run(["publish", "wp", "--started", "set wallpaper", "--operation", "w1", ...dir]);
  assert.equal(r.code, 0, r.stderr);
  r = await run([
    "publish",
    "wp",
    "--progress",
    "30",
    "--step",
    "fetch",
    "--operation",
    "w1",
    ...dir,
  ]);
  assert.equal(r.code, 0, r.stderr);

  await using child = new LineChild(["watch", "wp", "--format", "waybar", ...dir]);
  const read = async (): Promise<Record<string, unknown>> => {
    const parsed = JSON.parse(await child.line());
    assert.deepEqual(Object.keys(parsed).sort(), KEYS);
    return parsed;
  };
  const first = await read();
  assert.deepEqual(first, {
    text: "set wallpaper 30%",
    alt: "running",
    tooltip: "▶ set wallpaper 30% (fetch)",
    class: "running",
    percentage: 30,
  });

  await daemon.kill();
  let line = await read();
  while (line.class !== "disconnected") line = await read();
  assert.equal(line.text, "daemon down");

  await daemon.restart();
  line = await read();
  assert.equal(line.class, "running", JSON.stringify(line));
  assert.equal(line.percentage, 30);

  r = await run(["publish", "wp", "--completed", "--operation", "w1", "--duration", "3", ...dir]);
  assert.equal(r.code, 0, r.stderr);
  line = await read();
  assert.deepEqual(line, {
    text: "✓ set wallpaper",
    alt: "completed",
    tooltip: "✓ set wallpaper 3s",
    class: "completed",
    percentage: 100,
  });
  assert.equal(await child.stop(), 0);
});

Deno.test("watch --format waybar back from a daemon restart shows the current line once, not the missed messages again", async () => {
  await using daemon = await DaemonProcess.start();
  const dir = ["--socket-dir", daemon.socketDir];
  let r = await run(["publish", "wp", "--started", "set wallpaper", "--operation", "w1", ...dir]);
  assert.equal(r.code, 0, r.stderr);
  await using child = new LineChild(["watch", "wp", "--format", "waybar", ...dir]);
  const read = async (ms?: number): Promise<Record<string, unknown>> =>
    JSON.parse(await child.line(ms));
  assert.equal((await read()).class, "running");
  await daemon.kill();
  while ((await read()).class !== "disconnected");

  // While the watcher is away, the operation goes on and ends: a daemon on
  // another socket dir with the same store routes it.
  const elsewhere = await spawnDaemon({
    entry: "main",
    socketDir: `${daemon.root}/elsewhere`,
    stateDir: `${daemon.root}/state`,
    args: ["--log-level", "error"],
  });
  const away = ["--socket-dir", `${daemon.root}/elsewhere`, "--operation", "w1"];
  for (const progress of ["50", "80"]) {
    r = await run(["publish", "wp", "--progress", progress, "--step", "s", ...away]);
    assert.equal(r.code, 0, r.stderr);
  }
  r = await run(["publish", "wp", "--completed", "--duration", "3", ...away]);
  assert.equal(r.code, 0, r.stderr);
  await elsewhere.stop();

  // Back: the current line, and not 50 %, 80 % and "completed" drawn again
  // after it (the bar flickered through the missed messages).
  await daemon.restart();
  const lines = [await read()];
  try {
    for (;;) lines.push(await read(1500));
  } catch {
    // Quiet for 1.5 s: the watcher has drawn everything it will.
  }
  assert.deepEqual(lines.map((l) => `${l.class} ${l.percentage}`), ["completed 100"]);
});

Deno.test("watch --format waybar draws each message routed right after its first line once, in order", async () => {
  await using daemon = await DaemonProcess.start();
  const dir = ["--socket-dir", daemon.socketDir];
  await using child = new LineChild(["watch", "wp", "--format", "waybar", ...dir]);
  const read = async (ms?: number): Promise<Record<string, unknown>> =>
    JSON.parse(await child.line(ms));
  assert.equal((await read()).class, "idle");
  await using publisher = new DaemonPublisher({ socketDir: daemon.socketDir });
  const ev = { eventType: "wp", operationId: "w1" };
  await publisher.publish(MessageBuilder.operationStarted({ ...ev, operationName: "set" }));
  await publisher.publish(MessageBuilder.operationProgress({
    ...ev,
    stepId: "s",
    stepProgress: 40,
    overallProgress: 40,
  }));
  await publisher.publish(MessageBuilder.operationCompleted({ ...ev, durationSeconds: 1 }));
  const lines = [];
  try {
    for (;;) lines.push(await read(1500));
  } catch {
    // Quiet for 1.5 s: everything is drawn.
  }
  assert.deepEqual(lines.map((l) => `${l.class} ${l.percentage}`), [
    "running 0",
    "running 40",
    "completed 100",
  ]);
});

Deno.test("watch --format waybar started after a failure shows the line a long-running one shows", async () => {
  await using daemon = await DaemonProcess.start();
  const dir = ["--socket-dir", daemon.socketDir];
  await using early = new LineChild(["watch", "wp", "--format", "waybar", ...dir]);
  assert.equal(JSON.parse(await early.line()).class, "idle");
  const publish = async (...args: string[]): Promise<void> => {
    const r = await run(["publish", "wp", ...args, ...dir]);
    assert.equal(r.code, 0, r.stderr);
  };
  await publish("--state", "path=/a.png");
  await publish("--started", "w1 & co", "--operation", "w1");
  await publish("--completed", "--operation", "w1", "--duration", "2");
  await publish("--started", "w2", "--operation", "w2");
  await publish("--failed", "E_IO", "--message", "disk <full>", "--operation", "w2");
  let long = JSON.parse(await early.line());
  while (long.class !== "failed") long = JSON.parse(await early.line());
  await using fresh = new LineChild(["watch", "wp", "--format", "waybar", ...dir]);
  const first = JSON.parse(await fresh.line());
  assert.deepEqual(first, long);
  assert.equal(first.text, "✗ w2");
  assert.match(first.tooltip, /✗ w2 E_IO: disk &lt;full&gt;/);
});

Deno.test("watch misses nothing routed after its snapshot, for a type the snapshot did not list", async () => {
  await using daemon = await DaemonProcess.start();
  const { socketDir } = daemon;
  const { lastSeqs } = await snapshot(["fresh"], { socketDir });
  assert.equal(lastSeqs.fresh, undefined);
  // The worst interleaving, made certain: after the snapshot (watch's first
  // line) a manager publishes a message it built a moment before, and only
  // then are watch's subscriptions created and connected.
  await using publisher = new DaemonPublisher({ socketDir });
  await publisher.publish(
    MessageBuilder.operationStarted({
      eventType: "fresh",
      operationId: "f1",
      operationName: "sync",
      timestamp: new Date(Date.now() - 1000).toISOString(),
    }),
  );
  // `watch fresh`, then `watch --all`.
  for (const types of [["fresh"], null]) {
    const controller = new AbortController();
    const [subscription] = subscribeAfter(types, lastSeqs, {
      socketDir,
      signal: controller.signal,
    });
    using _ = subscription!;
    const timer = setTimeout(() => controller.abort(), 5000);
    try {
      let message: Message | undefined;
      for await (const event of subscription!.events()) {
        if (event.type === "message") {
          message = event.message;
          break;
        }
      }
      assert.equal(message?.payload.type, "operation_started", `lost (${types ?? "--all"})`);
      assert.equal(message?.seq, 1);
    } finally {
      clearTimeout(timer);
    }
  }
});

Deno.test("watch --format waybar shows the chosen state key through --state-text, and --idle-text before it", async () => {
  await using daemon = await DaemonProcess.start();
  const dir = ["--socket-dir", daemon.socketDir];
  await using child = new LineChild([
    "watch",
    "theme",
    "--format",
    "waybar",
    "--state-key",
    "current",
    "--state-text",
    "{name}",
    "--idle-text",
    "no theme",
    ...dir,
  ]);
  assert.equal(JSON.parse(await child.line()).text, "no theme");
  let r = await run(["publish", "theme", "--state", 'current={"name":"nord"}', ...dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(await child.line()).text, "nord");
  r = await run(["publish", "theme", "--state", "other=1", ...dir]);
  assert.equal(r.code, 0, r.stderr);
  // Only the tooltip changes: the text stays the chosen key's.
  const line = JSON.parse(await child.line());
  assert.equal(line.text, "nord");
  assert.match(line.tooltip, /theme other = 1/);
  const bad = await run(["watch", "theme", "--format", "json", "--state-key", "k", ...dir]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Cannot use --state-key with --format json/);
  const unclosed = await run([
    "watch",
    "theme",
    "--format",
    "waybar",
    "--state-text",
    "{a",
    ...dir,
  ]);
  assert.equal(unclosed.code, 2);
  assert.match(unclosed.stderr, /Invalid --state-text '\{a': an unclosed/);
});

Deno.test("watch ends at the first event after its reader closed the pipe, and on SIGHUP", async () => {
  await using daemon = await DaemonProcess.start();
  const dir = ["--socket-dir", daemon.socketDir];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...CLI_FLAGS, CLI_MAIN, "watch", "wp", "--format", "waybar", ...dir],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  const first = await reader.read();
  assert.ok(!first.done);
  await reader.cancel(); // The bar went away: the pipe's read end is closed.
  const r = await run(["publish", "wp", "--state", "k=1", ...dir]);
  assert.equal(r.code, 0, r.stderr);
  // One event, one failed write: the watcher must not wait for a second.
  const status = await Promise.race([
    child.status,
    new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000)),
  ]);
  if (status === null) child.kill("SIGKILL");
  assert.notEqual(status, null, "watch still running after its reader went away");
  assert.equal(status!.code, 0);

  await using hup = new LineChild(["watch", "wp", "--format", "waybar", ...dir]);
  await hup.line();
  assert.equal(await hup.stop("SIGHUP"), 0);
});

Deno.test("watch loads neither the daemon nor the schema library (a bar runs one process per module)", async () => {
  const main = new URL("../../main.ts", import.meta.url);
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", main.pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(info.code, 0, new TextDecoder().decode(info.stderr));
  interface Dependency {
    code?: { specifier: string };
    isDynamic?: boolean;
  }
  const graph: {
    modules: { specifier: string; dependencies?: Dependency[] }[];
    redirects: Record<string, string>;
  } = JSON.parse(new TextDecoder().decode(info.stdout));
  const modules = new Map(graph.modules.map((m) => [m.specifier, m]));
  const watch = new URL("../../cli/_watch.ts", import.meta.url).href;
  // What runs for `main.ts watch`: static code imports (not type-only
  // ones), and of the dynamic ones only the watch command itself.
  const loaded = new Set<string>();
  const visit = (specifier: string): void => {
    const resolved = graph.redirects[specifier] ?? specifier;
    if (loaded.has(resolved)) return;
    loaded.add(resolved);
    for (const dep of modules.get(resolved)?.dependencies ?? []) {
      const target = dep.code?.specifier;
      if (target === undefined) continue;
      if (dep.isDynamic && target !== watch) continue;
      visit(target);
    }
  };
  visit(main.href);
  assert.ok(loaded.has(watch), "main.ts does not reach cli/_watch.ts");
  const heavy = [...loaded].filter((s) =>
    s.startsWith("npm:") || /\/(daemon|publisher)\//.test(s) || /\/cli\/serve\.ts$/.test(s) ||
    /\/protocol\/(mod|message_validator|message_builder|_schemas)\.ts$/.test(s)
  );
  assert.deepEqual(heavy, []);
});

Deno.test("the README's eww deflisten runs as written and its fields are in every line", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("### Status bars"));
  const yuck = /```lisp\n([^]*?)\n```/.exec(section)?.[1];
  assert.ok(yuck !== undefined, "no eww block in the README's Status bars section");
  const listen = /\(deflisten (\w+) :initial '([^']*)'\s+"([^"]*)"\)/.exec(yuck);
  assert.ok(listen !== null, `no deflisten in ${yuck}`);
  const [, name, initialText, command] = listen;
  const used = [...yuck.matchAll(new RegExp(`\\b${name}\\.(\\w+)`, "g"))].map((m) => m[1]!);
  assert.ok(used.length >= 3, `the widget reads ${used}`);
  const initial = JSON.parse(initialText!);
  assert.deepEqual(Object.keys(initial).sort(), KEYS);

  await using daemon = await DaemonProcess.start();
  const root = await Deno.makeTempDir({ prefix: "dotfiles-eww-" });
  try {
    // The default socket dir ($XDG_CACHE_HOME/dotfiles/sockets) is the daemon's.
    await Deno.mkdir(`${root}/cache/dotfiles`, { recursive: true });
    await Deno.symlink(daemon.socketDir, `${root}/cache/dotfiles/sockets`);
    await Deno.mkdir(`${root}/bin`);
    const repo = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
    await Deno.writeTextFile(
      `${root}/bin/dotfiles-daemon`,
      cliShim({ deno: Deno.execPath(), clone: repo }),
    );
    await Deno.chmod(`${root}/bin/dotfiles-daemon`, 0o755);
    // As eww runs it: through sh, one value per line.
    const child = new Deno.Command("sh", {
      args: ["-c", command!],
      env: { PATH: `${root}/bin:${Deno.env.get("PATH")}`, XDG_CACHE_HOME: `${root}/cache` },
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      const next = async (): Promise<Record<string, unknown>> => {
        const { value } = await lines.read();
        const line = JSON.parse(value!.split("\n")[0]!);
        for (const field of used) assert.ok(field in line, `${field} missing in ${value}`);
        assert.deepEqual(Object.keys(line).sort(), KEYS);
        return line;
      };
      assert.equal((await next()).class, "idle");
      const r = await run([
        "publish",
        "wallpaper",
        "--started",
        "set",
        "--operation",
        "w",
        "--socket-dir",
        daemon.socketDir,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await next()).class, "running");
    } finally {
      // `exec` in the command: the process eww signals is watch itself.
      child.kill("SIGTERM");
      assert.equal((await child.status).code, 0);
      await lines.cancel().catch(() => {});
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
