/**
 * `watch --format pretty` in a terminal that reports 0 columns and 0 rows
 * (some terminals, serial consoles, `script` before a resize): it draws for
 * 80×24 instead of one character per line, or nothing at all.
 */

import assert from "node:assert/strict";
import { PrettyRenderer, terminalHeight, terminalWidth } from "../../cli/_render_pretty.ts";
import { DaemonPublisher } from "../../publisher/mod.ts";
import { MessageBuilder } from "../../protocol/mod.ts";
import { CLI_PERMISSION_FLAGS } from "../../service/permissions.ts";
import { startDaemon } from "../_helpers.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const hasScript = new Deno.Command("sh", { args: ["-c", "command -v script"], stdout: "null" })
  .outputSync().success;

/** The bar line, whole: one character per line would not match. */
const BAR = /\[demo\] copy files +[█░]{20} +40% copy/;

// deno-lint-ignore no-control-regex
const strip = (text: string) => text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");

function denoDir(): Record<string, string> {
  const dir = Deno.env.get("DENO_DIR");
  const home = Deno.env.get("HOME");
  return { ...(dir ? { DENO_DIR: dir } : {}), ...(home ? { HOME: home } : {}) };
}

Deno.test("terminalWidth and terminalHeight fall back to 80×24 when the terminal reports 0", () => {
  assert.equal(terminalWidth(0), 80);
  assert.equal(terminalWidth(Number.NaN), 80);
  assert.equal(terminalWidth(undefined), 80);
  assert.equal(terminalWidth(132), 132);
  assert.equal(terminalHeight(0), 24);
  assert.equal(terminalHeight(50), 50);
  const r = new PrettyRenderer();
  r.apply(MessageBuilder.operationStarted({
    eventType: "demo",
    operationId: "o",
    operationName: "a long enough operation name",
  }));
  assert.equal(r.frame({ now: Date.now(), width: 0 }), r.frame({ now: Date.now(), width: 80 }));
  assert.equal(r.frame({ now: Date.now(), width: 0 }).split("\n").length, 1);
});

Deno.test("watch draws its bar on one line in a 0×0 terminal", {
  ignore: !hasScript,
}, async () => {
  await using daemon = await startDaemon();
  const watch = [Deno.execPath(), "run", ...CLI_PERMISSION_FLAGS, MAIN, "watch", "demo"]
    .concat(["--format", "pretty", "--socket-dir", daemon.dir]).map((a) => `'${a}'`).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qefc", `stty cols 0 rows 0; exec ${watch}`, "/dev/null"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
    // A colour terminal: no NO_COLOR from the test's own environment.
    env: { TERM: "xterm", PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...denoDir() },
    clearEnv: true,
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  await using publisher = new DaemonPublisher({ socketDir: daemon.dir });
  let seen = "";
  let pending: Promise<ReadableStreamReadResult<string>> | undefined;
  const deadline = Date.now() + 15_000;
  // Publish until the watcher has subscribed and drawn the bar.
  while (!BAR.test(strip(seen)) && Date.now() < deadline) {
    await publisher.publish(MessageBuilder.operationProgress({
      eventType: "demo",
      operationId: "o1",
      stepId: "copy",
      stepProgress: 40,
      overallProgress: 40,
      stepName: "copy",
    }));
    await publisher.publish(MessageBuilder.operationStarted({
      eventType: "demo",
      operationId: "o1",
      operationName: "copy files",
    }));
    pending ??= reader.read();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const next = await Promise.race([
      pending,
      new Promise<"later">((resolve) => timer = setTimeout(() => resolve("later"), 200)),
    ]).finally(() => clearTimeout(timer));
    if (next === "later") continue;
    pending = undefined;
    if (next.done) break;
    seen += next.value;
  }
  child.kill("SIGTERM");
  await child.stdin.close().catch(() => {});
  await reader.cancel().catch(() => {});
  await child.status;
  const plain = strip(seen);
  assert.match(plain, BAR, JSON.stringify(plain.slice(-400)));
});
