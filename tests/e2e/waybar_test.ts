/**
 * The real bar: sway (headless, as an unprivileged user), waybar with the
 * README's own module config and CSS, the `dotfiles-daemon` command that
 * `deno task install-cli` writes, and a daemon, driven through every stage a
 * user meets. What waybar drew is read back from grim screenshots (the
 * module's background colour per class), its stderr is checked for markup
 * warnings and the process list for orphaned `watch` processes.
 *
 * Needs `sway`, `waybar` and `grim` (Debian: `apt-get install sway waybar
 * grim`); skipped with one line when they are missing. As root it runs the
 * bar as the user `dotfiles-e2e` (created with `useradd` when missing),
 * because sway refuses to run as root. `E2E_SCREENSHOT=path.png` also saves
 * a screenshot of the bar (the README's `docs/waybar.png`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { DaemonPublisher } from "../../publisher/mod.ts";
import { type Message, MessageBuilder } from "../../protocol/mod.ts";
import { cliShim } from "../../scripts/install_cli.ts";

const REPO = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const USER = "dotfiles-e2e";
const WIDTH = 800;
const BAR = 30;

/** The README's colours, by module and class (see its CSS block). */
const COLOURS = {
  running: "5e81ac",
  completed: "a3be8c",
  failed: "bf616a",
  idle: "3b4252",
  disconnected: "4c566a",
  theme: "b48ead",
} as const;
type Shown = keyof typeof COLOURS;

function which(command: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    try {
      const info = Deno.statSync(`${dir}/${command}`);
      if (info.isFile) return `${dir}/${command}`;
    } catch {
      // Not in this directory.
    }
  }
  return null;
}

function uid(): number {
  // Deno asks for --allow-all to read /proc/self: ask id(1).
  const out = new Deno.Command("id", { args: ["-u"], stdout: "piped" }).outputSync();
  return Number(new TextDecoder().decode(out.stdout).trim());
}

function skipReason(): string | null {
  if (Deno.build.os !== "linux") return "needs Linux";
  const missing = ["sway", "swaymsg", "waybar", "grim"].filter((c) => which(c) === null);
  if (missing.length > 0) {
    return `${missing.join(", ")} not installed (apt-get install sway waybar grim)`;
  }
  if (uid() === 0 && which("setpriv") === null) return "needs setpriv to drop root";
  return null;
}

/** The README's waybar module config (a JSONC fragment), its CSS and its eww block. */
function readmeBarConfig(readme: string): { modules: string; css: string; eww: string } {
  const section = readme.slice(readme.indexOf("### Status bars"));
  const block = (lang: string): string => {
    const match = new RegExp("```" + lang + "\\n([^]*?)\\n```").exec(section);
    if (match === null) throw new Error(`No ${lang} block in the README's Status bars section`);
    return match[1]!;
  };
  return { modules: block("jsonc"), css: block("css"), eww: block("lisp") };
}

