/**
 * The bridge's systemd user unit: its ExecStart is exactly the one built
 * from the bridge's permission flags, and `systemd-analyze verify` accepts
 * it where systemd-analyze is installed.
 */

import assert from "node:assert/strict";
import { bridgeExecStart } from "../../service/bridge_unit.ts";
import { bridgePermissionFlags } from "../../service/permissions.ts";
import { withTmpDir } from "../_helpers.ts";

const UNIT = new URL("../../service/dotfiles-bridge.service", import.meta.url).pathname;

function findSystemdAnalyze(): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    try {
      if (Deno.statSync(`${dir}/systemd-analyze`).isFile) return `${dir}/systemd-analyze`;
    } catch {
      // not here
    }
  }
  return undefined;
}

const systemdAnalyze = findSystemdAnalyze();

Deno.test("the bridge unit's ExecStart comes from bridgePermissionFlags", async () => {
  const text = await Deno.readTextFile(UNIT);
  const lines = text.split("\n").filter((l) => l.startsWith("ExecStart="));
  assert.deepEqual(lines, [`ExecStart=${bridgeExecStart()}`]);
  const flags = bridgePermissionFlags({ socketDir: "/h/s", stateDir: "/h/b", broker: "n:1" });
  assert.equal(flags.length, 6);
  for (
    const flag of [
      "--allow-net=",
      "--allow-read=",
      "--allow-write=",
      "--allow-env=",
      "--allow-sys=hostname",
      "--no-prompt",
    ]
  ) {
    assert.ok(lines[0]!.includes(flag), flag);
  }
  assert.ok(!lines[0]!.includes("--allow-run") && !lines[0]!.includes("--allow-ffi"));
  assert.match(text, /^RestartPreventExitStatus=2$/m);
});

Deno.test("bridgePermissionFlags refuses what a flag cannot hold", () => {
  assert.throws(
    () => bridgePermissionFlags({ socketDir: "s", stateDir: "/b", broker: "n:1" }),
    TypeError,
  );
  assert.throws(
    () => bridgePermissionFlags({ socketDir: "/s", stateDir: "/b", broker: "n,evil:1" }),
    /HOST:PORT/,
  );
  assert.ok(
    bridgePermissionFlags({ socketDir: "/s", stateDir: "/b", broker: "[::1]:4222" })[0]!
      .startsWith("--allow-net=[::1]:4222,"),
  );
});

Deno.test({
  name: "systemd-analyze verify accepts the bridge unit",
  ignore: systemdAnalyze === undefined,
  async fn(): Promise<void> {
    await using dir = await withTmpDir();
    await using runtime = await withTmpDir();
    const text = await Deno.readTextFile(UNIT);
    await Deno.writeTextFile(`${dir.path}/dotfiles-bridge.service`, text);
    const { code, stdout, stderr } = await new Deno.Command(systemdAnalyze!, {
      args: ["verify", "--user", `${dir.path}/dotfiles-bridge.service`],
      env: { XDG_RUNTIME_DIR: runtime.path, SYSTEMD_COLORS: "0", SYSTEMD_PAGER: "" },
      stdin: "null",
    }).output();
    const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert.equal(out.trim(), "");
    assert.equal(code, 0);
  },
});
