/**
 * A seeded PRNG for the protocol's differential fuzz tests: the same seed
 * gives the same inputs, so a failure names the seed that replays it.
 * `PROTOCOL_FUZZ_SEED` overrides the tests' fixed seeds.
 *
 * @module
 */

/** mulberry32: small, fast, good enough to pick mutations. */
export class Prng {
  #state: number;
  /** @param seed Any 32-bit integer. */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** `true` with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** The seed to use: `PROTOCOL_FUZZ_SEED` when set, else `fallback`. */
export function fuzzSeed(fallback: number): number {
  const fromEnv = Deno.env.get("PROTOCOL_FUZZ_SEED");
  return fromEnv !== undefined ? Number(fromEnv) : fallback;
}
