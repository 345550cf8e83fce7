/**
 * `examples/own-project/` is what a user's own project looks like: outside
 * this repository's workspace, importing `jsr:@dotfiles/daemon` with
 * `"links"` pointing at the clone. The test copies it to a temp dir outside
 * the clone, points `links` at the clone, and runs its task against a live
 * daemon, and in place (where `"../.."` is the clone).
 */

import assert from "node:assert/strict";
import { startDaemon, withTmpDir } from "../_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const EXAMPLE = `${ROOT}/examples/own-project`;

async function runTask(cwd: string, args: string[]): Promise<{ code: number; out: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "start", ...args],
    cwd,
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout) + dec.decode(stderr) };
}

Deno.test('a project outside the clone uses the library through "links"', async () => {
  await using daemon = await startDaemon();
  await using project = await withTmpDir("dotfiles-own-project-");
  assert.ok(!project.path.startsWith(`${ROOT}/`));
  const config = JSON.parse(await Deno.readTextFile(`${EXAMPLE}/deno.json`));
  assert.deepEqual(config.links, ["../.."]);
  assert.equal(config.imports["@dotfiles/daemon"], "jsr:@dotfiles/daemon@^0.1.0");
  config.links = [ROOT];
  await Deno.writeTextFile(`${project.path}/deno.json`, JSON.stringify(config, null, 2));
  await Deno.copyFile(`${EXAMPLE}/main.ts`, `${project.path}/main.ts`);

  const { code, out } = await runTask(project.path, [daemon.dir]);
  assert.equal(code, 0, out);
  assert.equal(
    out,
    'own project: published theme current={"name":"nord","dark":true}, ' +
      'the daemon now says {"name":"nord","dark":true}\n',
  );
  const counters = daemon.daemon.status().counters as Record<string, number>;
  assert.equal(counters.messages_in, 1);
  assert.equal(counters.queries, 1);
});

Deno.test("the example also runs in place, outside the workspace, and exits 0 with no daemon", async () => {
  await using empty = await withTmpDir();
  const { code, out } = await runTask(EXAMPLE, [empty.path]);
  assert.equal(code, 0, out);
  assert.match(out, /is not a member of the workspace/);
  assert.match(out, /own project: no daemon answers/);
});
