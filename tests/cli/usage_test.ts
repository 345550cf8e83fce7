import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { PUBLISH_TIMEOUT_SECONDS, STDIN_HINT } from "../../cli/_publish.ts";
import { QUERY_TIMEOUT_SECONDS, STATUS_TIMEOUT_SECONDS } from "../../cli/_query.ts";
import { HELP } from "../../cli/_usage.ts";
import { parseServeArgs, SERVE_HELP } from "../../cli/serve.ts";
import { resolveDaemonConfig } from "../../daemon/config.ts";
import { CLI_PERMISSION_FLAGS } from "../../service/permissions.ts";
import { startDaemon, until, withTmpDir } from "../_helpers.ts";
import { run } from "./_cli.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** `main.ts ARGS` as a child process with the CLI's flags. */
function spawn(
  args: string[],
  options: { cwd: string; env: Record<string, string> },
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...CLI_PERMISSION_FLAGS, MAIN, ...args],
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

const hasScript = new Deno.Command("sh", { args: ["-c", "command -v script"], stdout: "null" })
  .outputSync().success;
if (!hasScript) {
  // deno-lint-ignore no-console
  console.warn("skipping the terminal test: script(1) is not installed (apt-get install bsdutils)");
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

Deno.test("main prints the version from deno.json and the help with every command", async () => {
  const version = await run(["--version"]);
  assert.equal(version.code, 0);
  assert.equal(version.stdout, `dotfiles-daemon ${denoJson.version}\n`);
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  for (const command of ["serve", "publish", "watch", "query", "status"]) {
    assert.match(
      help.stdout,
      new RegExp(`dotfiles-daemon ${command === "serve" ? "\\[serve\\]" : command}`),
    );
  }
});

Deno.test("every subcommand has help with examples", async () => {
  for (const command of ["publish", "watch", "query", "status"]) {
    const r = await run([command, "--help"]);
    assert.equal(r.code, 0, command);
    assert.match(r.stdout, /Examples:\n/, command);
    assert.match(r.stdout, new RegExp(`^Usage: dotfiles-daemon ${command}`), command);
  }
  const viaHelp = await run(["help", "watch"]);
  assert.match(viaHelp.stdout, /^Usage: dotfiles-daemon watch/);
});

Deno.test("bad usage exits 2 with one line naming what to fix", async () => {
  await using tmp = await withTmpDir();
  const dir = ["--socket-dir", tmp.path];
  const cases: [string[], RegExp][] = [
    [["publish", "--state", "k=1", ...dir], /Missing EVENT_TYPE/],
    [["publish", "demo", "--state", "novalue", ...dir], /--state 'novalue': expected KEY=VALUE/],
    [
      ["publish", "demo", "--progress", "140", "--step", "s", "--operation", "o", ...dir],
      /--progress '140'/,
    ],
    [["publish", "demo", "--progress", "40", "--operation", "o", ...dir], /Missing --step/],
    [["publish", "demo", "--started", "x", ...dir], /Missing --operation/],
    [["publish", "demo", "--completed", "--failed", "E", ...dir], /Conflicting flags/],
    [["publish", "demo", "--payload", "[1]", ...dir], /--payload/],
    [["publish", "../x", "--state", "k=1", ...dir], /Invalid EVENT_TYPE/],
    [
      ["publish", "demo", "--bogus", ...dir],
      /Unknown option '--bogus': see 'dotfiles-daemon publish --help'/,
    ],
    [["watch", ...dir], /Missing EVENT_TYPE/],
    [["watch", "a", "--all", ...dir], /Conflicting --all/],
    [["watch", "a", "--format", "xml", ...dir], /Unknown --format 'xml'/],
    [["query", ...dir], /Missing QUERY_TYPE/],
    [["query", "list_event_types", "--param", "x", ...dir], /--param 'x'/],
    [["status", "extra", ...dir], /Unexpected argument 'extra'/],
    [["help", "nope"], /Unknown command 'nope'/],
  ];
  for (const [args, pattern] of cases) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, pattern, args.join(" "));
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
  }
});

