/**
 * `JSON.stringify` with a budget: containers near the top are written
 * entry by entry, and the work stops as soon as the text is over the
 * budget, so a query over a huge state costs about the budget, never the
 * whole answer.
 *
 * @module
 */

/**
 * A value already written as JSON text (stored history bodies), written
 * verbatim by {@linkcode stringifyWithin}. `JSON.stringify` reads it through
 * `toJSON`, which parses the text: correct, only slower.
 */
export class JsonText {
  /** The JSON text. */
  readonly text: string;

  /** @param text Valid JSON: the caller vouches for it. */
  constructor(text: string) {
    this.text = text;
  }

  /** The parsed value, for `JSON.stringify`. */
  toJSON(): unknown {
    return JSON.parse(this.text);
  }
}

/** How deep containers are walked entry by entry; deeper values are stringified whole. */
const WALK_DEPTH = 8;

/**
 * The JSON text of `value` (as `JSON.stringify` writes it), or `null` as
 * soon as it is known to be longer than `budget` UTF-16 units. Below
 * {@linkcode WALK_DEPTH} levels a value is stringified whole, so the work
 * is at most the budget plus one such value.
 */
export function stringifyWithin(value: unknown, budget: number): string | null {
  const parts: string[] = [];
  return write(value, budget, WALK_DEPTH, parts) < 0 ? null : parts.join("");
}

/** Appends the text to `parts`; returns the budget left, negative when over. */
function write(value: unknown, budget: number, depth: number, parts: string[]): number {
  if (value instanceof JsonText) {
    parts.push(value.text);
    return budget - value.text.length;
  }
  if (
    depth === 0 || value === null || typeof value !== "object" ||
    typeof (value as { toJSON?: unknown }).toJSON === "function"
  ) {
    const text = JSON.stringify(value) ?? "null";
    parts.push(text);
    return budget - text.length;
  }
  if (Array.isArray(value)) {
    parts.push("[");
    let left = budget - 2;
    for (let i = 0; i < value.length && left >= 0; i++) {
      if (i > 0) {
        parts.push(",");
        left--;
      }
      const item = value[i];
      left = write(
        item === undefined || typeof item === "function" || typeof item === "symbol" ? null : item,
        left,
        depth - 1,
        parts,
      );
    }
    parts.push("]");
    return left;
  }
  parts.push("{");
  let left = budget - 2;
  let first = true;
  for (const key in value) {
    if (left < 0) break;
    if (!Object.hasOwn(value, key)) continue;
    const item = (value as Record<string, unknown>)[key];
    if (item === undefined || typeof item === "function" || typeof item === "symbol") continue;
    const name = JSON.stringify(key);
    parts.push(first ? `${name}:` : `,${name}:`);
    left -= name.length + (first ? 1 : 2);
    first = false;
    left = write(item, left, depth - 1, parts);
  }
  parts.push("}");
  return left;
}
