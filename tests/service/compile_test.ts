/**
 * `deno task compile`: either builds `dist/dotfiles-daemon` with the shared
 * flags baked in, or (where Deno's runtime download is unreachable) fails
 * with one line that explains how to use `DENORT_BIN`. The binary's own
 * test skips, with the reason printed, when it could not be built.
 */

import assert from "node:assert/strict";
import { COMPILE_OUTPUT } from "../../service/permissions.ts";
import { RawClient, untilReady, withTmpDir } from "../_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

interface CompileRun {
  code: number;
  /** stderr without `deno task`'s "Task compile ..." and npm "Download ..." lines. */
  lines: string[];
  home: string;
}

/** Runs `deno task compile` with `HOME` set to a fresh temp dir, so baked-in dirs are temp dirs. */
async function compile(): Promise<CompileRun> {
  const home = await Deno.makeTempDir({ prefix: "dotfiles-compile-" });
  const env = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) => !name.startsWith("XDG_")),
  );
  Object.assign(env, { HOME: home, NO_COLOR: "1" });
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "compile"],
    cwd: ROOT,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
  }).output();
  const lines = new TextDecoder().decode(stderr).split("\n")
    .filter((line) => line.trim() !== "" && !/^(Task\s+compile|Download)\s/.test(line));
  return { code, lines, home };
}

const run = await compile();
globalThis.addEventListener("unload", () => Deno.removeSync(run.home, { recursive: true }));
const built = run.code === 0;
if (!built) {
  // deno-lint-ignore no-console
  console.warn(`skipping the compiled binary test: ${run.lines.at(-1) ?? `exit code ${run.code}`}`);
}

Deno.test("deno task compile builds the binary or explains in one line why it cannot", () => {
  if (built) {
    assert.ok(Deno.statSync(`${ROOT}${COMPILE_OUTPUT}`).isFile);
    return;
  }
  assert.equal(run.lines.length, 1, run.lines.join("\n"));
  assert.match(run.lines[0]!, /^Cannot compile: .*denort.*DENORT_BIN=/);
});

Deno.test({
  name: "the compiled binary serves with its baked-in flags and refuses another directory",
  ignore: !built,
  async fn(): Promise<void> {
    const socketDir = `${run.home}/.cache/dotfiles/sockets`;
    const child = new Deno.Command(`${ROOT}${COMPILE_OUTPUT}`, {
      args: ["serve", "--event-types", "compiled", "--log-level", "warn"],
      env: { HOME: run.home },
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      await untilReady(socketDir);
      using monitor = await RawClient.connect(`${socketDir}/compiled_events.sock`);
      using publisher = await RawClient.connect(`${socketDir}/command.sock`);
      await publisher.send({
        event_type: "compiled",
        payload: { type: "state_update", state_key: "k", state_value: { v: 1 } },
      });
      assert.equal((await monitor.read())?.event_type, "compiled");
    } finally {
      child.kill("SIGTERM");
      const out = await child.output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    }
    await using other = await withTmpDir();
    const refused = await new Deno.Command(`${ROOT}${COMPILE_OUTPUT}`, {
      args: ["serve", other.path, "--state-dir", other.path],
      env: { HOME: run.home },
      clearEnv: true,
      stdin: "null",
      stdout: "null",
    }).output();
    assert.notEqual(refused.code, 0);
    assert.match(new TextDecoder().decode(refused.stderr), /--allow-(read|write)/);
  },
});
