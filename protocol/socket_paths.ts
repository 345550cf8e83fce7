// This module is browser compatible.

/**
 * What an event type must look like: it becomes part of a file name, so it
 * is limited to 64 characters of letters, digits, `_`, `.` and `-`, starting
 * with a letter or digit.
 *
 * @example
 * ```ts
 * import { EVENT_TYPE_REGEXP } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * assert.ok(EVENT_TYPE_REGEXP.test("wallpaper"));
 * assert.ok(!EVENT_TYPE_REGEXP.test("../x"));
 * ```
 */
export const EVENT_TYPE_REGEXP: RegExp = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** File names inside the socket directory. @example
 * ```ts
 * import { SocketNames } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * assert.equal(SocketNames.COMMAND, "command.sock");
 * ```
 */
export const SocketNames = {
  /** Managers send messages here. */
  COMMAND: "command.sock",
  /** Monitors send queries here. */
  QUERY: "query.sock",
  /** Every routed message of every type. */
  FIREHOSE: "events.sock",
  /** `<event_type>` + this is a type's event socket. */
  EVENT_SUFFIX: "_events.sock",
  /** Held locked by the running daemon. */
  LOCK: "daemon.lock",
} as const;

/**
 * Tells whether `eventType` may name an event socket.
 *
 * @param eventType The event type.
 * @returns `true` when it matches {@linkcode EVENT_TYPE_REGEXP}.
 *
 * @example
 * ```ts
 * import { isValidEventType } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isValidEventType("backup.daily"));
 * assert.ok(!isValidEventType("a/b"));
 * ```
 */
export function isValidEventType(eventType: string): boolean {
  return EVENT_TYPE_REGEXP.test(eventType);
}

/**
 * The path of an event type's socket, `<socketDir>/<eventType>_events.sock`.
 *
 * @param socketDir The socket directory.
 * @param eventType The event type.
 * @returns The socket path.
 * @throws {TypeError} When `eventType` is not a valid event type.
 *
 * @example
 * ```ts
 * import { eventSocketPath } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * assert.equal(eventSocketPath("/run/s", "wallpaper"), "/run/s/wallpaper_events.sock");
 * assert.throws(() => eventSocketPath("/run/s", "../x"), TypeError);
 * ```
 */
export function eventSocketPath(socketDir: string, eventType: string): string {
  if (!isValidEventType(eventType)) {
    throw new TypeError(
      `Cannot name event socket: event type must match ${EVENT_TYPE_REGEXP}, received ${
        JSON.stringify(eventType.slice(0, 80))
      }`,
    );
  }
  return `${socketDir.replace(/\/+$/, "")}/${eventType}${SocketNames.EVENT_SUFFIX}`;
}

/**
 * Reads an environment variable; `Deno.env.get` fits.
 *
 * @example
 * ```ts
 * import type { EnvGetter } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const env: EnvGetter = (name) => name === "HOME" ? "/home/me" : undefined;
 * assert.equal(env("HOME"), "/home/me");
 * ```
 */
export type EnvGetter = (name: string) => string | undefined;

function baseDir(env: EnvGetter, xdgVar: string, fallback: string): string {
  const xdg = env(xdgVar);
  // The XDG spec says relative paths are invalid and must be ignored.
  if (xdg !== undefined && xdg.startsWith("/")) return xdg.replace(/\/+$/, "");
  const home = env("HOME");
  if (home === undefined || !home.startsWith("/")) {
    throw new TypeError(
      `Cannot find default directory: expected $${xdgVar} or $HOME to be an absolute path, received ${
        JSON.stringify(home ?? null)
      }`,
    );
  }
  return `${home.replace(/\/+$/, "")}/${fallback}`;
}

/**
 * The default socket directory: `$XDG_CACHE_HOME/dotfiles/sockets`, else
 * `$HOME/.cache/dotfiles/sockets`. Daemon, publisher and monitor all use it.
 *
 * @param env Reads an environment variable (pass `Deno.env.get`).
 * @returns The absolute directory.
 * @throws {TypeError} When neither variable holds an absolute path.
 *
 * @example
 * ```ts
 * import { defaultSocketDir } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const env = (n: string) => ({ HOME: "/home/me" } as Record<string, string>)[n];
 * assert.equal(defaultSocketDir(env), "/home/me/.cache/dotfiles/sockets");
 * ```
 */
export function defaultSocketDir(env: EnvGetter): string {
  return `${baseDir(env, "XDG_CACHE_HOME", ".cache")}/dotfiles/sockets`;
}

/**
 * The default state directory: `$XDG_STATE_HOME/dotfiles/daemon`, else
 * `$HOME/.local/state/dotfiles/daemon`.
 *
 * @param env Reads an environment variable (pass `Deno.env.get`).
 * @returns The absolute directory.
 * @throws {TypeError} When neither variable holds an absolute path.
 *
 * @example
 * ```ts
 * import { defaultStateDir } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * const env = (n: string) => ({ XDG_STATE_HOME: "/s" } as Record<string, string>)[n];
 * assert.equal(defaultStateDir(env), "/s/dotfiles/daemon");
 * ```
 */
export function defaultStateDir(env: EnvGetter): string {
  return `${baseDir(env, "XDG_STATE_HOME", ".local/state")}/dotfiles/daemon`;
}
