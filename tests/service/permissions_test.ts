import assert from "node:assert/strict";
import {
  CLI_TASK,
  COMPILE_TASK,
  DAEMON_ENV_VARS,
  daemonPermissionFlags,
  defaultDaemonDirs,
  defaultDaemonPermissionFlags,
  INSTALL_CLI_TASK,
  INSTALL_SERVICE_TASK,
  START_TASK,
  TEST_TASK,
} from "../../service/permissions.ts";
import { classifyCompileFailure, explainCompileFailure } from "../../scripts/compile.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("deno.json's tasks match service/permissions.ts", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  assert.equal(config.tasks.start, START_TASK);
  assert.equal(config.tasks.cli, CLI_TASK);
  assert.equal(config.tasks.test, TEST_TASK);
  assert.equal(config.tasks["install-cli"], INSTALL_CLI_TASK);
  assert.equal(config.tasks.compile, COMPILE_TASK);
  assert.equal(config.tasks["install-service"], INSTALL_SERVICE_TASK);
});

Deno.test("daemonPermissionFlags grants read and write on the two directories only", () => {
  const flags = daemonPermissionFlags({ socketDir: "/s/sockets/", stateDir: "/t/state" });
  assert.deepEqual(flags, [
    "--allow-read=/s/sockets,/t/state",
    "--allow-write=/s/sockets,/t/state",
    "--allow-net",
    "--deny-net=0.0.0.0/0,[::],[::1]",
    "--allow-env=HOME,XDG_CACHE_HOME,XDG_STATE_HOME",
    "--no-prompt",
  ]);
  for (const flag of flags) {
    assert.doesNotMatch(
      flag,
      /^(-A|--allow-all|--allow-run|--allow-ffi|--allow-sys|--allow-import)/,
    );
  }
});

Deno.test("daemonPermissionFlags rejects relative paths and paths a flag or task cannot carry", () => {
  assert.throws(() => daemonPermissionFlags({ socketDir: "s", stateDir: "/t" }), TypeError);
  assert.throws(() => daemonPermissionFlags({ socketDir: "/a,b", stateDir: "/t" }), TypeError);
  assert.throws(() => daemonPermissionFlags({ socketDir: "/s", stateDir: "/my state" }), TypeError);
});

Deno.test("defaultDaemonDirs follows XDG_CACHE_HOME and XDG_STATE_HOME like the daemon", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.deepEqual(defaultDaemonDirs(env({ HOME: "/home/me" })), {
    socketDir: "/home/me/.cache/dotfiles/sockets",
    stateDir: "/home/me/.local/state/dotfiles/daemon",
  });
  assert.deepEqual(
    defaultDaemonDirs(env({ HOME: "/home/me", XDG_CACHE_HOME: "/c", XDG_STATE_HOME: "/s" })),
    {
      socketDir: "/c/dotfiles/sockets",
      stateDir: "/s/dotfiles/daemon",
    },
  );
  assert.deepEqual(defaultDaemonPermissionFlags(() => undefined), [
    "--allow-net",
    "--deny-net=0.0.0.0/0,[::],[::1]",
    "--allow-env=HOME,XDG_CACHE_HOME,XDG_STATE_HOME",
    "--no-prompt",
  ]);
});

Deno.test("service/permissions.ts prints the flags the start task substitutes", async () => {
  const env = { HOME: "/home/someone", XDG_CACHE_HOME: "/var/cache/someone" };
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-env=${DAEMON_ENV_VARS.join(",")}`,
      "service/permissions.ts",
    ],
    cwd: ROOT,
    env,
    clearEnv: true,
    stderr: "null",
  }).output();
  assert.equal(code, 0);
  const expected = daemonPermissionFlags(
    defaultDaemonDirs((name) => env[name as keyof typeof env]),
  );
  assert.equal(new TextDecoder().decode(stdout).trim(), expected.join(" "));
});

Deno.test("classifyCompileFailure recognises a denort download failure only", () => {
  const stderr = "error: Writing deno compile executable to temporary file\n\nCaused by:\n" +
    "    0: Setting up base binary.\n    1: error sending request for url " +
    "(https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip): client error (Connect)\n";
  assert.equal(classifyCompileFailure(stderr), "denort-download");
  assert.equal(classifyCompileFailure("error: TS2304 [ERROR]: Cannot find name 'x'"), "other");
  const line = explainCompileFailure("2.9.6", "x86_64-unknown-linux-gnu");
  assert.doesNotMatch(line, /\n/);
  assert.match(line, /denort-x86_64-unknown-linux-gnu\.zip/);
  assert.match(line, /DENORT_BIN=/);
});
