/**
 * An example manager: reports a fake three-step operation to the dotfiles
 * daemon, exactly as a user's project would, importing the publisher from
 * JSR (`deno add jsr:@dotfiles/daemon` wrote the `imports` entry in its
 * deno.json; inside this repository's workspace it resolves locally). It
 * runs the same whether or not the daemon is up: publishing never throws
 * and never blocks for long.
 *
 * Run: `deno task start` in this folder, or from the repository root:
 * `deno run --allow-read --allow-write --allow-net --allow-env=XDG_CACHE_HOME,HOME examples/manager/main.ts [SOCKET_DIR]`
 *
 * @module
 */

import { DaemonPublisher } from "@dotfiles/daemon/publisher";
import { MessageBuilder } from "@dotfiles/daemon/protocol";

const eventType = "example";
const operationId = crypto.randomUUID();
const socketDir = Deno.args[0];

await using publisher = new DaemonPublisher(socketDir !== undefined ? { socketDir } : {});

const started = performance.now();
let sent = 0;
const steps = ["download", "resize", "apply"];
if (
  await publisher.publish(MessageBuilder.operationStarted({
    eventType,
    operationId,
    operationName: "example operation",
  }))
) sent++;
for (const [index, stepId] of steps.entries()) {
  for (const stepProgress of [0, 50, 100]) {
    const ok = await publisher.publish(MessageBuilder.operationProgress({
      eventType,
      operationId,
      stepId,
      stepProgress,
      overallProgress: Math.round((index * 100 + stepProgress) / steps.length),
      currentStep: index + 1,
      totalSteps: steps.length,
    }));
    if (ok) sent++;
  }
}
const durationSeconds = (performance.now() - started) / 1000;
if (
  await publisher.publish(
    MessageBuilder.operationCompleted({ eventType, operationId, durationSeconds }),
  )
) sent++;
if (
  await publisher.publish(MessageBuilder.stateUpdate({
    eventType,
    stateKey: "last_run",
    stateValue: { operation_id: operationId, at: new Date().toISOString() },
  }))
) sent++;

// deno-lint-ignore no-console
console.log(`example manager: ${sent} of 12 messages sent`);
