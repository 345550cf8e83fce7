/**
 * `deno task install-service`: copies `dist/dotfiles-daemon` (from
 * `deno task compile`) to `~/.local/bin/` and `service/dotfiles-daemon.service`
 * to `~/.config/systemd/user/`, then prints the `systemctl --user` line that
 * enables the service. It runs nothing itself (no `--allow-run`).
 *
 * `deno task install-service --from-clone` needs no binary: it writes a unit
 * that runs this clone's `main.ts` with `deno run` and the daemon's
 * least-privilege flags (`cloneUnit` in `service/unit.ts`), for this
 * machine's Deno, clone, Deno cache and default directories.
 *
 * @module
 */

import { defaultDaemonDirs } from "../service/permissions.ts";
import { cloneUnit } from "../service/unit.ts";
import type { EnvGetter } from "../protocol/socket_paths.ts";

/** Where {@linkcode installService} copies from and to. */
export interface InstallServiceOptions {
  /**
   * The compiled daemon.
   *
   * @default {"dist/dotfiles-daemon"}
   */
  binary?: string;
  /**
   * The unit file.
   *
   * @default {"service/dotfiles-daemon.service"}
   */
  unit?: string;
}

/** The two files {@linkcode installService} wrote. */
export interface InstalledService {
  /** `<home>/.local/bin/dotfiles-daemon` (mode 0755). */
  binary: string;
  /** `<home>/.config/systemd/user/dotfiles-daemon.service` (mode 0644). */
  unit: string;
}

/** What to run after installing. */
export const ENABLE_COMMAND =
  "systemctl --user daemon-reload && systemctl --user enable --now dotfiles-daemon";

/**
 * Copies the binary and the unit into `home`, where the unit's
 * `ExecStart=%h/.local/bin/dotfiles-daemon serve` finds the binary.
 *
 * @param home The user's absolute home directory.
 * @param options Source paths.
 * @returns The installed paths.
 * @throws {Deno.errors.NotFound} When the binary was not built (run `deno task compile`).
 *
 * @example
 * ```ts ignore
 * import { installService } from "./install_service.ts";
 *
 * await installService(Deno.env.get("HOME")!);
 * ```
 */
export async function installService(
  home: string,
  options: InstallServiceOptions = {},
): Promise<InstalledService> {
  const { binary = "dist/dotfiles-daemon", unit = "service/dotfiles-daemon.service" } = options;
  if (!home.startsWith("/")) {
    throw new TypeError(
      `Cannot install service: home must be an absolute path, received '${home}'`,
    );
  }
  try {
    await Deno.stat(binary);
  } catch (cause) {
    if (cause instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot install service: '${binary}' does not exist, run 'deno task compile' first, or use 'deno task install-service --from-clone'`,
        { cause },
      );
    }
    throw cause;
  }
  const binDir = `${home}/.local/bin`;
  const unitDir = `${home}/.config/systemd/user`;
  await Deno.mkdir(binDir, { recursive: true });
  await Deno.mkdir(unitDir, { recursive: true });
  const installed = {
    binary: `${binDir}/dotfiles-daemon`,
    unit: `${unitDir}/dotfiles-daemon.service`,
  };
  // Copy to a temp name and rename: replacing a running binary in place fails with ETXTBSY.
  await Deno.copyFile(binary, `${installed.binary}.new`);
  await Deno.chmod(`${installed.binary}.new`, 0o755);
  await Deno.rename(`${installed.binary}.new`, installed.binary);
  await Deno.copyFile(unit, installed.unit);
  await Deno.chmod(installed.unit, 0o644);
  return installed;
}

/** Options for {@linkcode installCloneService}. */
export interface InstallCloneServiceOptions {
  /** The absolute path of the `deno` binary the unit runs. */
  deno: string;
  /** The clone's absolute directory. */
  clone: string;
  /** Reads the environment (for the default directories and Deno's cache). */
  env: EnvGetter;
}

/**
 * Deno's cache directory on Linux, as Deno finds it: `$DENO_DIR`, else
 * `$XDG_CACHE_HOME/deno`, else `~/.cache/deno`.
 *
 * @param env Reads an environment variable.
 * @returns The absolute directory.
 * @throws {TypeError} When none of the variables gives an absolute path.
 *
 * @example
 * ```ts
 * import { denoCacheDir } from "./install_service.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(denoCacheDir((n) => ({ HOME: "/home/me" } as Record<string, string>)[n]), "/home/me/.cache/deno");
 * ```
 */
export function denoCacheDir(env: EnvGetter): string {
  const dir = env("DENO_DIR");
  if (dir?.startsWith("/")) return dir;
  const cache = env("XDG_CACHE_HOME");
  if (cache?.startsWith("/")) return `${cache.replace(/\/+$/, "")}/deno`;
  const home = env("HOME");
  if (home?.startsWith("/")) return `${home.replace(/\/+$/, "")}/.cache/deno`;
  throw new TypeError("Cannot find Deno's cache: expected DENO_DIR or an absolute HOME");
}

/**
 * Writes `<home>/.config/systemd/user/dotfiles-daemon.service` for running
 * the clone with `deno run` (mode 0644).
 *
 * @param home The user's absolute home directory.
 * @param options The Deno binary, the clone and the environment.
 * @returns The unit's path.
 *
 * @example
 * ```ts ignore
 * import { installCloneService } from "./install_service.ts";
 *
 * await installCloneService(Deno.env.get("HOME")!, {
 *   deno: Deno.execPath(),
 *   clone: Deno.cwd(),
 *   env: (name) => Deno.env.get(name),
 * });
 * ```
 */
export async function installCloneService(
  home: string,
  options: InstallCloneServiceOptions,
): Promise<string> {
  if (!home.startsWith("/")) {
    throw new TypeError(
      `Cannot install service: home must be an absolute path, received '${home}'`,
    );
  }
  const text = cloneUnit({
    deno: options.deno,
    clone: options.clone,
    denoDir: denoCacheDir(options.env),
    dirs: defaultDaemonDirs(options.env),
  });
  const unitDir = `${home}/.config/systemd/user`;
  await Deno.mkdir(unitDir, { recursive: true });
  const unit = `${unitDir}/dotfiles-daemon.service`;
  await Deno.writeTextFile(unit, text, { mode: 0o644 });
  await Deno.chmod(unit, 0o644);
  return unit;
}

if (import.meta.main) {
  const home = Deno.env.get("HOME") ?? "";
  const fromClone = Deno.args.includes("--from-clone");
  const unknown = Deno.args.find((arg) => arg !== "--from-clone");
  try {
    if (unknown !== undefined) {
      throw new TypeError(
        `Cannot install service: unknown argument '${unknown}' (the only option is --from-clone)`,
      );
    }
    if (fromClone) {
      const unit = await installCloneService(home, {
        deno: Deno.execPath(),
        clone: new URL("..", import.meta.url).pathname,
        env: (name) => Deno.env.get(name),
      });
      // deno-lint-ignore no-console
      console.log(
        `Installed ${unit} (runs this clone with ${Deno.execPath()})\nNow run: ${ENABLE_COMMAND}`,
      );
    } else {
      const installed = await installService(home);
      // deno-lint-ignore no-console
      console.log(
        `Installed ${installed.binary} and ${installed.unit}\nNow run: ${ENABLE_COMMAND}`,
      );
    }
  } catch (err) {
    // deno-lint-ignore no-console
    console.error(err instanceof Error ? err.message : String(err));
    Deno.exit(1);
  }
}
