/**
 * Every scenario of the suite, in the order the table lists them. To add
 * rows, add a file here (see `bench/_registry.ts`) and one line below.
 *
 * @module
 */

import type { Scenario } from "../_registry.ts";
import { bridge } from "./bridge.ts";
import { fanout } from "./fanout.ts";
import { idle } from "./idle.ts";
import { latency } from "./latency.ts";
import { persistence } from "./persistence.ts";
import { publish } from "./publish.ts";
import { stall } from "./stall.ts";
import { startup } from "./startup.ts";
import { watch } from "./watch.ts";

/** The scenarios, in table order. */
export const SCENARIOS: Scenario[] = [
  startup,
  fanout,
  persistence,
  latency,
  stall,
  publish,
  idle,
  bridge,
  watch,
];
