/**
 * `deno task install-cli` puts a `dotfiles-daemon` on PATH that runs this
 * clone with the CLI's flags, with no `deno` on PATH (the npx-only user).
 */

import assert from "node:assert/strict";
import { cliShim, SHIM_MARK } from "../../scripts/install_cli.ts";
import { CLI_PERMISSION_FLAGS } from "../../service/permissions.ts";
import denoJson from "../../deno.json" with { type: "json" };
import { startDaemon, withTmpDir } from "../_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** A PATH with the system tools and no deno. */
const NO_DENO_PATH = "/usr/bin:/bin";

async function sh(
  args: string[],
  env: Record<string, string>,
  cwd = ROOT,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const denoDir = Deno.env.get("DENO_DIR");
  const { code, stdout, stderr } = await new Deno.Command(args[0]!, {
    args: args.slice(1),
    cwd,
    env: { PATH: NO_DENO_PATH, NO_COLOR: "1", ...(denoDir ? { DENO_DIR: denoDir } : {}), ...env },
    clearEnv: true,
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code, stdout: dec.decode(stdout), stderr: dec.decode(stderr) };
}

Deno.test("cliShim runs the clone's main.ts with the CLI's flags and quotes paths", () => {
  const text = cliShim({ deno: "/opt/deno it's/deno", clone: "/home/me/my clone/" });
  assert.ok(text.startsWith(`#!/bin/sh\n${SHIM_MARK}\n`));
  assert.match(text, /^deno='\/opt\/deno it'"'"'s\/deno'$/m);
  assert.ok(
    text.includes(
      `exec "$deno" run ${CLI_PERMISSION_FLAGS.join(" ")} ` +
        `--config '/home/me/my clone/deno.json' '/home/me/my clone/main.ts' "$@"`,
    ),
  );
  assert.throws(() => cliShim({ deno: "deno", clone: "/x" }), TypeError);
});

Deno.test("deno task install-cli gives a working dotfiles-daemon without deno on PATH", async () => {
  if (Deno.build.os === "windows") return;
  await using home = await withTmpDir();
  await using daemon = await startDaemon();
  const installed = await sh([Deno.execPath(), "task", "--quiet", "install-cli"], {
    HOME: home.path,
  });
  assert.equal(installed.code, 0, installed.stderr);
  const bin = `${home.path}/.local/bin/dotfiles-daemon`;
  assert.match(installed.stdout, new RegExp(`^Installed ${bin} `));
  assert.match(installed.stdout, /~\/\.local\/bin is not on PATH/);
  assert.equal((await Deno.stat(bin)).mode! & 0o777, 0o755);

  // The command itself, from another directory, with PATH=~/.local/bin and no deno.
  const env = { HOME: home.path, PATH: `${home.path}/.local/bin:${NO_DENO_PATH}` };
  const version = await sh(["sh", "-c", "dotfiles-daemon --version"], env, home.path);
  assert.deepEqual(version, {
    code: 0,
    stdout: `dotfiles-daemon ${denoJson.version}\n`,
    stderr: "",
  });
  const published = await sh(
    ["sh", "-c", `dotfiles-daemon publish demo --state k=1 --socket-dir '${daemon.dir}'`],
    env,
    home.path,
  );
  assert.equal(published.code, 0, published.stderr);
  const status = await sh(
    ["sh", "-c", `dotfiles-daemon status --socket-dir '${daemon.dir}'`],
    env,
    home.path,
  );
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /demo +0 subscribers, 1 message, seq 1/);

  // Running it again replaces its own command; another file is left alone without --force.
  const again = await sh([Deno.execPath(), "task", "--quiet", "install-cli"], env);
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /not on PATH/);
  await Deno.writeTextFile(bin, "#!/bin/sh\necho compiled binary\n");
  const refused = await sh([Deno.execPath(), "task", "--quiet", "install-cli"], env);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /exists and is not from this task .*--force/);
  assert.equal(await Deno.readTextFile(bin), "#!/bin/sh\necho compiled binary\n");
  const forced = await sh([Deno.execPath(), "task", "--quiet", "install-cli", "--force"], env);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(await Deno.readTextFile(bin), new RegExp(SHIM_MARK));
});
