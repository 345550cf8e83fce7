import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { withTmpDir } from "../_helpers.ts";
import { run } from "./_cli.ts";

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
  assert.deepEqual(Object.keys(first).sort(), ["class", "percentage", "text", "tooltip"]);
  assert.equal(await child.stop(), 0);
});
