import assert from "node:assert/strict";
import { parseServeArgs } from "../../cli/serve.ts";
import { RawClient, spawnDaemon, withTmpDir } from "../_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FLAGS = ["--allow-read", "--allow-write", "--allow-net", "--allow-env", "--no-prompt"];

Deno.test("serve exits 0 on SIGTERM after removing every socket file and the lock", async () => {
  await using tmp = await withTmpDir();
  const dir = `${tmp.path}/s`;
  await using daemon = await spawnDaemon({
    entry: "main",
    socketDir: dir,
    args: ["--no-persist", "--event-types", "bar"],
  });
  {
    using pub = await RawClient.connect(`${dir}/command.sock`);
    await pub.send({ event_type: "bar", payload: { type: "x" } });
  }
  const { code, stderr } = await daemon.stop();
  assert.equal(code, 0, stderr);
  const left = [...Deno.readDirSync(dir)].map((e) => e.name);
  assert.deepEqual(left, []);
  assert.match(stderr, /daemon stopped/);
});

Deno.test("serve with bad usage prints one line and exits 2", async () => {
  for (
    const args of [
      ["--log-level", "loud"],
      ["--max-message-size", "0"],
      ["--stale-after", "soon"],
      ["--frobnicate"],
      ["/a", "/b"],
    ]
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...FLAGS, "main.ts", "serve", ...args],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    assert.equal(out.code, 2, `${args.join(" ")}: ${stderr}`);
    assert.equal(stderr.split("\n").length, 1, stderr);
  }
});

Deno.test("parseServeArgs maps the daemon's flags to options", () => {
  assert.deepEqual(
    parseServeArgs([
      "/run/s",
      "--state-dir",
      "/var/st",
      "--no-persist",
      "--event-types",
      "a, b,,c",
      "--stale-after",
      "60",
      "--max-message-size",
      "4096",
      "--log-format",
      "json",
    ]),
    {
      socketDir: "/run/s",
      stateDir: "/var/st",
      persist: false,
      eventTypes: ["a", "b", "c"],
      staleAfter: 60_000,
      maxMessageSize: 4096,
      logFormat: "json",
    },
  );
  assert.equal(parseServeArgs(["--help"]), "help");
  assert.equal(parseServeArgs(["-V"]), "version");
  assert.throws(() => parseServeArgs(["/a", "--socket-dir", "/b"]), /once/);
});
