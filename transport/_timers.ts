/**
 * Waits that take an `AbortSignal`.
 *
 * @module
 */

/**
 * Resolves after `ms`, or rejects with the signal's reason when it aborts
 * first; the timer is cleared either way.
 *
 * @param ms The delay in milliseconds.
 * @param signal Cancels the wait.
 *
 * @example
 * ```ts
 * import { sleep } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * await sleep(1);
 * await assert.rejects(sleep(60_000, AbortSignal.abort(new Error("stop"))), /stop/);
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    function onAbort(): void {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Races `promise` against `signal`. When the signal wins, the result rejects
 * with its reason and `onAbort` later receives the value the promise still
 * produces (to close what it holds).
 *
 * @param promise The work.
 * @param signal Abandons the wait when aborted.
 * @param onAbort Releases a value produced after the abort.
 * @returns The promise's value.
 *
 * @example
 * ```ts
 * import { abortable } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const released: number[] = [];
 * const controller = new AbortController();
 * const slow = new Promise<number>((resolve) => setTimeout(() => resolve(7), 5));
 * const result = abortable(slow, controller.signal, (v) => released.push(v));
 * controller.abort(new Error("gone"));
 * await assert.rejects(result, /gone/);
 * await slow;
 * assert.deepEqual(released, [7]);
 * ```
 */
export function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  onAbort?: (value: T) => void,
): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.then((v) => onAbort?.(v), () => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    function abort(): void {
      if (settled) return;
      settled = true;
      // The value still to come reaches onAbort through the handler below.
      reject(signal!.reason);
    }
    signal.addEventListener("abort", abort, { once: true });
    promise.then((value) => {
      signal.removeEventListener("abort", abort);
      if (settled) return onAbort?.(value);
      settled = true;
      resolve(value);
    }, (err) => {
      signal.removeEventListener("abort", abort);
      if (settled) return;
      settled = true;
      reject(err);
    });
  });
}
