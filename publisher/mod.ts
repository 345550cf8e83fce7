/**
 * The publisher for managers: sends messages to the dotfiles daemon's
 * `command.sock`, fire-and-forget. It never throws for daemon or OS trouble
 * and never holds its caller longer than `connectionTimeout`: a missing,
 * restarting or stalled daemon makes `publish` resolve `false`, with one
 * warning per outage.
 *
 * Permissions: `--allow-read` and `--allow-write` on the socket directory,
 * `--allow-net=unix:<socketDir>/command.sock` (Deno 2.9 checks net permission
 * for Unix sockets, scoped by exact path) and, for the default socket
 * directory, `--allow-env=XDG_CACHE_HOME,HOME`.
 *
 * ```ts ignore
 * import { DaemonPublisher } from "@dotfiles/daemon/publisher";
 * import { MessageBuilder } from "@dotfiles/daemon/protocol";
 *
 * await using publisher = new DaemonPublisher();
 * const ok = await publisher.publish(MessageBuilder.stateUpdate({
 *   eventType: "theme",
 *   stateKey: "current",
 *   stateValue: { name: "dark" },
 * }));
 * if (!ok) {
 *   // The daemon is not running: carry on, the theme still changed.
 * }
 * ```
 *
 * @module
 */

export { DaemonPublisher, type PublisherOptions } from "./daemon_publisher.ts";
