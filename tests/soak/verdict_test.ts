import assert from "node:assert/strict";
import { type GrowthSample, judgeGrowth } from "../../soak/_verdict.ts";

/** Samples every 10 s for `seconds`, RSS as the function of t gives it. */
function run(seconds: number, rss: (t: number) => number): GrowthSample[] {
  return Array.from({ length: seconds / 10 }, (_, i) => {
    const t = 10 * (i + 1);
    return { t, rssMiB: rss(t), fds: 50, lagP50: 1.5 };
  });
}

/** The measured warm-up: 75 MiB at 10 s, rising to 135 MiB by 180 s, then flat. */
const warmingUp = (t: number): number => Math.min(135, 75 + (60 * t) / 180);

Deno.test("a 3-minute soak gets no verdict: its growth is V8's warm-up, not a leak", () => {
  // Judged as before (middle third 60-120 s against the last), this read
  // 106.7 -> 126.7 MiB (over 10 % + 5 MiB): NOT FLAT.
  const growth = judgeGrowth(run(180, warmingUp));
  assert.equal(growth.judged, false);
  assert.match(growth.judged ? "" : growth.reason, /run at least 5 minutes/);
  // A 5-minute run's last sample comes at about 290 s: enough.
  assert.equal(judgeGrowth(run(290, warmingUp)).judged, true);
});

Deno.test("after the warm-up, flat memory is FLAT and a leak is not", () => {
  const flat = judgeGrowth(run(600, warmingUp));
  assert.ok(flat.judged);
  assert.equal(flat.rss.flat, true, JSON.stringify(flat));
  assert.equal(flat.flat, true);
  assert.equal(flat.from, 190);
  assert.equal(flat.to, 600);
  // 10 MiB a minute after the warm-up: about 35 MiB between the halves' means.
  const leaking = judgeGrowth(run(600, (t) => warmingUp(t) + Math.max(0, t - 180) / 6));
  assert.ok(leaking.judged);
  assert.equal(leaking.rss.flat, false, JSON.stringify(leaking));
  assert.equal(leaking.flat, false);
});

Deno.test("the warm-up is the caller's: with none, a 3-minute run is judged", () => {
  const growth = judgeGrowth(run(180, () => 100), { warmupSeconds: 0 });
  assert.ok(growth.judged);
  assert.equal(growth.flat, true);
  const fds = judgeGrowth(
    run(300, () => 100).map((s) => ({ ...s, fds: s.t > 150 ? 200 : 50 })),
    { warmupSeconds: 0 },
  );
  assert.ok(fds.judged);
  assert.equal(fds.fds.flat, false);
});
