import assert from "node:assert/strict";
import { isIsoTimestamp } from "../../protocol/mod.ts";
import { checkIsoTimestamp } from "../../protocol/_timestamp.ts";
import { fuzzSeed, Prng } from "./_prng.ts";

function same(value: string): void {
  assert.equal(
    checkIsoTimestamp(value),
    isIsoTimestamp(value),
    `checkIsoTimestamp and isIsoTimestamp disagree on ${JSON.stringify(value)}`,
  );
}

Deno.test("checkIsoTimestamp() accepts what Python and JavaScript clients write", () => {
  for (
    const value of [
      "2026-11-25T11:40:00.123456", // datetime.now().isoformat(): no offset
      "2026-11-25T11:40:00", // microsecond == 0
      "2026-11-25 11:40:00.123456+01:00",
      "2026-11-25T11:40:00.123Z", // Date.prototype.toISOString()
      new Date().toISOString(),
      "2026-11-25",
      "20261125T114000",
      "2026-W48-3T11:40",
      "2024-02-29T00:00:00",
      "2026-11-25T11:40:00,5-05:30:15.25",
    ]
  ) {
    assert.ok(checkIsoTimestamp(value), value);
    same(value);
  }
});

Deno.test("checkIsoTimestamp() refuses what isIsoTimestamp refuses", () => {
  for (
    const value of [
      "",
      "yesterday",
      "2026-02-30T00:00:00",
      "2023-02-29",
      "0000-01-01",
      "2026-13-01",
      "2026-11-25T24:00:00",
      "2026-11-25T11:60",
      "2026-11-25T11:40:60",
      "2026-11-25T11:40:00.",
      "2026-11-25T11:40:00Zx",
      "2026-11-25T11:4000", // mixed separators in the time
      "2026-11-25T11:40:00+24:00",
      "2026-11-25T11:40:00+01:60",
      "2026-11-25T",
      "2026-W54",
      "2026-W00-1",
      "2026-11-25T11:40:00.123456\n",
    ]
  ) {
    assert.ok(!checkIsoTimestamp(value), value);
    same(value);
  }
});

/**
 * Slots of a timestamp, in order: for each, pieces that keep it valid and
 * near misses (picked one time in twelve).
 */
const SLOTS: readonly [ok: readonly string[], bad: readonly string[]][] = [
  [["2026", "0001", "9999", "2024", "1900", "2000"], ["0000", "202", "20261"]],
  [
    ["-01-01", "-02-28", "-12-31", "0101", "0228", "1231", "-W01", "-W53", "W01", "-W01-1", "W017"],
    [
      "-02-29",
      "-02-30",
      "-13-01",
      "-00-10",
      "1301",
      "-W54",
      "-W00",
      "-W01-8",
      "W018",
      "-W01-",
      "-01",
    ],
  ],
  [["", "T", " ", "t", "\u00e9", "5"], ["\ud83d\ude00", "TT", "\ud83d"]],
  [["00", "23", "12"], ["24", "9", ""]],
  [["", ":00", ":59", "00", "59"], [":60", ":5", "::00"]],
  [["", ":00", ":59", "00", "59"], [":60", ":5"]],
  [["", ".1", ",123456", ".1234567890"], [".", ",", ".x"]],
  [["", "Z", "+01", "-05", "-23"], ["z", "+24", "+", "Zx", "+0"]],
  [["", ":30", "30"], [":60", ":", "3"]],
  [["", ":15", "15"], [":60", ":", "1"]],
  [["", ".25", ",5"], ["."]],
  [[""], ["\n", " ", "x", "0"]],
];

Deno.test("checkIsoTimestamp() agrees with isIsoTimestamp on structured random strings", () => {
  const seed = fuzzSeed(0x150_7157);
  const rng = new Prng(seed);
  let accepted = 0;
  for (let i = 0; i < 200_000; i++) {
    let value = "";
    for (const [ok, bad] of SLOTS) value += rng.pick(rng.chance(1 / 12) ? bad : ok);
    if (isIsoTimestamp(value)) accepted++;
    assert.equal(
      checkIsoTimestamp(value),
      isIsoTimestamp(value),
      `seed ${seed}: ${JSON.stringify(value)}`,
    );
  }
  // The generator must reach both answers often, or the test proves little.
  assert.ok(accepted > 5_000 && accepted < 195_000, `${accepted} accepted`);
});

Deno.test("checkIsoTimestamp() agrees with isIsoTimestamp on mutated valid timestamps", () => {
  const seed = fuzzSeed(0x7e57_0002);
  const rng = new Prng(seed);
  const bases = [
    "2026-11-25T11:40:00.123456",
    "2026-11-25T11:40:00.123Z",
    "20261125T1140+0530",
    "2026-W48-3T11:40:00,5-05:30:15.25",
    "2026W483 114000Z",
  ];
  const alphabet = "0123456789-:.,+TWZ x\u00e9";
  for (let i = 0; i < 200_000; i++) {
    const chars = [...rng.pick(bases)];
    const edits = 1 + rng.int(3);
    for (let e = 0; e < edits; e++) {
      const at = rng.int(chars.length + 1);
      const op = rng.int(3);
      const c = alphabet[rng.int(alphabet.length)]!;
      if (op === 0) chars.splice(at, 1);
      else if (op === 1) chars.splice(at, 0, c);
      else chars[at] = c;
    }
    same(chars.join(""));
  }
});

Deno.test("checkIsoTimestamp() agrees with isIsoTimestamp on every date of four years", () => {
  const day = 86_400_000;
  for (let t = Date.UTC(2023, 0, 1); t < Date.UTC(2027, 0, 1); t += day) {
    const iso = new Date(t).toISOString();
    same(iso);
    same(iso.slice(0, 10));
    same(iso.slice(0, 10).replaceAll("-", ""));
  }
  for (let m = 0; m <= 13; m++) {
    for (let d = 0; d <= 32; d++) {
      const mm = String(m).padStart(2, "0");
      const dd = String(d).padStart(2, "0");
      for (const y of ["1900", "2000", "2024", "2100"]) same(`${y}-${mm}-${dd}`);
    }
  }
});
