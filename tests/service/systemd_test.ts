/**
 * The systemd user unit: its hardening is checked as text everywhere, and
 * with `systemd-analyze verify` and `systemd-analyze security --offline`
 * where systemd-analyze is installed (skipped with the reason otherwise).
 */

import assert from "node:assert/strict";
import {
  denoCacheDir,
  ENABLE_COMMAND,
  installCloneService,
  installService,
} from "../../scripts/install_service.ts";
import { defaultDaemonDirs, INSTALL_SERVICE_TASK } from "../../service/permissions.ts";
import { binaryUnit, cloneUnit } from "../../service/unit.ts";
import { RawClient, untilReady, withTmpDir } from "../_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CLONE = ROOT.replace(/\/$/, "");
const UNIT = `${ROOT}service/dotfiles-daemon.service`;
const DENO_DIR = denoCacheDir((name) => Deno.env.get(name));

/** The clone's unit for this machine, on the given directories. */
function cloneUnitFor(socketDir: string, stateDir: string): string {
  return cloneUnit({
    deno: Deno.execPath(),
    clone: CLONE,
    denoDir: DENO_DIR,
    dirs: { socketDir, stateDir },
  });
}
/** The exposure score `systemd-analyze security` gave (0.6 with systemd 252); fail well before "OK". */
const MAX_EXPOSURE = 2.0;

async function findSystemdAnalyze(): Promise<string | undefined> {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    try {
      if ((await Deno.stat(`${dir}/systemd-analyze`)).isFile) return `${dir}/systemd-analyze`;
    } catch {
      // not here
    }
  }
  return undefined;
}

const systemdAnalyze = await findSystemdAnalyze();
if (systemdAnalyze === undefined) {
  // deno-lint-ignore no-console
  console.warn(
    "skipping systemd-analyze tests: systemd-analyze is not installed (apt-get install systemd)",
  );
}

/** The unit's `Key=value` lines, values of repeated keys in order. */
function directives(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("[")) continue;
    const at = line.indexOf("=");
    const key = line.slice(0, at);
    map.set(key, [...(map.get(key) ?? []), line.slice(at + 1)]);
  }
  return map;
}

