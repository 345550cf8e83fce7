/**
 * `deno task install-cli`: puts a `dotfiles-daemon` command on PATH that runs
 * this clone's `main.ts` with the same permission flags as `deno task cli`
 * ({@linkcode CLI_PERMISSION_FLAGS}). Nothing is downloaded or compiled: it
 * writes a small shell script to `~/.local/bin/dotfiles-daemon` that
 * starts the Deno that ran the task by its absolute path, so it works for a
 * user whose only Deno came from `npx -y deno@2.9.6` (no `deno` on PATH),
 * and it follows the clone (`git pull` updates the command).
 *
 * It refuses to replace a file it did not write (the compiled binary that
 * `deno task install-service` copies to the same place) unless given
 * `--force`. Its own flags (`INSTALL_CLI_TASK` in `service/permissions.ts`): env for `HOME`
 * and `PATH`, read and write on `~/.local/bin` only.
 *
 * @module
 */

import { CLI_PERMISSION_FLAGS } from "../service/permissions.ts";

/** The comment that marks a command this script wrote. */
export const SHIM_MARK = "# dotfiles-daemon from a clone, written by 'deno task install-cli'";

/** What {@linkcode cliShim} needs. */
export interface CliShimOptions {
  /** The absolute path of the `deno` binary to run. */
  deno: string;
  /** The clone's absolute directory (holding `main.ts` and `deno.json`). */
  clone: string;
}

/** Quotes a word for `sh`. */
function shQuote(word: string): string {
  return `'${word.replaceAll("'", `'"'"'`)}'`;
}

/**
 * The shell script that runs the clone's CLI: the given Deno (else a `deno`
 * on PATH, if that one is gone), the CLI's permission flags, the clone's
 * `deno.json` and `main.ts`, and the arguments.
 *
 * @param options The Deno binary and the clone.
 * @returns The script text.
 * @throws {TypeError} When a path is not absolute.
 *
 * @example
 * ```ts
 * import { cliShim } from "./install_cli.ts";
 * import assert from "node:assert/strict";
 *
 * const text = cliShim({ deno: "/usr/local/bin/deno", clone: "/home/me/dotfiles-daemon" });
 * assert.match(text, /--allow-read --allow-write --allow-net --allow-env/);
 * assert.match(text, /'\/home\/me\/dotfiles-daemon\/main.ts' "\$@"/);
 * ```
 */
export function cliShim(options: CliShimOptions): string {
  for (const [name, path] of [["deno", options.deno], ["clone", options.clone]] as const) {
    if (!path.startsWith("/")) {
      throw new TypeError(
        `Cannot write the dotfiles-daemon command: '${name}' must be an absolute path, received '${path}'`,
      );
    }
  }
  const clone = options.clone.replace(/\/+$/, "");
  return [
    "#!/bin/sh",
    SHIM_MARK,
    `# (${clone}); permissions as 'deno task cli'. Run the task again after moving the clone.`,
    `deno=${shQuote(options.deno)}`,
    `[ -x "$deno" ] || deno=$(command -v deno) || {`,
    `  echo "dotfiles-daemon: cannot find deno: run 'deno task install-cli' again in ${
      clone.replaceAll('"', '\\"')
    }" >&2`,
    "  exit 127",
    "}",
    `exec "$deno" run ${CLI_PERMISSION_FLAGS.join(" ")} --config ${shQuote(`${clone}/deno.json`)} ${
      shQuote(`${clone}/main.ts`)
    } "$@"`,
    "",
  ].join("\n");
}

/** Where {@linkcode installCli} wrote the command. */
export interface InstalledCli {
  /** `<home>/.local/bin/dotfiles-daemon`. */
  path: string;
  /** Whether `<home>/.local/bin` is on the given PATH. */
  onPath: boolean;
}

/** Options for {@linkcode installCli}. */
export interface InstallCliOptions extends CliShimOptions {
  /**
   * Replace a `dotfiles-daemon` this script did not write.
   *
   * @default {false}
   */
  force?: boolean;
  /**
   * The PATH to check the bin directory against.
   *
   * @default {""}
   */
  path?: string;
}

/**
 * Writes `<home>/.local/bin/dotfiles-daemon` (mode 0755).
 *
 * @param home The user's absolute home directory.
 * @param options The Deno binary, the clone, `force` and PATH.
 * @returns The path written and whether its directory is on PATH.
 * @throws {Deno.errors.AlreadyExists} When another `dotfiles-daemon` is there and `force` is off.
 *
 * @example
 * ```ts ignore
 * import { installCli } from "./install_cli.ts";
 *
 * await installCli(Deno.env.get("HOME")!, { deno: Deno.execPath(), clone: Deno.cwd() });
 * ```
 */
export async function installCli(home: string, options: InstallCliOptions): Promise<InstalledCli> {
  const { force = false, path = "" } = options;
  if (!home.startsWith("/")) {
    throw new TypeError(
      `Cannot install the dotfiles-daemon command: home must be an absolute path, received '${home}'`,
    );
  }
  const text = cliShim(options);
  const binDir = `${home.replace(/\/+$/, "")}/.local/bin`;
  const target = `${binDir}/dotfiles-daemon`;
  let existing: string | undefined;
  try {
    const file = await Deno.open(target);
    try {
      const head = new Uint8Array(512);
      const n = await file.read(head) ?? 0;
      existing = new TextDecoder("utf-8", { fatal: false }).decode(head.subarray(0, n));
    } finally {
      file.close();
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (existing !== undefined && !existing.includes(SHIM_MARK) && !force) {
    throw new Deno.errors.AlreadyExists(
      `Cannot install the dotfiles-daemon command: ${target} exists and is not from this task ` +
        "(the compiled binary?); run 'deno task install-cli --force' to replace it",
    );
  }
  await Deno.mkdir(binDir, { recursive: true });
  await Deno.writeTextFile(`${target}.new`, text, { mode: 0o755 });
  await Deno.chmod(`${target}.new`, 0o755);
  await Deno.rename(`${target}.new`, target);
  const onPath = path.split(":").some((dir) => dir.replace(/\/+$/, "") === binDir);
  return { path: target, onPath };
}

if (import.meta.main) {
  const args = Deno.args.filter((arg) => arg !== "--force");
  if (args.length > 0) {
    // deno-lint-ignore no-console
    console.error(`Cannot install the dotfiles-daemon command: unknown argument '${args[0]}'`);
    Deno.exit(2);
  }
  const clone = new URL("..", import.meta.url).pathname;
  try {
    const installed = await installCli(Deno.env.get("HOME") ?? "", {
      deno: Deno.execPath(),
      clone,
      force: Deno.args.includes("--force"),
      path: Deno.env.get("PATH") ?? "",
    });
    // deno-lint-ignore no-console
    console.log(
      `Installed ${installed.path} (runs ${
        clone.replace(/\/$/, "")
      }/main.ts with ${Deno.execPath()})` +
        (installed.onPath
          ? ""
          : `\n~/.local/bin is not on PATH: export PATH="$HOME/.local/bin:$PATH"`),
    );
  } catch (err) {
    // deno-lint-ignore no-console
    console.error(err instanceof Error ? err.message : String(err));
    Deno.exit(1);
  }
}