async function run(command: string, args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(command, { args }).output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, `${command} ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
  return text;
}

/** Reads a binary PPM (what `grim -t ppm` writes) into RGB bytes. */
function parsePpm(bytes: Uint8Array): { width: number; height: number; rgb: Uint8Array } {
  const header = new TextDecoder().decode(bytes.subarray(0, 64));
  const match = /^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(header);
  if (match === null) throw new Error("grim did not write a PPM");
  return {
    width: Number(match[1]),
    height: Number(match[2]),
    rgb: bytes.subarray(match[0].length),
  };
}

interface Bar {
  /** Pixels of each README colour in the bar's strip. */
  counts: Record<Shown, number>;
  /** Whether the row just below the bar is still bar-coloured (the bar grew). */
  grew: boolean;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test({
  name: `waybar with the README's config shows every stage${
    skipReason() === null ? "" : ` (skipped: ${skipReason()})`
  }`,
  ignore: skipReason() !== null,
  async fn(): Promise<void> {
    const root = await Deno.makeTempDir({ prefix: "dotfiles-e2e-" });
    await Deno.chmod(root, 0o755);
    const asRoot = uid() === 0;
    const children: Deno.ChildProcess[] = [];
    const logs: Promise<string>[] = [];
    let ids = { uid: uid(), gid: -1 };
    /** Every `watch` pid seen, to end what a failing run would leave. */
    const seen = new Set<number>();
    try {
      // The user, and what it may run: a copy of deno (root's home is
      // closed to it), Deno's npm cache, the shim install-cli writes.
      let deno = Deno.execPath();
      let denoDir: string | undefined = Deno.env.get("DENO_DIR");
      let clone = REPO;
      if (asRoot) {
        const passwd = await Deno.readTextFile("/etc/passwd");
        if (!passwd.split("\n").some((l) => l.startsWith(`${USER}:`))) {
          await run("useradd", [
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            USER,
          ]);
        }
        const line = (await Deno.readTextFile("/etc/passwd")).split("\n")
          .find((l) => l.startsWith(`${USER}:`))!;
        const [, , u, g] = line.split(":");
        ids = { uid: Number(u), gid: Number(g) };
        await Deno.mkdir(`${root}/bin`);
        deno = `${root}/bin/deno`;
        await Deno.copyFile(Deno.execPath(), deno);
        await Deno.chmod(deno, 0o755);
        const real = denoDir ??
          JSON.parse(await run(Deno.execPath(), ["info", "--json"])).denoDir as string;
        denoDir = `${root}/deno`;
        await Deno.mkdir(denoDir);
        await run("cp", ["-r", `${real}/npm`, `${denoDir}/npm`]);
        // The clone may sit under a folder the user cannot enter (a 0700
        // temp dir, root's home): the bar runs a copy of its sources.
        clone = `${root}/clone`;
        await run("cp", ["-r", REPO, clone]);
        await Deno.remove(`${clone}/.git`, { recursive: true }).catch(() => {});
      }
      const home = `${root}/home`;
      const runtime = `${root}/run`;
      const bin = `${root}/bin`;
      await Deno.mkdir(`${home}/.config/waybar`, { recursive: true });
      await Deno.mkdir(bin, { recursive: true });
      await Deno.mkdir(runtime, { mode: 0o700 });
      await Deno.writeTextFile(`${bin}/dotfiles-daemon`, cliShim({ deno, clone }));
      await Deno.chmod(`${bin}/dotfiles-daemon`, 0o755);

      const readme = readmeBarConfig(await Deno.readTextFile(`${REPO}/README.md`));
      const moduleNames = [...readme.modules.matchAll(/^"(custom\/[^"]+)"\s*:/gm)].map((m) => m[1]);
      assert.deepEqual(moduleNames, ["custom/wallpaper", "custom/theme"]);
      await Deno.writeTextFile(
        `${home}/.config/waybar/config`,
        `{\n"layer": "top", "position": "top", "height": ${BAR},\n"modules-left": ${
          JSON.stringify(moduleNames)
        },\n${readme.modules}\n}\n`,
      );
      await Deno.writeTextFile(
        `${home}/.config/waybar/style.css`,
        `* { font-family: "DejaVu Sans"; font-size: 13px; min-height: 0; }\n` +
          `window#waybar { background-color: #2e3440; color: #eceff4; }\n${readme.css}\n`,
      );
      await Deno.writeTextFile(
        `${root}/sway.conf`,
        `output HEADLESS-1 resolution ${WIDTH}x200 bg #101010 solid_color\n`,
      );
      if (asRoot) await run("chown", ["-R", `${ids.uid}:${ids.gid}`, root]);

      const env: Record<string, string> = {
        HOME: home,
        XDG_RUNTIME_DIR: runtime,
        XDG_CACHE_HOME: `${home}/.cache`,
        XDG_STATE_HOME: `${home}/.local/state`,
        XDG_CONFIG_HOME: `${home}/.config`,
        PATH: `${bin}:/usr/local/bin:/usr/bin:/bin`,
        WAYLAND_DISPLAY: "wayland-1",
        NO_COLOR: "1",
        ...(denoDir === undefined ? {} : { DENO_DIR: denoDir }),
      };
      const socketDir = `${home}/.cache/dotfiles/sockets`;
      const drop = asRoot
        ? ["setpriv", `--reuid=${ids.uid}`, `--regid=${ids.gid}`, "--clear-groups", "--"]
        : [];
      const spawn = (
        args: string[],
        extra: Record<string, string> = {},
        onLine?: (line: string) => void,
      ): Deno.ChildProcess => {
        const [command, ...rest] = [...drop, ...args];
        const child = new Deno.Command(command!, {
          args: rest,
          clearEnv: true,
          env: { ...env, ...extra },
          stdin: "null",
          stdout: onLine === undefined ? "null" : "piped",
          stderr: "piped",
        }).spawn();
        children.push(child);
        logs.push(new Response(child.stderr).text());
        if (onLine !== undefined) {
          logs.push((async () => {
            let rest = "";
            for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
              const parts = (rest + chunk).split("\n");
              rest = parts.pop()!;
              parts.forEach(onLine);
            }
            return "";
          })());
        }
        return child;
      };
      const stop = async (child: Deno.ChildProcess, signal: Deno.Signal = "SIGTERM") => {
        try {
          child.kill(signal);
        } catch {
          // Already gone.
        }
        await child.status;
        children.splice(children.indexOf(child), 1);
      };

      // sway, headless.
      const sway = spawn(["sway", "-c", `${root}/sway.conf`], {
        WLR_BACKENDS: "headless",
        WLR_LIBINPUT_NO_DEVICES: "1",
        WLR_RENDERER: "pixman",
        WAYLAND_DISPLAY: "",
      });
      // sway makes wayland-1 before its output exists. A waybar that
      // connects in between counts the output twice (GTK lists it, then
      // announces it) and runs every module twice, as on a slow first
      // start in CI: wait for sway's IPC to report the output as active.
      const ipc = `${runtime}/sway-ipc.${ids.uid}.${sway.pid}.sock`;
      for (let i = 0;; i++) {
        const [command, ...args] = [...drop, "swaymsg", "-s", ipc, "-r", "-t", "get_outputs"];
        const out = await new Deno.Command(command!, {
          args,
          clearEnv: true,
          env,
          stdout: "piped",
          stderr: "null",
        }).output();
        const outputs = out.code === 0
          ? JSON.parse(new TextDecoder().decode(out.stdout)) as {
            name: string;
            active: boolean;
            current_mode?: { width: number };
          }[]
          : [];
        if (
          outputs.some((o) =>
            o.name === "HEADLESS-1" && o.active && o.current_mode?.width === WIDTH
          )
        ) break;
        if (i > 200) {
          throw new Error(`sway's output HEADLESS-1 was not active within 10 s (${ipc})`);
        }
        await sleep(50);
      }

      const shoot = async (file?: string): Promise<Bar> => {
        const args = [...drop, "grim", "-g", `0,0 ${WIDTH}x${BAR + 2}`, "-t", file ? "png" : "ppm"];
        const [command, ...rest] = args;
        const out = await new Deno.Command(command!, {
          args: [...rest, file ?? "-"],
          clearEnv: true,
          env,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        if (file) return { counts: {} as Record<Shown, number>, grew: false };
        const { width, rgb } = parsePpm(out.stdout);
        const counts = Object.fromEntries(Object.keys(COLOURS).map((k) => [k, 0])) as Record<
          Shown,
          number
        >;
        const byHex = new Map<string, Shown>(
          Object.entries(COLOURS).map(([k, v]) => [v, k as Shown]),
        );
        let grew = 0;
        for (let y = 0; y < BAR + 2; y++) {
          for (let x = 0; x < width; x++) {
            const o = (y * width + x) * 3;
            const hex = [rgb[o]!, rgb[o + 1]!, rgb[o + 2]!]
              .map((c) => c.toString(16).padStart(2, "0")).join("");
            if (y >= BAR) {
              if (hex === "2e3440") grew++;
              continue;
            }
            const shown = byHex.get(hex);
            if (shown !== undefined) counts[shown]++;
          }
        }
        return { counts, grew: grew > WIDTH / 2 };
      };
      const wallpaperShown = (bar: Bar): Shown | null => {
        const classes = ["running", "completed", "failed", "idle", "disconnected"] as const;
        const best = classes.reduce((a, b) => (bar.counts[a] >= bar.counts[b] ? a : b));
        return bar.counts[best] > 300 ? best : null;
      };
      const stages: string[] = [];
      const latencies: number[] = [];
      /** Waits for the bar to show `want` on the wallpaper module; returns ms. */
      /** `stacked`: waybar drew more than one bar (see stage 9), so the rows below are bar too. */
      const expect = async (
        stage: string,
        want: Shown | null,
        since = performance.now(),
        stacked = false,
      ) => {
        let bar: Bar | null = null;
        for (let i = 0; i < 400; i++) {
          bar = await shoot();
          if (wallpaperShown(bar) === want) break;
          await sleep(10);
        }
        const ms = performance.now() - since;
        assert.equal(wallpaperShown(bar!), want, `${stage}: ${JSON.stringify(bar)}`);
        if (!stacked) {
          assert.equal(bar!.grew, false, `${stage}: the bar grew taller than ${BAR} px`);
        }
        stages.push(
          `${stage}: ${
            want === null ? "hidden (empty text)" : `${want} (${bar!.counts[want]} px)`
          }, theme ${bar!.counts.theme} px; watch printed ${lastLine}`,
        );
        return { ms, bar: bar! };
      };

      /** The `watch` processes of this run (its user, this clone), with RSS in KiB. */
      const watchers = async (): Promise<{ pid: number; ppid: number; rss: number }[]> => {
        const ps = await run("ps", ["-eo", "pid=,ppid=,uid=,rss=,args="]);
        return ps.split("\n").map((line) => line.trim().split(/\s+/)).filter((f) =>
          Number(f[2]) === ids.uid && Number(f[0]) !== recorder.pid &&
          f.slice(4).join(" ").includes(`${clone}/main.ts watch `)
        ).map((f) => {
          seen.add(Number(f[0]));
          return { pid: Number(f[0]), ppid: Number(f[1]), rss: Number(f[3]) };
        });
      };
      const untilWatchers = async (n: number, exclude: number[] = []) => {
        const start = performance.now();
        for (;;) {
          const list = await watchers();
          const old = list.filter((w) => exclude.includes(w.pid));
          if (list.length === n && old.length === 0) return { list, ms: performance.now() - start };
          if (performance.now() - start > 5000) {
            throw new Error(`expected ${n} watch processes, found ${JSON.stringify(list)}`);
          }
          await sleep(20);
        }
      };

      /** Waits until none of `old` runs and whole bars' worth (2 per bar) of new watchers do. */
      const untilReplaced = async (old: number[]) => {
        const start = performance.now();
        for (;;) {
          const list = await watchers();
          const fresh = list.filter((w) => !old.includes(w.pid));
          if (fresh.length === list.length && list.length >= 2 && list.length % 2 === 0) {
            const ms = performance.now() - start;
            await sleep(300); // A duplicate bar starts its modules a moment later.
            const again = await watchers();
            if (again.length === list.length) return { list, ms };
            continue;
          }
          if (performance.now() - start > 5000) {
            throw new Error(
              `expected the watch processes ${old.join(", ")} replaced, found ${
                JSON.stringify(list)
              }`,
            );
          }
          await sleep(20);
        }
      };
      /** Waits for the theme module to be as wide as `want` px again. */
      const untilTheme = async (want: number, when: string) => {
        let theme = 0;
        for (let i = 0; i < 300 && theme !== want; i++) {
          await sleep(10);
          theme = (await shoot()).counts.theme;
        }
        assert.equal(theme, want, `${when} the theme module shows another text`);
      };

      // What the wallpaper module's command prints, recorded beside the bar.
      let lastLine = "";
      const recorder = spawn(
        ["dotfiles-daemon", "watch", "wallpaper", "--format", "waybar"],
        {},
        (line) => (lastLine = line),
      );

      // 1. The daemon is down: waybar starts its modules anyway.
      let waybar = spawn(["waybar"]);
      await expect("daemon down", "disconnected");
      // One bar: each module's command runs once.
      assert.ok((await untilWatchers(2)).list.every((w) => w.ppid === waybar.pid));

      // 2. The daemon comes up: the watchers notice without a retry timer.
      let daemon = spawn(["dotfiles-daemon", "--log-level", "warn"]);
      // Idle with nothing to show: empty text, which waybar hides.
      await expect("daemon started, idle", null);
      const theme0 = (await shoot()).counts.theme;
      assert.ok(theme0 > 100, `the theme module is not drawn (${theme0} px)`);

      await using publisher = new DaemonPublisher({ socketDir, onWarning: () => {} });
      const publish = async (message: Message): Promise<number> => {
        const t0 = performance.now();
        assert.equal(await publisher.publish(message), true);
        return t0;
      };
      const ev = { eventType: "wallpaper" };

      // 3. Started, with markup and a line break in the name.
      let t0 = await publish(MessageBuilder.operationStarted({
        ...ev,
        operationId: "w1",
        operationName: "copy A & B <tmp>\nsecond line",
      }));
      latencies.push((await expect("started", "running", t0)).ms);
      // 4. Progress.
      await publish(MessageBuilder.operationProgress({
        ...ev,
        operationId: "w1",
        stepId: "resize",
        stepProgress: 50,
        overallProgress: 40,
      }));
      await sleep(200);
      await expect("progress 40%", "running");
      const screenshot = Deno.env.get("E2E_SCREENSHOT");
      if (screenshot !== undefined) {
        await shoot(`${root}/bar.png`);
        await Deno.copyFile(`${root}/bar.png`, screenshot);
      }
      // 5. Completed.
      t0 = await publish(MessageBuilder.operationCompleted({
        ...ev,
        operationId: "w1",
        durationSeconds: 2.5,
      }));
      latencies.push((await expect("completed", "completed", t0)).ms);
      // 6. Failed, named as markup.
      await publish(MessageBuilder.operationStarted({
        ...ev,
        operationId: "w2",
        operationName: "<b>BIG</b>",
      }));
      await expect("second started", "running");
      t0 = await publish(MessageBuilder.operationFailed({
        ...ev,
        operationId: "w2",
        errorCode: "E_IO",
        errorMessage: "disk <full> & more",
      }));
      latencies.push((await expect("failed", "failed", t0)).ms);
      // 7. State: the theme module shows the chosen key's field, not JSON.
      await publish(MessageBuilder.stateUpdate({
        eventType: "theme",
        stateKey: "current",
        stateValue: { name: "nord", dark: true },
      }));
      let theme1 = theme0;
      for (let i = 0; i < 200 && theme1 === theme0; i++) {
        await sleep(10);
        theme1 = (await shoot()).counts.theme;
      }
      // "nord" is narrower than "no theme", and much narrower than the JSON.
      assert.ok(theme1 < theme0, `theme module did not change (${theme0} -> ${theme1} px)`);
      await publish(MessageBuilder.stateUpdate({
        eventType: "theme",
        stateKey: "other",
        stateValue: { value: 1 },
      }));
      await sleep(300);
      assert.equal((await shoot()).counts.theme, theme1, "another key changed the theme text");
      stages.push(`state: theme module ${theme0} px ("no theme") -> ${theme1} px ("nord")`);
      const rssFirst = (await watchers()).map((w) => w.rss);

      // 8. The daemon stops and comes back: the same line as before.
      await stop(daemon);
      await expect("daemon stopped", "disconnected");
      daemon = spawn(["dotfiles-daemon", "--log-level", "warn"]);
      await expect("daemon restarted", "failed");

      // 9. waybar reloads (SIGUSR2): the old watchers end, new ones show
      // the same line. waybar 0.9.17's reload may draw its bar twice, each
      // with its own modules (its bug, Alexays/Waybar#1658 and #3344: seen
      // once in CI): then the second bar stacks below the first.
      const before = (await untilWatchers(2)).list;
      assert.ok(before.every((w) => w.ppid === waybar.pid), "watch is not waybar's own child");
      waybar.kill("SIGUSR2");
      const reload = await untilReplaced(before.map((w) => w.pid));
      const bars = reload.list.length / 2;
      if (bars !== 1) stages.push(`waybar reloaded with ${bars} bars (its own duplicate)`);
      await expect("waybar reloaded", "failed", performance.now(), bars > 1);
      await untilTheme(theme1, "after the reload");

      // 10. waybar restarts (a new process, as a login or a crash does): the
      // watchers of the old one end, one bar's worth of new ones show the
      // same line.
      const reloaded = reload.list.map((w) => w.pid);
      await stop(waybar);
      waybar = spawn(["waybar"]);
      const restart = await untilWatchers(2, reloaded);
      assert.ok(
        restart.list.every((w) => w.ppid === waybar.pid),
        "watch is not waybar's own child",
      );
      await expect("waybar restarted", "failed");
      await untilTheme(theme1, "after the restart");
      await sleep(1000); // Let the new watchers settle before reading their RSS.
      const rss = (await watchers()).map((w) => w.rss);

      // 11. waybar stops: no watch is left behind.
      await stop(waybar);
      await stop(recorder);
      const gone = await untilWatchers(0);
      await stop(daemon);
      await stop(sway);

      const stderr = (await Promise.all(logs)).join("\n");
      assert.doesNotMatch(stderr, /markup|Failed to set|Pango-WARNING/i);
      // deno-lint-ignore no-console
      console.log(
        [
          ...stages,
          `publish-to-pixels ms (started, completed, failed): ${
            latencies.map((ms) => ms.toFixed(0)).join(", ")
          }`,
          `watch RSS KiB: ${rss.join(", ")} (first start, cold Deno cache: ${rssFirst.join(", ")})`,
          `old watchers gone after reload in ${reload.ms.toFixed(0)} ms, after restart in ${
            restart.ms.toFixed(0)
          } ms, after stop in ${gone.ms.toFixed(0)} ms`,
        ].join("\n"),
      );
    } finally {
      // A failing run: stop waybar with SIGTERM first (it then signals its
      // modules), then whatever `watch` is left of this run's, by pid.
      for (const child of children) {
        try {
          child.kill("SIGTERM");
        } catch {
          // Already gone.
        }
      }
      await sleep(500);
      for (const pid of seen) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      for (const child of [...children].reverse()) {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
        await child.status;
      }
      await Promise.allSettled(logs);
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
