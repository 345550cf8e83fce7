/**
 * `deno task test`: runs `deno test` with `HOME` and the XDG base
 * directories pointed at a fresh temp dir, so no test (and no `@example`)
 * can reach a daemon the user runs on the default directories
 * (`~/.cache/dotfiles/sockets`) or its store. Deno's own cache stays where
 * it is (`DENO_DIR` is set to the real one), so nothing is downloaded again.
 * Arguments go to `deno test` after the suite's flags
 * (`deno task test tests/cli/ --filter usage`); the exit code is `deno test`'s.
 *
 * The runner's own flags (`TEST_TASK` in `service/permissions.ts`): run `deno`, env, and
 * read/write for the temp dir.
 *
 * @module
 */

import { defaultSocketDir, defaultStateDir } from "../protocol/socket_paths.ts";
import { TEST_FLAGS } from "../service/permissions.ts";

/** The variables pointed at the temp dir: `HOME` and every XDG base directory. */
export const ISOLATED_VARS: readonly string[] = Object.freeze([
  "HOME",
  "XDG_CACHE_HOME",
  "XDG_STATE_HOME",
  "XDG_CONFIG_HOME",
  "XDG_DATA_HOME",
  "XDG_RUNTIME_DIR",
]);

/**
 * Set for the tests: the temp dir that stands in for the home directory.
 * `tests/default_dirs_test.ts` fails without it.
 */
export const TEST_ROOT_VAR = "DOTFILES_DAEMON_TEST_ROOT";

/**
 * Set for the tests: the socket and state directories the user's own
 * environment resolves to (the ones no test may use), joined by a newline.
 */
export const REAL_DIRS_VAR = "DOTFILES_DAEMON_REAL_DIRS";

/**
 * The environment overrides for a suite run under `root`: `HOME` and the XDG
 * directories inside it, `DENO_DIR` kept on the real cache.
 *
 * @param root An absolute temp dir.
 * @param denoDir Deno's real cache directory.
 * @param realDirs The default directories of the user's environment.
 * @returns The variables to set.
 *
 * @example
 * ```ts
 * import { isolatedEnv } from "./test.ts";
 * import assert from "node:assert/strict";
 *
 * const env = isolatedEnv("/tmp/t", "/home/me/.cache/deno", []);
 * assert.equal(env.HOME, "/tmp/t/home");
 * assert.equal(env.XDG_CACHE_HOME, "/tmp/t/home/.cache");
 * assert.equal(env.DENO_DIR, "/home/me/.cache/deno");
 * ```
 */
export function isolatedEnv(
  root: string,
  denoDir: string,
  realDirs: readonly string[],
): Record<string, string> {
  const home = `${root}/home`;
  return {
    HOME: home,
    XDG_CACHE_HOME: `${home}/.cache`,
    XDG_STATE_HOME: `${home}/.local/state`,
    XDG_CONFIG_HOME: `${home}/.config`,
    XDG_DATA_HOME: `${home}/.local/share`,
    XDG_RUNTIME_DIR: `${root}/runtime`,
    DENO_DIR: denoDir,
    [TEST_ROOT_VAR]: root,
    [REAL_DIRS_VAR]: realDirs.join("\n"),
  };
}

/** Deno's cache directory as `deno info` reports it for the current environment. */
async function realDenoDir(): Promise<string> {
  const fromEnv = Deno.env.get("DENO_DIR");
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdin: "null",
    stderr: "inherit",
  }).output();
  if (code !== 0) throw new Error("Cannot find Deno's cache: 'deno info --json' failed");
  return (JSON.parse(new TextDecoder().decode(stdout)) as { denoDir: string }).denoDir;
}

function realDefaultDirs(): string[] {
  const env = (name: string) => Deno.env.get(name);
  const dirs: string[] = [];
  for (const resolve of [defaultSocketDir, defaultStateDir]) {
    try {
      dirs.push(resolve(env));
    } catch {
      // No HOME: nothing to protect.
    }
  }
  return dirs;
}

async function main(args: string[]): Promise<number> {
  const denoDir = await realDenoDir();
  const realDirs = realDefaultDirs();
  const root = await Deno.makeTempDir({ prefix: "dotfiles-daemon-test-" });
  const env = isolatedEnv(root, denoDir, realDirs);
  for (const dir of [env.HOME!, env.XDG_RUNTIME_DIR!]) {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", ...TEST_FLAGS, ...args],
    env,
    stdin: "inherit",
  }).spawn();
  // Ctrl-C reaches `deno test` too (same process group); a SIGTERM (a CI
  // timeout) is passed on. Either way: wait for it, then clean up.
  const ignore = () => {};
  const forward = () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
  };
  Deno.addSignalListener("SIGINT", ignore);
  Deno.addSignalListener("SIGTERM", forward);
  try {
    return (await child.status).code;
  } finally {
    Deno.removeSignalListener("SIGINT", ignore);
    Deno.removeSignalListener("SIGTERM", forward);
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
