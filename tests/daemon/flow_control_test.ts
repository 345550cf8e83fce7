import assert from "node:assert/strict";
import {
  FlowControl,
  MAX_STALL_PER_READ_MS,
  PRESSURED_READ_BYTES,
  READ_BYTES,
  STALL_MS,
} from "../../daemon/_flow_control.ts";

interface Sleep {
  ms: number;
  resolve(): void;
}

/** A FlowControl whose hold-backs wait on timers the test releases by hand. */
function controlled(queueLimit = 100): { flow: FlowControl; sleeps: Sleep[] } {
  const sleeps: Sleep[] = [];
  const flow = new FlowControl({
    queueLimit,
    sleep: (ms, signal) =>
      new Promise((resolve, reject) => {
        sleeps.push({ ms, resolve });
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      }),
  });
  return { flow, sleeps };
}

/** Whether a promise has settled, after pending callbacks have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(() => done = true, () => done = true);
  await new Promise((resolve) => setTimeout(resolve, 0));
  return done;
}

const reading = () => ({ queuedBytes: 60, lastProgressAt: performance.now() });

Deno.test("FlowControl holds each read back at most one shared wait of 10 ms, however many publishers", async () => {
  const { flow, sleeps } = controlled();
  flow.pressure(reading());
  const reads = Array.from({ length: 10 }, () => flow.throttle());
  assert.deepEqual(sleeps.map((s) => s.ms), [MAX_STALL_PER_READ_MS]);
  assert.equal(MAX_STALL_PER_READ_MS <= 10, true);
  sleeps[0]!.resolve();
  // All ten reads go on after that one wait: no publisher waits its turn behind the others.
  assert.equal(await settled(Promise.all(reads)), true);
  assert.equal(sleeps.length, 1);
  // Still under pressure: the next read waits again, in a new window.
  const next = flow.throttle();
  assert.equal(sleeps.length, 2);
  sleeps[1]!.resolve();
  await next;
});

Deno.test("FlowControl ends the wait when the last pressured subscriber catches up, or on abort", async () => {
  const { flow, sleeps } = controlled();
  const sub = reading();
  flow.pressure(sub);
  const read = flow.throttle();
  assert.equal(await settled(read), false);
  flow.relief(sub);
  assert.equal(await settled(read), true);
  assert.equal(flow.pressured, false);

  flow.pressure(sub);
  const abort = new AbortController();
  const aborted = flow.throttle(abort.signal);
  assert.equal(await settled(aborted), false);
  abort.abort();
  assert.equal(await settled(aborted), true);
  flow.close();
  assert.equal(sleeps.length, 2);
});

Deno.test("FlowControl lets a stalled subscriber hold nobody back", async () => {
  const { flow, sleeps } = controlled();
  flow.pressure({ queuedBytes: 90, lastProgressAt: performance.now() - STALL_MS - 1 });
  assert.equal(flow.pressured, false);
  await flow.throttle();
  assert.equal(sleeps.length, 0);
  assert.equal(flow.readSize(1), READ_BYTES);
});

Deno.test("FlowControl shares the pressured read size among publishers and cuts off at the limit", () => {
  const { flow } = controlled(100);
  assert.equal(flow.pressureBytes, 50);
  assert.equal(flow.readSize(10), READ_BYTES);
  flow.pressure(reading());
  assert.equal(flow.readSize(1), PRESSURED_READ_BYTES);
  assert.equal(flow.readSize(4), PRESSURED_READ_BYTES / 4);
  assert.equal(flow.readSize(1000), 512);
  assert.equal(flow.overLimit(60, 40), false);
  assert.equal(flow.overLimit(60, 41), true);
  flow.close();
  assert.equal(flow.pressured, false);
});
