/**
 * polybar under Xvfb with the README's `custom/script` module (`tail =
 * true`, `jq` in the pipeline): what it draws is read back from `xwd`
 * screenshots (the module's background per state), and stopping polybar
 * must leave no `watch` or `jq` behind. Skipped with one line without
 * `polybar`, `Xvfb`, `xwd` or `jq` (Debian: `apt-get install polybar xvfb
 * x11-apps jq`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { DaemonPublisher } from "../../publisher/mod.ts";
import { MessageBuilder } from "../../protocol/mod.ts";
import { cliShim } from "../../scripts/install_cli.ts";
import { DaemonProcess } from "../cli/_cli.ts";

const REPO = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const WIDTH = 800;
const BAR = 30;

function which(command: string): boolean {
  return (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":").some((dir) => {
    try {
      return Deno.statSync(`${dir}/${command}`).isFile;
    } catch {
      return false;
    }
  });
}

function skipReason(): string | null {
  if (Deno.build.os !== "linux") return "needs Linux";
  const missing = ["polybar", "Xvfb", "xwd", "jq"].filter((c) => !which(c));
  return missing.length === 0
    ? null
    : `${missing.join(", ")} not installed (apt-get install polybar xvfb x11-apps jq)`;
}

/** Pixels per colour (`rrggbb`) in the top `rows` rows of an XWD dump (ZPixmap, LSB). */
function colours(xwd: Uint8Array, rows: number): Map<string, number> {
  const view = new DataView(xwd.buffer, xwd.byteOffset, xwd.byteLength);
  const field = (i: number): number => view.getUint32(i * 4, false);
  const [headerSize, width, bitsPerPixel, bytesPerLine, colourCount] = [
    field(0),
    field(4),
    field(11),
    field(12),
    field(19),
  ];
  assert.equal(field(7), 0, "expected an LSB-first dump");
  const step = bitsPerPixel / 8;
  const start = headerSize + colourCount * 12;
  const counts = new Map<string, number>();
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < width; x++) {
      const o = start + y * bytesPerLine + x * step;
      const hex = [xwd[o + 2]!, xwd[o + 1]!, xwd[o]!]
        .map((c) => c.toString(16).padStart(2, "0")).join("");
      counts.set(hex, (counts.get(hex) ?? 0) + 1);
    }
  }
  return counts;
}

