/**
 * Runs the daemon as `main.ts serve` would, for the tests that need a daemon
 * in a child process (kill -9, a second instance): only `cli/serve.ts`, so the
 * tests do not depend on the rest of the command line.
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-net --allow-env tests/robustness/_run_daemon.ts DIR
 * ```
 *
 * @module
 */

import { serve } from "../../cli/serve.ts";

if (import.meta.main) Deno.exit(await serve(Deno.args));
