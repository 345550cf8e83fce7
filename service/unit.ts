/**
 * The systemd user units, both written from one template: the compiled
 * binary's (`service/dotfiles-daemon.service`, committed, installed by
 * `deno task install-service`) and the clone's (`deno task install-service
 * --from-clone`, written at install time because it names this machine's
 * paths), which runs `deno run` on the clone's `main.ts` with the flags of
 * `service/permissions.ts`. Only the header, `ExecStart=`, the directories
 * and the read-only paths differ; the sandbox is the same text.
 * `tests/service/systemd_test.ts` fails when the committed file drifts from
 * {@linkcode binaryUnit} and checks both units with `systemd-analyze`.
 *
 * Regenerate the committed unit:
 *
 * ```sh
 * deno run service/unit.ts > service/dotfiles-daemon.service
 * ```
 *
 * @module
 */

import { type DaemonDirs, daemonPermissionFlags } from "./permissions.ts";

/** What differs between the units. */
export interface UnitSource {
  /** Comment lines at the top (without `# `): what the unit is and how it is installed. */
  intro: string[];
  /** `ExecStart=`: the command line, already in systemd syntax. */
  execStart: string;
  /** `Environment=` assignments, already in systemd syntax. */
  environment: string[];
  /** The socket and state directories, as systemd paths (`%h/…` or absolute). */
  dirs: DaemonDirs;
  /** Mounted back read-only into the empty home: the program and what it loads. */
  readOnlyPaths: string[];
  /** What the "files" comment says is mounted back read-only. */
  readOnlyWhat: string;
}

/**
 * The unit text for a source: the shared sandbox around its `ExecStart=`.
 *
 * @param source What differs.
 * @returns The unit file.
 *
 * @example
 * ```ts
 * import { binaryUnit, renderUnit } from "./unit.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(binaryUnit(), /^ExecStart=%h\/\.local\/bin\/dotfiles-daemon serve$/m);
 * assert.match(
 *   renderUnit({
 *     intro: ["x"],
 *     execStart: "/bin/true",
 *     environment: [],
 *     dirs: { socketDir: "/s", stateDir: "/t" },
 *     readOnlyPaths: ["/bin/true"],
 *     readOnlyWhat: "the program",
 *   }),
 *   /^BindPaths=\/s \/t$/m,
 * );
 * ```
 */
export function renderUnit(source: UnitSource): string {
  const dirs = `${source.dirs.socketDir} ${source.dirs.stateDir}`;
  return [
    ...source.intro.map((line) => `# ${line}`.trimEnd()),
    "",
    "[Unit]",
    "Description=dotfiles-daemon: event bus for dotfiles managers and monitors",
    "Documentation=man:systemd.exec(5)",
    "",
    "[Service]",
    "Type=simple",
    `ExecStartPre=+/usr/bin/mkdir -p -m 0700 ${dirs}`,
    `ExecStart=${source.execStart}`,
    ...source.environment.map((assignment) => `Environment=${assignment}`),
    "Restart=on-failure",
    "RestartSec=2s",
    "UMask=0077",
    "",
    "# Files: the whole tree read-only, home directories replaced by an empty",
    `# tmpfs; only ${source.readOnlyWhat} (read-only) and the two directories (read-write)`,
    '# are mounted back. ExecStartPre (the "+" runs it unsandboxed) creates the',
    "# directories first, as binding a missing path fails the start.",
    "ProtectSystem=strict",
    "ProtectHome=tmpfs",
    `BindReadOnlyPaths=${source.readOnlyPaths.join(" ")}`,
    `BindPaths=${dirs}`,
    UNIT_SANDBOX,
  ].join("\n");
}

/** The part of `[Service]` after the mounts, and `[Install]`: the same for both units. */
const UNIT_SANDBOX = `PrivateTmp=yes
PrivateDevices=yes
ProtectProc=invisible
ProcSubset=pid
PrivateMounts=yes

# Network: Unix sockets only. Filesystem (path) Unix sockets work across
# network namespaces, so managers and monitors outside still connect.
PrivateNetwork=yes
RestrictAddressFamilies=AF_UNIX
IPAddressDeny=any

# Privileges and kernel.
NoNewPrivileges=yes
PrivateUsers=yes
CapabilityBoundingSet=
AmbientCapabilities=
RestrictSUIDSGID=yes
RestrictNamespaces=yes
RestrictRealtime=yes
LockPersonality=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
KeyringMode=private
RemoveIPC=yes
DevicePolicy=closed
SystemCallArchitectures=native
# V8 probes for memory protection keys (pkey_*), which @system-service
# leaves out; allow them so V8 keeps that hardening where the CPU has it.
SystemCallFilter=@system-service pkey_alloc pkey_free pkey_mprotect
# strace of the daemon under load shows no call from these two groups.
SystemCallFilter=~@privileged @resources
# A refused system call fails with EPERM instead of killing the process.
SystemCallErrorNumber=EPERM
# MemoryDenyWriteExecute= is deliberately NOT set: V8's JIT compiler needs
# memory that is writable and executable, and the daemon would crash at once.

[Install]
WantedBy=default.target
`;

/**
 * The compiled binary's unit, as committed in `service/dotfiles-daemon.service`.
 *
 * @returns The unit file.
 *
 * @example
 * ```ts
 * import { binaryUnit } from "./unit.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(binaryUnit(), /^BindReadOnlyPaths=%h\/\.local\/bin\/dotfiles-daemon$/m);
 * ```
 */