Deno.test({
  name: `polybar with the README's module shows the states${
    skipReason() === null ? "" : ` (skipped: ${skipReason()})`
  }`,
  ignore: skipReason() !== null,
  async fn(): Promise<void> {
    const readme = await Deno.readTextFile(`${REPO}/README.md`);
    const module = /```ini\n(\[module\/wallpaper\][^]*?)\n```/.exec(readme)?.[1];
    assert.ok(module !== undefined, "no polybar module in the README");

    await using daemon = await DaemonProcess.start();
    const root = await Deno.makeTempDir({ prefix: "dotfiles-polybar-" });
    const children: Deno.ChildProcess[] = [];
    let xvfbOut: ReadableStream<Uint8Array> | undefined;
    let polybarPid: number | null = null;
    try {
      await Deno.mkdir(`${root}/cache/dotfiles`, { recursive: true });
      await Deno.symlink(daemon.socketDir, `${root}/cache/dotfiles/sockets`);
      await Deno.mkdir(`${root}/bin`);
      await Deno.writeTextFile(
        `${root}/bin/dotfiles-daemon`,
        cliShim({ deno: Deno.execPath(), clone: REPO }),
      );
      await Deno.chmod(`${root}/bin/dotfiles-daemon`, 0o755);
      await Deno.writeTextFile(
        `${root}/config.ini`,
        `[bar/top]\nwidth = 100%\nheight = ${BAR}\nbackground = #2e3440\nforeground = #eceff4\n` +
          `font-0 = DejaVu Sans:size=10;2\nmodules-left = wallpaper\n\n${module}\n`,
      );

      // Xvfb picks a free display and writes its number to stdout.
      const xvfb = new Deno.Command("Xvfb", {
        // -noreset: without it Xvfb resets when its last client leaves, and
        // a screenshot that ends before polybar connects made polybar fail
        // with "X connection error" (about 1 run in 10).
        args: [
          "-displayfd",
          "1",
          "-screen",
          "0",
          `${WIDTH}x100x24`,
          "-nolisten",
          "tcp",
          "-noreset",
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      }).spawn();
      children.push(xvfb);
      xvfbOut = xvfb.stdout;
      const reader = xvfb.stdout.getReader();
      const display = `:${new TextDecoder().decode((await reader.read()).value).trim()}`;
      reader.releaseLock();
      const env = {
        HOME: root,
        DISPLAY: display,
        PATH: `${root}/bin:${Deno.env.get("PATH")}`,
        XDG_CACHE_HOME: `${root}/cache`,
        ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      };
      const polybar = new Deno.Command("polybar", {
        args: ["-c", `${root}/config.ini`, "top"],
        clearEnv: true,
        env,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      children.push(polybar);
      polybarPid = polybar.pid;
      const log = new Response(polybar.stderr).text();

      const shoot = async (): Promise<Map<string, number>> => {
        const out = await new Deno.Command("xwd", {
          args: ["-root", "-silent", "-display", display],
          stdout: "piped",
          stderr: "null",
        }).output();
        return colours(out.stdout, BAR);
      };
      const expect = async (stage: string, bg: string): Promise<number> => {
        const t0 = performance.now();
        let px = 0;
        let seen = new Map<string, number>();
        for (let i = 0; i < 500 && px < 300; i++) {
          seen = await shoot();
          px = seen.get(bg) ?? 0;
          if (px < 300) await new Promise((r) => setTimeout(r, 20));
        }
        const shown = [...seen].sort((a, b) => b[1] - a[1]).slice(0, 3)
          .map(([hex, n]) => `#${hex} ${n} px`).join(", ");
        if (px < 300) {
          // Say why: polybar may have exited (its stderr says why).
          let timer: ReturnType<typeof setTimeout> | undefined;
          const status = await Promise.race([
            polybar.status,
            new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 200)),
          ]);
          clearTimeout(timer);
          const why = status === null
            ? "polybar is running"
            : `polybar exited with code ${status.code}: ${(await log).trim()}`;
          assert.fail(`${stage}: polybar does not show #${bg} (it shows ${shown}; ${why})`);
        }
        return performance.now() - t0;
      };

      await using publisher = new DaemonPublisher({
        socketDir: daemon.socketDir,
        onWarning: () => {},
      });
      const ev = { eventType: "wallpaper", operationId: "p1" };
      await publisher.publish(
        MessageBuilder.operationStarted({ ...ev, operationName: "copy A & B <tmp>" }),
      );
      await expect("started", "5e81ac");
      await publisher.publish(
        MessageBuilder.operationFailed({ ...ev, errorCode: "E", errorMessage: "x" }),
      );
      await expect("failed", "bf616a");
      await daemon.kill();
      await expect("daemon stopped", "4c566a");

      // The script's process group: polybar's child and everything under it.
      const ps = async (): Promise<string[][]> =>
        new TextDecoder().decode(
          (await new Deno.Command("ps", {
            args: ["-eo", "pid=,ppid=,pgid=,args="],
            stdout: "piped",
          })
            .output()).stdout,
        ).split("\n").map((l) => l.trim().split(/\s+/)).filter((f) => f.length > 3);
      const script = (await ps()).find((f) => Number(f[1]) === polybar.pid);
      assert.ok(script !== undefined, "polybar has no script process");
      const group = script[2];
      assert.ok((await ps()).some((f) => f[2] === group && f.includes("watch")));
      polybar.kill("SIGTERM");
      await polybar.status;
      children.splice(children.indexOf(polybar), 1);
      polybarPid = null;
      let left: string[][] = [];
      for (let i = 0; i < 100; i++) {
        left = (await ps()).filter((f) => f[2] === group);
        if (left.length === 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(left.map((f) => f.slice(3).join(" ")), [], "left behind by polybar");
      assert.doesNotMatch(await log, /\|error:/);
    } finally {
      if (polybarPid !== null) {
        // Stop polybar the way that ends its script's process group too,
        // so a failing run leaves no watch behind (SIGKILL would).
        try {
          Deno.kill(polybarPid, "SIGTERM");
        } catch {
          // Already gone.
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      for (const child of children.reverse()) {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
        await child.status;
      }
      await xvfbOut?.cancel().catch(() => {});
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
