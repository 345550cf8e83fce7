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

/**
 * Folds text onto one line: every run of whitespace that holds a line break
 * (`\n`, `\r`, U+2028/2029) becomes one space, and other control characters
 * are dropped, so a status bar line never grows taller.
 *
 * @param text The text.
 * @returns The text on one line.
 */
export function oneLine(text: string): string {
  return text
    .replace(/\s*[\n\r\u2028\u2029\v\f]+\s*/g, " ")
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0008\u000e-\u001f\u007f]/g, "");
}

/**
 * Escapes the three characters Pango markup (waybar's `text` and
 * `tooltip`) gives a meaning to: `&`, `<`, `>`.
 *
 * @param text Plain text.
 * @returns Markup that shows exactly `text`.
 */
export function escapeMarkup(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * Cuts text that Pango markup will show to at most `max` visible
 * characters (an entity such as `&amp;` counts as one and is never split),
 * ending in `…` when cut.
 *
 * @param markup Escaped text (see {@linkcode escapeMarkup}).
 * @param max The most visible characters (at least 1).
 * @returns The markup, cut if needed.
 */
export function truncateMarkup(markup: string, max: number): string {
  const units = markup.match(/&(?:#\d+|#x[\da-fA-F]+|[A-Za-z]+);|[^]/gu) ?? [];
  if (units.length <= max) return markup;
  return units.slice(0, Math.max(0, max - 1)).join("") + "…";
}

/**
 * Reads a dotted field path (`name`, `colors.bg`, `items.0`) from a value;
 * the empty path is the value itself.
 *
 * @param value A JSON value.
 * @param path The path.
 * @returns The field, or `undefined` when absent.
 */
export function fieldAt(value: unknown, path: string): unknown {
  if (path === "") return value;
  let current: unknown = value;
  for (const part of path.split(".")) {
    if (typeof current !== "object" || current === null) return undefined;
    if (!Object.hasOwn(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/**
 * Renders a small template against a state value: each `{path}` is
 * replaced by that field (strings as they are, other values as compact
 * JSON, absent fields as nothing), `{}` by the whole value as
 * {@linkcode formatValue} shows it; `{{` and `}}` are literal braces.
 *
 * @param template The template, e.g. `"{name} ({variant})"`.
 * @param value The state value.
 * @returns The text.
 */
export function renderTemplate(template: string, value: unknown): string {
  return template.replace(/\{\{|\}\}|\{([^{}]*)\}/g, (match, path: string | undefined) => {
    if (match === "{{") return "{";
    if (match === "}}") return "}";
    const p = path!.trim();
    if (p === "") return formatValue(value, Infinity);
    const field = fieldAt(value, p);
    if (field === undefined || field === null) return "";
    return typeof field === "string" ? field : JSON.stringify(field);
  });
}

/**
 * Checks a template for {@linkcode renderTemplate}: every `{` opens a
 * field that a `}` closes (or is doubled).
 *
 * @param template The template.
 * @returns `null` when valid, else what is wrong.
 */
export function templateError(template: string): string | null {
  const rest = template.replace(/\{\{|\}\}|\{[^{}]*\}/g, "");
  if (rest.includes("{")) return "an unclosed '{' (write '{{' for a literal brace)";
  if (rest.includes("}")) return "a '}' without '{' (write '}}' for a literal brace)";
  return null;
}