export function binaryUnit(): string {
  return renderUnit({
    intro: [
      "dotfiles-daemon as a systemd user service, sandboxed as far as a Deno",
      "program allows. Install with `deno task install-service` (see the README):",
      "it copies dist/dotfiles-daemon to ~/.local/bin and this file to",
      "~/.config/systemd/user/, then:",
      "  systemctl --user daemon-reload && systemctl --user enable --now dotfiles-daemon",
      "Logs: journalctl --user -u dotfiles-daemon",
      "Generated by service/unit.ts (binaryUnit): edit that, then",
      "  deno run service/unit.ts > service/dotfiles-daemon.service",
      "",
      "The binary carries its own Deno permission flags (service/permissions.ts):",
      "read/write on the two directories below, Unix sockets, no TCP on IPv4 or",
      "IPv6 loopback, env HOME/XDG_CACHE_HOME/XDG_STATE_HOME only. The settings",
      "here are the second, kernel-enforced layer.",
    ],
    execStart: "%h/.local/bin/dotfiles-daemon serve",
    environment: [],
    dirs: { socketDir: "%h/.cache/dotfiles/sockets", stateDir: "%h/.local/state/dotfiles/daemon" },
    readOnlyPaths: ["%h/.local/bin/dotfiles-daemon"],
    readOnlyWhat: "the binary",
  });
}

/** What {@linkcode cloneUnit} needs: this machine's paths. */
export interface CloneUnitOptions {
  /** The absolute path of the `deno` binary (`Deno.execPath()`). */
  deno: string;
  /** The clone's absolute directory. */
  clone: string;
  /** Deno's cache (`DENO_DIR`), where the npm packages the daemon imports are. */
  denoDir: string;
  /** The absolute socket and state directories. */
  dirs: DaemonDirs;
}

/** A path for a unit line: absolute, no white space or quotes; `%` and `$` escaped. */
function unitPath(name: string, path: string): string {
  if (!path.startsWith("/") || /[\s"'\\]/.test(path)) {
    throw new TypeError(
      `Cannot write the service unit: '${name}' must be an absolute path without white space, quotes or backslashes, received '${path}'`,
    );
  }
  return path.replace(/\/+$/, "").replaceAll("%", "%%").replaceAll("$", "$$$$") || "/";
}

/**
 * The unit for a clone: `ExecStart=` runs `deno run` with
 * `daemonPermissionFlags(dirs)` on the clone's `main.ts`, giving the two
 * directories explicitly, so the permissions and the daemon agree whatever
 * the service manager's environment says. The Deno binary, the clone and
 * Deno's cache are mounted back read-only; nothing is downloaded (the
 * network is private) or written outside the two directories.
 *
 * @param options This machine's paths.
 * @returns The unit file.
 * @throws {TypeError} When a path is relative or holds white space or quotes.
 *
 * @example
 * ```ts
 * import { cloneUnit } from "./unit.ts";
 * import assert from "node:assert/strict";
 *
 * const unit = cloneUnit({
 *   deno: "/usr/local/bin/deno",
 *   clone: "/home/me/src/dotfiles-daemon",
 *   denoDir: "/home/me/.cache/deno",
 *   dirs: { socketDir: "/home/me/.cache/dotfiles/sockets", stateDir: "/home/me/.local/state/dotfiles/daemon" },
 * });
 * assert.match(unit, /^ExecStart=\/usr\/local\/bin\/deno run --allow-read=/m);
 * assert.match(unit, /main\.ts serve --socket-dir \/home\/me\/\.cache\/dotfiles\/sockets /);
 * ```
 */
export function cloneUnit(options: CloneUnitOptions): string {
  const deno = unitPath("deno", options.deno);
  const clone = unitPath("clone", options.clone);
  const denoDir = unitPath("denoDir", options.denoDir);
  const socketDir = unitPath("socketDir", options.dirs.socketDir);
  const stateDir = unitPath("stateDir", options.dirs.stateDir);
  const flags = daemonPermissionFlags({ socketDir, stateDir });
  return renderUnit({
    intro: [
      "dotfiles-daemon as a systemd user service, run from the clone at",
      `${clone} with deno run (no compiled binary). Written by`,
      "`deno task install-service --from-clone` (service/unit.ts, cloneUnit) for",
      "this machine's paths; run that task again after moving the clone or Deno.",
      "  systemctl --user daemon-reload && systemctl --user enable --now dotfiles-daemon",
      "Logs: journalctl --user -u dotfiles-daemon",
      "",
      "The Deno permission flags are service/permissions.ts's (the same as",
      "`deno task start`): read/write on the two directories below, Unix sockets,",
      "no TCP on IPv4 or IPv6 loopback, env HOME/XDG_CACHE_HOME/XDG_STATE_HOME",
      "only. The settings here are the second, kernel-enforced layer.",
    ],
    execStart: [
      deno,
      "run",
      ...flags,
      "--config",
      `${clone}/deno.json`,
      `${clone}/main.ts`,
      "serve",
      "--socket-dir",
      socketDir,
      "--state-dir",
      stateDir,
    ].join(" "),
    environment: [`DENO_DIR=${denoDir}`, "DENO_NO_UPDATE_CHECK=1", "NO_COLOR=1"],
    dirs: { socketDir, stateDir },
    readOnlyPaths: [deno, clone, denoDir],
    readOnlyWhat: "Deno, the clone and Deno's cache",
  });
}

if (import.meta.main) {
  await Deno.stdout.write(new TextEncoder().encode(binaryUnit()));
}