Deno.test("publish, query and status exit 1 with one line when no daemon answers", async () => {
  await using tmp = await withTmpDir();
  const dir = ["--socket-dir", tmp.path];
  for (
    const args of [
      ["publish", "demo", "--state", "k=1", ...dir],
      ["query", "list_event_types", ...dir],
      ["status", ...dir],
    ]
  ) {
    const r = await run(args);
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /no daemon answers at /);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
  }
});

Deno.test("publish --quiet exits 0 silently when no daemon answers", async () => {
  await using tmp = await withTmpDir();
  const r = await run(["publish", "demo", "--state", "k=1", "--quiet", "--socket-dir", tmp.path]);
  assert.deepEqual(r, { code: 0, stdout: "", stderr: "" });
});

Deno.test("watch --format waybar starts with a disconnected line when no daemon answers", async () => {
  await using tmp = await withTmpDir();
  const { LineChild } = await import("./_cli.ts");
  await using child = new LineChild([
    "watch",
    "demo",
    "--format",
    "waybar",
    "--socket-dir",
    tmp.path,
  ]);
  const first = JSON.parse(await child.line());
  assert.equal(first.class, "disconnected");
  assert.deepEqual(Object.keys(first).sort(), ["alt", "class", "percentage", "text", "tooltip"]);
  assert.equal(await child.stop(), 0);
});

Deno.test("a word that is no subcommand exits 2 with the closest name and creates nothing", async () => {
  await using cwd = await withTmpDir();
  const cases: [string[], string][] = [
    [["stauts"], "dotfiles-daemon: Unknown command 'stauts'; did you mean 'status'?\n"],
    [["pubilsh", "demo"], "dotfiles-daemon: Unknown command 'pubilsh'; did you mean 'publish'?\n"],
    [["help", "wacth"], "dotfiles-daemon: Unknown command 'wacth'; did you mean 'watch'?\n"],
    [
      ["sockets"],
      "dotfiles-daemon: Unknown command 'sockets': use serve, publish, watch, query, status, bridge, help, or './sockets' for a socket dir\n",
    ],
    [
      ["serve", "stauts"],
      "dotfiles-daemon: Unknown argument 'stauts': SOCKET_DIR must be a path, such as './stauts': see 'dotfiles-daemon serve --help'\n",
    ],
    [
      ["--log-level", "debug", "stauts"],
      "dotfiles-daemon: Unknown argument 'stauts': SOCKET_DIR must be a path, such as './stauts': see 'dotfiles-daemon serve --help'\n",
    ],
  ];
  for (const [args, stderr] of cases) {
    const r = await run(args, { cwd: cwd.path, env: { HOME: cwd.path } });
    assert.deepEqual(r, { code: 2, stdout: "", stderr }, args.join(" "));
  }
  // No daemon ran: nothing in the working directory or the (temp) home.
  assert.deepEqual([...Deno.readDirSync(cwd.path)], []);
});

Deno.test("serve --bogus says what every other command says", async () => {
  for (const command of ["serve", "publish", "watch", "query", "status"]) {
    const r = await run([command, "--bogus"]);
    assert.deepEqual(r, {
      code: 2,
      stdout: "",
      stderr:
        `dotfiles-daemon: Unknown option '--bogus': see 'dotfiles-daemon ${command} --help'\n`,
    });
  }
});

Deno.test("a socket dir given as a path still runs the daemon: ./dir, ~/dir, /abs/dir", async () => {
  await using cwd = await withTmpDir();
  for (const [arg, dir] of [["./rel", "rel"], ["~/tilde", "tilde"], [`${cwd.path}/abs`, "abs"]]) {
    const child = spawn([arg!, "--no-persist"], { cwd: cwd.path, env: { HOME: cwd.path } });
    // The start-up line names the directory; the signal handlers are set right after it.
    const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("daemon started")) {
      const { value, done } = await lines.read();
      if (done) break;
      text += value;
    }
    assert.match(text, new RegExp(`daemon started .*socket_dir=${cwd.path}/${dir} `), arg!);
    assert.ok((await Deno.lstat(`${cwd.path}/${dir}/command.sock`)).isSocket, arg!);
    // (How serve exits on a signal is tests/cli/serve_test.ts's business.)
    child.kill("SIGTERM");
    for (;;) if ((await lines.read()).done) break;
    await child.status;
  }
});

