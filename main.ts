#!/usr/bin/env -S deno run --allow-read --allow-write --allow-net --allow-env
/**
 * The `dotfiles-daemon` executable: `serve` (the default) runs the daemon,
 * `publish`, `watch`, `query` and `status` talk to it. See `--help`.
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-net --allow-env main.ts --help
 * ```
 *
 * @module
 */

import { main } from "./cli/main.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
