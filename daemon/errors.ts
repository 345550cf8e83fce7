/**
 * Another daemon holds the lock on the socket directory.
 *
 * @example
 * ```ts
 * import { DaemonAlreadyRunningError } from "@dotfiles/daemon/daemon";
 * import assert from "node:assert/strict";
 *
 * const e = new DaemonAlreadyRunningError("Cannot start daemon: already running");
 * assert.equal(e.name, "DaemonAlreadyRunningError");
 * ```
 */
export class DaemonAlreadyRunningError extends Error {
  /**
   * Creates the error.
   *
   * @param message The error message.
   * @param options An optional cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DaemonAlreadyRunningError";
  }
}

/**
 * The socket directory is unsafe (owned by another user, or open to group or
 * others and cannot be fixed) or unusable.
 *
 * @example
 * ```ts
 * import { UnsafeSocketDirError } from "@dotfiles/daemon/daemon";
 * import assert from "node:assert/strict";
 *
 * const e = new UnsafeSocketDirError("Cannot use socket directory: owned by uid 0");
 * assert.equal(e.name, "UnsafeSocketDirError");
 * ```
 */
export class UnsafeSocketDirError extends Error {
  /**
   * Creates the error.
   *
   * @param message The error message.
   * @param options An optional cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UnsafeSocketDirError";
  }
}
