/**
 * `deno task install-service`: copies `dist/dotfiles-daemon` (from
 * `deno task compile`) to `~/.local/bin/` and `service/dotfiles-daemon.service`
 * to `~/.config/systemd/user/`, then prints the `systemctl --user` line that
 * enables the service. It runs nothing itself (no `--allow-run`).
 *
 * @module
 */

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
        `Cannot install service: '${binary}' does not exist, run 'deno task compile' first`,
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

if (import.meta.main) {
  const home = Deno.env.get("HOME") ?? "";
  try {
    const installed = await installService(home);
    // deno-lint-ignore no-console
    console.log(`Installed ${installed.binary} and ${installed.unit}\nNow run: ${ENABLE_COMMAND}`);
  } catch (err) {
    // deno-lint-ignore no-console
    console.error(err instanceof Error ? err.message : String(err));
    Deno.exit(1);
  }
}
