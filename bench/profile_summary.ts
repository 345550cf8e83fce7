/**
 * Summarises a V8 `.cpuprofile` (from `deno run --cpu-prof`): self time and
 * total (inclusive) time per function, as a share of the sampled time.
 *
 * ```sh
 * deno run --allow-read bench/profile_summary.ts /tmp/prof/*.cpuprofile [--top 30] [--filter daemon/]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { top: { type: "string", default: "30" }, filter: { type: "string" } },
});

function label(frame: CallFrame, root: string): string {
  const file = frame.url.replace(/^file:\/\//, "").replace(root, "") || "(native)";
  return `${file}:${frame.lineNumber + 1} ${frame.functionName || "(anonymous)"}`;
}

const root = new URL("..", import.meta.url).pathname;
for (const path of positionals) {
  const profile: Profile = JSON.parse(await Deno.readTextFile(path));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let sum = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    sum += dt;
    const node = byId.get(id)!;
    const own = label(node.callFrame, root);
    self.set(own, (self.get(own) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur)!.callFrame, root);
      if (seen.has(l)) continue;
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + dt);
    }
  });
  const top = Number(values.top);
  const filter = values.filter;
  const show = (title: string, m: Map<string, number>) => {
    // deno-lint-ignore no-console
    console.log(`\n${title} (${path}, ${(sum / 1e6).toFixed(2)} s sampled)`);
    [...m].filter(([l]) => !filter || l.includes(filter)).sort((a, b) => b[1] - a[1])
      .slice(0, top).forEach(([l, t]) => {
        // deno-lint-ignore no-console
        console.log(
          `${((t / sum) * 100).toFixed(1).padStart(5)}%  ${
            (t / 1000).toFixed(0).padStart(6)
          } ms  ${l}`,
        );
      });
  };
  show("self time", self);
  show("total time", total);
}
