// This module is browser compatible.

/**
 * A timestamp check without regular expressions, for the router's hot path:
 * accepts exactly the strings `isIsoTimestamp` (`iso_timestamp.ts`) accepts,
 * which is the set Python's `datetime.fromisoformat` (3.11+) accepts. It
 * reads each character once and allocates nothing; the differential tests in
 * `tests/protocol/timestamp_test.ts` hold it to the regex version.
 *
 * Grammar (the regex version's, with its greedy choices):
 * - date: `YYYY` then `-MM-DD`, else `MMDD`, else `[-]Www[[-]D]` (D 1-7);
 * - nothing more, or any one UTF-16 code unit and a time;
 * - time: `HH[(:|)MM[(same sep)SS[(.|,)F+]]]` then nothing, `Z`, or
 *   `(+|-)HH[[:]MM[[:]SS[(.|,)F+]]]`, then the end.
 *
 * @module
 */

/** Character codes used below. */
const ZERO = 0x30;
const COLON = 0x3a;
const DASH = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const COMMA = 0x2c;
const UPPER_W = 0x57;
const UPPER_Z = 0x5a;

/** The value of two ASCII digits at `i`, or -1. */
function two(s: string, i: number): number {
  // Never read past the end: an out-of-range read is slow in optimised code.
  if (i + 1 >= s.length) return -1;
  const a = s.charCodeAt(i) - ZERO;
  const b = s.charCodeAt(i + 1) - ZERO;
  // Unsigned: a character below '0' wraps round to a large number.
  if ((a >>> 0) > 9 || (b >>> 0) > 9) return -1;
  return a * 10 + b;
}

function isDigit(s: string, i: number): boolean {
  return i < s.length && ((s.charCodeAt(i) - ZERO) >>> 0) <= 9;
}

/** The code unit at `i`, or -1 past the end. */
function at(s: string, i: number): number {
  return i < s.length ? s.charCodeAt(i) : -1;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * The index just past fractional digits `[.,]\d+` at `i`, or -1 when `i`
 * does not start them.
 */
function fraction(s: string, i: number): number {
  const c = at(s, i);
  if ((c !== DOT && c !== COMMA) || !isDigit(s, i + 1)) return -1;
  i += 2;
  while (isDigit(s, i)) i++;
  return i;
}

/** Whether `s` from `i` on is a valid time (the part after the separator). */
function isTime(s: string, i: number): boolean {
  const n = s.length;
  const hh = two(s, i);
  if (hh < 0 || hh > 23) return false;
  i += 2;
  // [(:|)MM[(same)SS[frac]]]: entered only when the minutes are there.
  const sep = at(s, i) === COLON ? 1 : 0;
  const mm = two(s, i + sep);
  if (mm >= 0) {
    if (mm > 59) return false;
    i += sep + 2;
    const colon = at(s, i) === COLON;
    if (colon === (sep === 1)) {
      const ss = two(s, i + sep);
      if (ss >= 0) {
        if (ss > 59) return false;
        i += sep + 2;
        const end = fraction(s, i);
        if (end >= 0) i = end;
      }
    }
  }
  if (i === n) return true;
  const c = at(s, i);
  if (c === UPPER_Z) return i + 1 === n;
  if (c !== PLUS && c !== DASH) return false;
  i++;
  const oh = two(s, i);
  if (oh < 0 || oh > 23) return false;
  i += 2;
  let colon = at(s, i) === COLON ? 1 : 0;
  const om = two(s, i + colon);
  if (om < 0) return i === n;
  if (om > 59) return false;
  i += colon + 2;
  colon = at(s, i) === COLON ? 1 : 0;
  const os = two(s, i + colon);
  if (os < 0) return i === n;
  if (os > 59) return false;
  i += colon + 2;
  const end = fraction(s, i);
  return (end >= 0 ? end : i) === n;
}

/**
 * Tells whether `value` is a timestamp Python's `datetime.fromisoformat`
 * accepts; the same answer as `isIsoTimestamp`, without a regex.
 *
 * @param value The string to check.
 * @returns `true` when the string is an accepted ISO-8601 timestamp.
 *
 * @example
 * ```ts
 * import { checkIsoTimestamp } from "./_timestamp.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(checkIsoTimestamp("2026-11-25T11:40:00.123456"));
 * assert.ok(!checkIsoTimestamp("2026-02-30"));
 * ```
 */
export function checkIsoTimestamp(value: string): boolean {
  const n = value.length;
  const y1 = two(value, 0);
  const y2 = two(value, 2);
  if (y1 < 0 || y2 < 0) return false;
  const year = y1 * 100 + y2;
  if (year < 1) return false;
  let i: number;
  let month = -1;
  let day = -1;
  if (
    at(value, 4) === DASH && (month = two(value, 5)) >= 0 &&
    at(value, 7) === DASH && (day = two(value, 8)) >= 0
  ) {
    i = 10;
  } else if ((month = two(value, 4)) >= 0 && (day = two(value, 6)) >= 0) {
    i = 8;
  } else {
    // [-]Www[[-]D]
    i = 4;
    if (at(value, i) === DASH) i++;
    if (at(value, i) !== UPPER_W) return false;
    const week = two(value, i + 1);
    if (week < 0) return false;
    i += 3;
    const dash = at(value, i) === DASH ? 1 : 0;
    const d = at(value, i + dash);
    if (d >= ZERO + 1 && d <= ZERO + 7) i += dash + 1;
    if (week < 1 || week > 53) return false;
    month = -1;
  }
  if (month !== -1 && (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month))) {
    return false;
  }
  if (i === n) return true;
  // Any one code unit separates the date from the time.
  return n - i >= 2 && isTime(value, i + 1);
}
