// Exact money for the tests: dollars as the API prints them, read into BigInt nano-dollars
// without floating point (shared by billing.test.mjs and upstream_money.test.mjs).

import assert from 'node:assert/strict';

/** "-0.00995" (dollars, ≤ 9 decimals) → -9950000n nano-dollars. */
export function nanos(dec) {
  const m = /^(-?)(\d+)(?:\.(\d{1,9}))?$/.exec(String(dec));
  assert.ok(m, `an exact dollar amount with at most 9 decimals: ${dec}`);
  const v = BigInt(m[2]) * 1_000_000_000n + BigInt((m[3] ?? '').padEnd(9, '0'));
  return m[1] ? -v : v;
}

/** JSON.parse with every number kept as its source text (no float rounding). */
export function exactJson(text) {
  return JSON.parse(text.replace(/("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g,
    (m, s) => (s ? s : JSON.stringify(m))));
}
