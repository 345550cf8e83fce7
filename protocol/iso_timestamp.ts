// This module is browser compatible.

const DATE_REGEXP = /^(\d{4})(?:-(\d{2})-(\d{2})|(\d{2})(\d{2})|-?W(\d{2})(?:-?([1-7]))?)/;
const TIME_REGEXP =
  /^(\d{2})(?:(:?)(\d{2})(?:\2(\d{2})(?:[.,](\d+))?)?)?(?:(Z)|([+-])(\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?)?)?$/;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Tells whether `value` is a timestamp that Python's `datetime.fromisoformat`
 * (3.11 and later) accepts: a calendar, basic or week date, optionally
 * followed by any one separator character and a time with optional
 * fractional seconds and an optional `Z` or `±HH[:MM[:SS[.ffffff]]]` offset.
 * A timestamp without an offset, as `datetime.now().isoformat()` writes, is
 * valid.
 *
 * @param value The string to check.
 * @returns `true` when the string is an ISO-8601 timestamp Python accepts.
 *
 * @example Accept what Python and JavaScript write
 * ```ts
 * import { isIsoTimestamp } from "@dotfiles/daemon/protocol";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isIsoTimestamp("2026-11-25T11:40:00.123456"));
 * assert.ok(isIsoTimestamp(new Date().toISOString()));
 * assert.ok(!isIsoTimestamp("2026-02-30T00:00:00"));
 * assert.ok(!isIsoTimestamp("yesterday"));
 * ```
 */
export function isIsoTimestamp(value: string): boolean {
  const date = DATE_REGEXP.exec(value);
  if (date === null) return false;
  const year = Number(date[1]);
  if (year < 1) return false;
  const monthText = date[2] ?? date[4];
  if (monthText !== undefined) {
    const month = Number(monthText);
    const day = Number(date[3] ?? date[5]);
    if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
  } else {
    const week = Number(date[6]);
    if (week < 1 || week > 53) return false;
  }
  const rest = value.slice(date[0].length);
  if (rest === "") return true;
  // Python accepts any single character between the date and the time.
  const time = TIME_REGEXP.exec(rest.slice(1));
  if (rest.length < 2 || time === null) return false;
  const [, hh, , mm, ss, , , sign, oh, om, os] = time;
  if (Number(hh) > 23 || Number(mm ?? 0) > 59 || Number(ss ?? 0) > 59) return false;
  if (sign !== undefined && (Number(oh) > 23 || Number(om ?? 0) > 59 || Number(os ?? 0) > 59)) {
    return false;
  }
  return true;
}
