/**
 * dotfiles-daemon: a per-user event router for dotfiles and desktop tooling.
 * This entry point is the client side, everything a manager or a monitor
 * needs: the protocol (builders, validation, framing), the
 * {@linkcode DaemonPublisher} for managers, and {@linkcode subscribe} and
 * the query helpers for monitors. The daemon itself is
 * `jsr:@dotfiles/daemon/daemon`.
 *
 * Permissions: `--allow-read` and `--allow-write` on the socket directory,
 * `--allow-net` (Deno checks Unix sockets against net permission) and
 * `--allow-env=HOME,XDG_CACHE_HOME` to find the default directory.
 *
 * ```ts
 * import { DaemonPublisher, MessageBuilder } from "@dotfiles/daemon";
 * import assert from "node:assert/strict";
 *
 * const socketDir = await Deno.makeTempDir();
 * await using publisher = new DaemonPublisher({ socketDir, onWarning: () => {} });
 * const message = MessageBuilder.stateUpdate({
 *   eventType: "wallpaper",
 *   stateKey: "current",
 *   stateValue: { path: "/home/me/w.png" },
 * });
 * // No daemon runs on this fresh directory: publishing degrades to false.
 * assert.equal(await publisher.publish(message), false);
 * await Deno.remove(socketDir, { recursive: true });
 * ```
 *
 * @module
 */

export * from "./protocol/mod.ts";
export * from "./publisher/mod.ts";
export * from "./monitor/mod.ts";
