/**
 * Small pure formatting helpers shared by the `watch` renderers and `status`.
 *
 * @module
 */

/**
 * Formats a number of seconds as a short human duration: `0.4s`, `12s`,
 * `3m05s`, `1h02m`.
 *
 * @param seconds A duration in seconds (negative values count as 0).
 * @returns The duration as text.
 */
export function formatDuration(seconds: number): string {
  const s = Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
  if (s < 10) return `${Math.round(s * 10) / 10}s`;
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    return `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  }
  if (s < 86400) {
    const h = Math.floor(s / 3600);
    return `${h}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  }
  const d = Math.floor(s / 86400);
  return `${d}d${String(Math.floor((s % 86400) / 3600)).padStart(2, "0")}h`;
}

/**
 * Formats an elapsed time in whole seconds (`0s`, `12s`, `3m05s`): the
 * progress bars tick once a second, so tenths would only flicker.
 *
 * @param ms Elapsed milliseconds.
 * @returns The elapsed time as text.
 */
export function formatElapsed(ms: number): string {
  const s = Math.floor(Math.max(0, ms) / 1000);
  return s < 10 ? `${s}s` : formatDuration(s);
}

/**
 * Renders a state value compactly: the inner value of a `{"value": X}`
 * wrapper (what `publish --state key=X` sends for a non-object), else compact
 * JSON; cut to `max` characters with an ellipsis.
 *
 * @param value A state value.
 * @param max The longest result, in characters.
 * @returns The value as one line of text.
 */
export function formatValue(value: unknown, max = 120): string {
  let inner = value;
  if (
    typeof value === "object" && value !== null && !Array.isArray(value) &&
    Object.keys(value).length === 1 && "value" in value
  ) {
    inner = (value as { value: unknown }).value;
  }
  const text = typeof inner === "string" ? inner : JSON.stringify(inner) ?? String(inner);
  return truncate(text.replace(/\s*\n\s*/g, " "), max);
}

/**
 * Cuts `text` to at most `max` characters, ending in `…` when cut.
 *
 * @param text The text.
 * @param max The longest result, in characters (at least 1).
 * @returns The text, cut if needed.
 */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  return chars.slice(0, Math.max(0, max - 1)).join("") + "…";
}

/**
 * Parses an ISO-8601 timestamp to epoch milliseconds. Timestamps without an
 * offset (what Python's `datetime.now().isoformat()` sends) are local time,
 * as JavaScript reads them; microseconds are cut to milliseconds.
 *
 * @param timestamp The timestamp.
 * @returns Epoch milliseconds, or `null` when it does not parse.
 */
export function parseTimestamp(timestamp: unknown): number | null {
  if (typeof timestamp !== "string") return null;
  const ms = Date.parse(timestamp.replace(/(\.\d{3})\d+/, "$1"));
  return Number.isNaN(ms) ? null : ms;
}

/**
 * Clamps a percentage to 0..100, or returns `null` for a non-number.
 *
 * @param value The value.
 * @returns The clamped number, or `null`.
 */
export function percent(value: unknown): number | null {
  if (typeof value !== "number" || !Number.isFinite(value)) return null;
  return Math.min(100, Math.max(0, value));
}