/** Runs systemd-analyze for the user manager with a private runtime dir (no user manager needed). */
async function analyze(args: string[]): Promise<{ code: number; out: string }> {
  await using runtime = await withTmpDir();
  const { code, stdout, stderr } = await new Deno.Command(systemdAnalyze!, {
    args,
    env: { XDG_RUNTIME_DIR: runtime.path, SYSTEMD_COLORS: "0", SYSTEMD_PAGER: "" },
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return { code, out: decoder.decode(stdout) + decoder.decode(stderr) };
}

Deno.test("the unit starts the installed binary, restarts on failure and hardens what Deno tolerates", async () => {
  const unit = directives(await Deno.readTextFile(UNIT));
  const one = (key: string) => unit.get(key)?.at(-1);
  assert.equal(one("ExecStart"), "%h/.local/bin/dotfiles-daemon serve");
  assert.equal(one("Restart"), "on-failure");
  assert.equal(one("UMask"), "0077");
  assert.equal(one("ProtectSystem"), "strict");
  assert.equal(one("ProtectHome"), "tmpfs");
  assert.equal(one("BindPaths"), "%h/.cache/dotfiles/sockets %h/.local/state/dotfiles/daemon");
  assert.equal(one("RestrictAddressFamilies"), "AF_UNIX");
  for (
    const key of [
      "PrivateNetwork",
      "NoNewPrivileges",
      "PrivateTmp",
      "PrivateDevices",
      "LockPersonality",
    ]
  ) {
    assert.equal(one(key), "yes", key);
  }
  assert.match(unit.get("SystemCallFilter")?.[0] ?? "", /^@system-service\b/);
  assert.equal(one("SystemCallArchitectures"), "native");
  // V8's JIT needs writable and executable memory.
  assert.equal(unit.has("MemoryDenyWriteExecute"), false);
});

Deno.test("the committed unit is service/unit.ts's binaryUnit(), and the clone's shares its sandbox", async () => {
  const committed = await Deno.readTextFile(UNIT);
  assert.equal(committed, binaryUnit(), "regenerate: deno run service/unit.ts > " + UNIT);
  const sandbox = (text: string) => text.slice(text.indexOf("PrivateTmp=yes"));
  const clone = cloneUnitFor("/home/me/.cache/dotfiles/sockets", "/home/me/.local/state/d");
  assert.equal(sandbox(clone), sandbox(committed));
  const unit = directives(clone);
  const exec = unit.get("ExecStart")![0]!.split(" ");
  assert.deepEqual(exec.slice(0, 2), [Deno.execPath(), "run"]);
  assert.ok(exec.includes("--allow-read=/home/me/.cache/dotfiles/sockets,/home/me/.local/state/d"));
  assert.ok(exec.includes("--no-prompt"));
  assert.ok(
    !exec.some((word) => /^(-A|--allow-all|--allow-run|--allow-ffi|--allow-sys)/.test(word)),
  );
  assert.deepEqual(
    exec.slice(-8),
    [
      "--config",
      `${CLONE}/deno.json`,
      `${CLONE}/main.ts`,
      "serve",
      "--socket-dir",
      "/home/me/.cache/dotfiles/sockets",
      "--state-dir",
      "/home/me/.local/state/d",
    ],
  );
  assert.deepEqual(unit.get("BindReadOnlyPaths"), [`${Deno.execPath()} ${CLONE} ${DENO_DIR}`]);
  assert.deepEqual(unit.get("BindPaths"), [
    "/home/me/.cache/dotfiles/sockets /home/me/.local/state/d",
  ]);
  assert.throws(() => cloneUnitFor("/my sockets", "/t"), TypeError);
});

Deno.test("the clone unit's ExecStart line runs the daemon with its Environment", async () => {
  await using tmp = await withTmpDir();
  const socketDir = `${tmp.path}/sockets`;
  const unit = directives(cloneUnitFor(socketDir, `${tmp.path}/state`));
  const [program, ...args] = unit.get("ExecStart")![0]!.split(" ");
  const env = Object.fromEntries(unit.get("Environment")!.map((a) => a.split("=", 2)));
  const child = new Deno.Command(program!, {
    args,
    env: { ...env, HOME: tmp.path },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    await untilReady(socketDir);
    using query = await RawClient.connect(`${socketDir}/query.sock`);
    const answer = await query.query("get_daemon_status");
    const result = (answer.payload as { result: { socket_dir: string; state_dir: string } }).result;
    assert.equal(result.socket_dir, socketDir);
    assert.equal(result.state_dir, `${tmp.path}/state`);
  } finally {
    child.kill("SIGTERM");
  }
  const { code, stderr } = await child.output();
  const text = new TextDecoder().decode(stderr);
  assert.equal(code, 0, text);
  assert.doesNotMatch(text, /Download|warn/i);
});

Deno.test({
  name: "systemd-analyze verify accepts the clone unit and security rates it at most 2.0",
  ignore: systemdAnalyze === undefined,
  async fn(): Promise<void> {
    // Its ExecStart (this machine's deno) exists, so it is verified exactly as written.
    await using dir = await withTmpDir();
    const path = `${dir.path}/dotfiles-daemon.service`;
    await Deno.writeTextFile(path, cloneUnitFor(`${dir.path}/s`, `${dir.path}/t`));
    const verified = await analyze(["verify", "--user", path]);
    assert.equal(verified.out.trim(), "");
    assert.equal(verified.code, 0);
    const { code, out } = await analyze(["security", "--offline=true", "--user", path]);
    assert.equal(code, 0, out);
    const match = out.match(/Overall exposure level for dotfiles-daemon\.service: (\d+\.\d+)/);
    assert.ok(match, out);
    assert.ok(Number(match[1]) <= MAX_EXPOSURE, `exposure ${match[1]}`);
  },
});

Deno.test("deno task install-service --from-clone writes the clone unit for this machine", async () => {
  await using home = await withTmpDir();
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "install-service", "--from-clone"],
    cwd: ROOT,
    // No deno on PATH: the npx-only user.
    env: { HOME: home.path, PATH: "/usr/bin:/bin", DENO_DIR },
    clearEnv: true,
    stdin: "null",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const unit = `${home.path}/.config/systemd/user/dotfiles-daemon.service`;
  assert.equal(
    out,
    `Installed ${unit} (runs this clone with ${Deno.execPath()})\nNow run: ${ENABLE_COMMAND}\n`,
  );
  const env = { HOME: home.path, DENO_DIR } as Record<string, string>;
  const dirs = defaultDaemonDirs((name) => env[name]);
  assert.equal(await Deno.readTextFile(unit), cloneUnitFor(dirs.socketDir, dirs.stateDir));
  assert.equal((await Deno.stat(unit)).mode! & 0o777, 0o644);
  assert.equal(
    await installCloneService(home.path, {
      deno: Deno.execPath(),
      clone: CLONE,
      env: (name) => env[name],
    }),
    unit,
  );
  assert.match(INSTALL_SERVICE_TASK, /--allow-env=HOME,XDG_CACHE_HOME,XDG_STATE_HOME,DENO_DIR /);
});

Deno.test({
  name: "systemd-analyze verify accepts the unit (ExecStart pointed at an existing program)",
  ignore: systemdAnalyze === undefined,
  async fn(): Promise<void> {
    // The binary is not installed here: verify a copy whose ExecStart exists, and nothing else changed.
    await using dir = await withTmpDir();
    const text = await Deno.readTextFile(UNIT);
    await Deno.writeTextFile(
      `${dir.path}/dotfiles-daemon.service`,
      text.replace(/^ExecStart=\S+/m, "ExecStart=/bin/true"),
    );
    const { code, out } = await analyze([
      "verify",
      "--user",
      `${dir.path}/dotfiles-daemon.service`,
    ]);
    assert.equal(out.trim(), "");
    assert.equal(code, 0);
  },
});

Deno.test({
  name: "systemd-analyze security rates the unit's exposure at most 2.0",
  ignore: systemdAnalyze === undefined,
  async fn(): Promise<void> {
    const { code, out } = await analyze(["security", "--offline=true", "--user", UNIT]);
    assert.equal(code, 0, out);
    const match = out.match(/Overall exposure level for dotfiles-daemon\.service: (\d+\.\d+)/);
    assert.ok(match, out);
    assert.ok(Number(match[1]) <= MAX_EXPOSURE, `exposure ${match[1]}`);
  },
});

Deno.test("installService copies the binary and the unit where ExecStart=%h/.local/bin finds them", async () => {
  await using home = await withTmpDir();
  await using src = await withTmpDir();
  await Deno.writeTextFile(`${src.path}/dotfiles-daemon`, "#!/bin/sh\n");
  const installed = await installService(home.path, {
    binary: `${src.path}/dotfiles-daemon`,
    unit: UNIT,
  });
  assert.equal(installed.binary, `${home.path}/.local/bin/dotfiles-daemon`);
  assert.equal(installed.unit, `${home.path}/.config/systemd/user/dotfiles-daemon.service`);
  assert.equal((await Deno.stat(installed.binary)).mode! & 0o777, 0o755);
  assert.equal(await Deno.readTextFile(installed.unit), await Deno.readTextFile(UNIT));
  assert.match(ENABLE_COMMAND, /systemctl --user enable --now dotfiles-daemon/);
  await assert.rejects(
    installService(home.path, { binary: `${src.path}/missing`, unit: UNIT }),
    (err: Error) => err instanceof Deno.errors.NotFound && /deno task compile/.test(err.message),
  );
});
