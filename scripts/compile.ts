/**
 * `deno task compile`: builds `dist/dotfiles-daemon` with `deno compile`,
 * baking in the flags from `service/permissions.ts` for this user's default
 * directories. When the Deno runtime for compile (`denort`) cannot be
 * downloaded, it says so in one line, with how to use `DENORT_BIN`, instead
 * of Deno's error chain and backtrace.
 *
 * This is a build script, not the daemon. Its own flags (see
 * `COMPILE_TASK`): `--allow-run=deno` to run `deno compile`, write on
 * `dist/`, read and env for the directories and `DENORT_BIN`.
 *
 * @module
 */

import {
  COMPILE_OUTPUT,
  daemonPermissionFlags,
  defaultDaemonDirs,
} from "../service/permissions.ts";

/** What {@linkcode explainCompileFailure} recognises. */
export type CompileFailure = "denort-download" | "other";

/**
 * Tells a failed `deno compile` that could not download `denort` from any
 * other failure, by its stderr.
 *
 * @param stderr The stderr of `deno compile`.
 * @returns `"denort-download"` or `"other"`.
 *
 * @example
 * ```ts
 * import { classifyCompileFailure } from "./compile.ts";
 * import assert from "node:assert/strict";
 *
 * const stderr = "0: Setting up base binary.\n1: error sending request for url " +
 *   "(https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip)";
 * assert.equal(classifyCompileFailure(stderr), "denort-download");
 * assert.equal(classifyCompileFailure("error: Module not found"), "other");
 * ```
 */
export function classifyCompileFailure(stderr: string): CompileFailure {
  if (/denort/i.test(stderr) && /(base binary|download|request|dns|connect)/i.test(stderr)) {
    return "denort-download";
  }
  return "other";
}

/**
 * The one line printed when `denort` cannot be downloaded.
 *
 * @param version The Deno version (`Deno.version.deno`).
 * @param target The target triple (`Deno.build.target`).
 * @returns The explanation, without a newline.
 *
 * @example
 * ```ts
 * import { explainCompileFailure } from "./compile.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(explainCompileFailure("2.9.6", "x86_64-unknown-linux-gnu"), /DENORT_BIN=/);
 * ```
 */
export function explainCompileFailure(version: string, target: string): string {
  return `Cannot compile: deno compile could not download its runtime (denort-${target}.zip for Deno ${version}) ` +
    `from dl.deno.land; fetch and unzip it on a machine that can, then run ` +
    `'DENORT_BIN=/path/to/denort deno task compile' (or use 'deno task start', which needs no download)`;
}

async function main(): Promise<number> {
  let flags: string[];
  try {
    flags = daemonPermissionFlags(defaultDaemonDirs((name) => Deno.env.get(name)));
  } catch (err) {
    // deno-lint-ignore no-console
    console.error(err instanceof Error ? err.message : String(err));
    return 1;
  }
  await Deno.mkdir("dist", { recursive: true });
  const args = ["compile", ...flags, "--output", COMPILE_OUTPUT, "main.ts"];
  const { code, stderr } = await new Deno.Command("deno", {
    args,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stderr);
  if (code === 0) {
    await Deno.stderr.write(stderr);
    // deno-lint-ignore no-console
    console.error(`Compiled ${COMPILE_OUTPUT} with ${flags.join(" ")}`);
    return 0;
  }
  if (classifyCompileFailure(text) === "denort-download") {
    // deno-lint-ignore no-console
    console.error(explainCompileFailure(Deno.version.deno, Deno.build.target));
  } else {
    await Deno.stderr.write(stderr);
  }
  return code;
}

if (import.meta.main) {
  Deno.exit(await main());
}