Deno.test("the no-daemon publish error is one short line that says it once", async () => {
  await using tmp = await withTmpDir();
  const r = await run(["publish", "demo", "--state", "k=1", "--socket-dir", tmp.path]);
  assert.deepEqual(r, {
    code: 1,
    stdout: "",
    stderr: `dotfiles-daemon: Cannot publish: no daemon answers at ${tmp.path}/command.sock ` +
      "(no socket); start it with 'dotfiles-daemon serve' or pass --socket-dir\n",
  });
});

Deno.test("each help's defaults are the code's", () => {
  const timeouts: [string, number][] = [
    ["publish", PUBLISH_TIMEOUT_SECONDS],
    ["query", QUERY_TIMEOUT_SECONDS],
    ["status", STATUS_TIMEOUT_SECONDS],
  ];
  for (const [command, seconds] of timeouts) {
    const match = HELP[command]!.match(/--timeout SECONDS[^(]*\(default ([\d.]+)\)/);
    assert.ok(match, `${command} --help documents --timeout's default`);
    assert.equal(Number(match[1]), seconds, `${command} --timeout`);
  }
  assert.equal(PUBLISH_TIMEOUT_SECONDS, 2);
  // serve: giving every documented default explicitly changes no setting.
  const base = { socketDir: "/s", stateDir: "/t" };
  const flags = [
    ...SERVE_HELP.matchAll(/^\s+(--[a-z-]+) [A-Z_,a-z]+\s.*\(default: ([^);]+)[);]/gm),
  ];
  assert.ok(flags.length >= 6, `found ${flags.length} documented defaults`);
  for (const [, flag, value] of flags) {
    if (flag === "--state-dir") continue; // a path, checked in service/permissions_test.ts
    const parsed = parseServeArgs([flag!, value!]);
    assert.ok(typeof parsed === "object");
    assert.deepEqual(
      resolveDaemonConfig({ ...parsed, ...base }),
      resolveDaemonConfig(base),
      `${flag} ${value} is not the default`,
    );
  }
});

Deno.test("publish on a terminal prints a one-line hint before reading stdin", {
  ignore: !hasScript,
}, async () => {
  await using daemon = await startDaemon();
  const socketDir = daemon.dir;
  // script(1) gives the CLI a terminal for stdin and stdout; the line typed is published.
  const command = [
    Deno.execPath(),
    "run",
    ...CLI_PERMISSION_FLAGS,
    MAIN,
    "publish",
    "demo",
    "--socket-dir",
    socketDir,
  ]
    .map((a) => `'${a}'`).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qefc", command, "/dev/null"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const writer = child.stdin.getWriter();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("Ctrl-D")) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
  }
  assert.match(seen, new RegExp(escape(STDIN_HINT)));
  await writer.write(
    new TextEncoder().encode('{"type":"state_update","state_key":"k","state_value":{"v":1}}\n\x04'),
  );
  await writer.close();
  for (;;) {
    const { done } = await reader.read();
    if (done) break;
  }
  await new Response(child.stderr).text();
  assert.equal((await child.status).code, 0);
  await until(
    () =>
      daemon.daemon.status().counters !== undefined &&
      (daemon.daemon.status().counters as Record<string, number>).messages_in === 1,
    "the line published",
  );
});

Deno.test("serve exits 0 on a SIGTERM that arrives while it starts", async () => {
  await using tmp = await withTmpDir();
  for (let i = 0; i < 5; i++) {
    const dir = `${tmp.path}/s${i}`;
    // 200 event sockets are created after command.sock: a wide window for the signal.
    const types = Array.from({ length: 200 }, (_, n) => `t${n}`).join(",");
    const child = spawn([dir, "--no-persist", "--event-types", types], {
      cwd: tmp.path,
      env: { HOME: tmp.path },
    });
    const stderr = new Response(child.stderr).text();
    // The first socket file appears before start-up is over: signal at once.
    for (;;) {
      try {
        await Deno.lstat(`${dir}/command.sock`);
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
    child.kill("SIGTERM");
    const { code } = await child.status;
    assert.equal(code, 0, `run ${i}: ${await stderr}`);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [], `run ${i}`);
  }
});
