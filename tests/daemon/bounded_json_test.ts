import assert from "node:assert/strict";
import { stringifyWithin } from "../../daemon/_bounded_json.ts";

Deno.test("stringifyWithin writes what JSON.stringify writes, within the budget", () => {
  const values: unknown[] = [
    null,
    0,
    'a\u2028"b',
    [],
    {},
    [1, undefined, () => 1, "x", [[[[[[[[[[1]]]]]]]]]]],
    { a: undefined, b: 1, c: { d: [true, false, null], e: "é" }, f: new Date(0) },
    { deep: { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } } },
    { 'key "quoted"': [{ x: 1 }, { y: [2, 3] }] },
  ];
  for (const value of values) {
    const expected = JSON.stringify(value);
    assert.equal(stringifyWithin(value, expected.length), expected);
    assert.equal(stringifyWithin(value, expected.length - 1), null);
  }
});

Deno.test("stringifyWithin stops early: a huge object over the budget is not written whole", () => {
  const big: Record<string, unknown> = {};
  for (let i = 0; i < 10_000; i++) big[`k${i}`] = { v: "x".repeat(1000) };
  let reads = 0;
  const counting = new Proxy(big, {
    get(target, key, receiver): unknown {
      reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  assert.equal(stringifyWithin({ state: counting }, 100_000), null);
  assert.ok(reads < 200, `${reads} entries read for a 100 kB budget`);
});
