/**
 * Where the sockets are: the caller's directory, or the default one.
 *
 * @module
 */

import { defaultSocketDir } from "../protocol/socket_paths.ts";

/**
 * The socket directory from an option, or the default
 * (`$XDG_CACHE_HOME/dotfiles/sockets`, else `~/.cache/dotfiles/sockets`),
 * without trailing slashes.
 *
 * @param socketDir The caller's directory, if any.
 * @returns The directory.
 * @throws {TypeError} When no directory is given and neither `$XDG_CACHE_HOME`
 * nor `$HOME` is an absolute path.
 *
 * @example
 * ```ts
 * import { resolveSocketDir } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(resolveSocketDir("/run/user/1000/dotfiles/"), "/run/user/1000/dotfiles");
 * assert.equal(resolveSocketDir("/"), "/");
 * ```
 */
export function resolveSocketDir(socketDir?: string): string {
  const dir = socketDir ?? defaultSocketDir((name) => Deno.env.get(name));
  return dir.replace(/(.)\/+$/, "$1");
}
