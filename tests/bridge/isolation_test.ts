/**
 * Only the bridge loads the broker clients: the module graphs of the
 * package's other entry points hold no `npm:@nats-io/*` and no `npm:mqtt`.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

async function npmModules(entry: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", `${ROOT}${entry}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { kind?: string; specifier: string }[];
  };
  return info.modules.filter((m) => m.kind === "npm").map((m) => m.specifier);
}

const BROKER_CLIENT = /^npm:\/(@nats-io\/|mqtt@)/;

for (
  const entry of [
    "mod.ts",
    "protocol/mod.ts",
    "publisher/mod.ts",
    "monitor/mod.ts",
    "daemon/mod.ts",
    "cli/serve.ts",
  ]
) {
  Deno.test(`${entry} pulls in no NATS or MQTT client`, async () => {
    const npm = await npmModules(entry);
    assert.deepEqual(npm.filter((s) => BROKER_CLIENT.test(s)), [], `${entry}: ${npm.join(", ")}`);
  });
}

Deno.test("bridge/mod.ts is where the NATS and MQTT clients come in", async () => {
  const npm = await npmModules("bridge/mod.ts");
  for (const name of ["@nats-io/transport-node", "@nats-io/jetstream", "@nats-io/kv", "mqtt"]) {
    assert.ok(npm.some((s) => s.startsWith(`npm:/${name}@`)), `${name} in ${npm.join(", ")}`);
  }
});
