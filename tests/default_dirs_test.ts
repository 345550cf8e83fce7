/**
 * The suite never reaches the user's default directories: a daemon the user
 * runs on `~/.cache/dotfiles/sockets` and its store stay untouched by
 * `deno task test`. Run the suite through `deno task test`; a bare
 * `deno test` of the whole tree fails here on purpose.
 */

import assert from "node:assert/strict";
import { defaultSocketDir, defaultStateDir } from "../protocol/socket_paths.ts";
import { REAL_DIRS_VAR, TEST_ROOT_VAR } from "../scripts/test.ts";
import { resolveSocketDir } from "../transport/mod.ts";
import { counters, startDaemon, withTmpDir } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** The home directory of the current uid in /etc/passwd, whatever HOME says. */
async function passwdHome(): Promise<string | undefined> {
  try {
    const status = await Deno.readTextFile("/proc/self/status");
    const uid = status.match(/^Uid:\s+(\d+)/m)?.[1];
    const passwd = await Deno.readTextFile("/etc/passwd");
    for (const line of passwd.split("\n")) {
      const fields = line.split(":");
      if (fields[2] === uid && fields[5]) return fields[5];
    }
  } catch {
    // Not Linux, or no passwd entry: the other checks still hold.
  }
  return undefined;
}

function inside(path: string, dir: string): boolean {
  const base = dir.replace(/\/+$/, "");
  return path === base || path.startsWith(`${base}/`);
}

Deno.test("the suite runs on a temp HOME and temp XDG dirs, not the user's", async () => {
  const root = Deno.env.get(TEST_ROOT_VAR);
  assert.ok(
    root !== undefined && root !== "",
    `${TEST_ROOT_VAR} is not set: run the suite with 'deno task test', which points HOME and ` +
      "XDG_* at a temp dir (a bare 'deno test' would talk to the daemon on your default directories)",
  );
  const env = (name: string) => Deno.env.get(name);
  // What the daemon and every client resolve when given no directory.
  const resolved = [defaultSocketDir(env), defaultStateDir(env), resolveSocketDir()];
  for (const dir of resolved) assert.ok(inside(dir, root), `${dir} is not inside ${root}`);
  for (const name of ["HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"]) {
    assert.ok(inside(Deno.env.get(name) ?? "", root), `${name} is not inside ${root}`);
  }
  const real = (Deno.env.get(REAL_DIRS_VAR) ?? "").split("\n").filter((d) => d !== "");
  for (const dir of resolved) {
    for (const r of real) assert.ok(!inside(dir, r) && !inside(r, dir), `${dir} overlaps ${r}`);
  }
  const home = await passwdHome();
  if (home !== undefined && home !== "/" && !inside(root, home)) {
    for (const dir of resolved) assert.ok(!inside(dir, home), `${dir} is in ${home}`);
  }
  // Deno's cache stays the real one: changing HOME must not re-download npm packages.
  assert.ok(!inside(Deno.env.get("DENO_DIR") ?? root, root), "DENO_DIR moved into the temp HOME");
});

Deno.test("deno task test leaves a daemon on the default directories untouched", async () => {
  // A stand-in for the user's home, with a live sentinel daemon on its default socket dir.
  await using home = await withTmpDir();
  const socketDir = `${home.path}/.cache/dotfiles/sockets`;
  await using _sentinel = await startDaemon({ socketDir });
  const env: Record<string, string> = { HOME: home.path, NO_COLOR: "1" };
  for (const name of ["PATH", "DENO_DIR", "TMPDIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  // A test that publishes and queries with default directories, and the README's
  // examples (its publisher example uses the default socket dir).
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "test", "tests/_fixtures/reach_default_dirs.ts", "README.md"],
    cwd: ROOT,
    env,
    clearEnv: true,
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 0, text);
  assert.match(text, /reach_default_dirs\.ts[^\n]*\n[^\n]*publishes and queries[^\n]*ok/, text);
  assert.match(text, /README\.md#\d+-\d+\.ts \.\.\. ok/, text);
  const seen = await counters(`${socketDir}/query.sock`);
  // Our own counters query is the one connection and query the sentinel saw.
  assert.equal(seen.connections_accepted, 1, JSON.stringify(seen));
  assert.equal(seen.messages_in, 0);
  assert.equal(seen.queries, 1);
});
