import fc from 'fast-check';
import type { AggregationRule } from '../../src/training/aggregate/index.ts';

/** Smallest n each rule accepts for a given f. */
export const MIN_N: Record<AggregationRule, (f: number) => number> = {
  mean: (f) => f + 1,
  median: (f) => 2 * f + 1,
  'trimmed-mean': (f) => 2 * f + 1,
  krum: (f) => 2 * f + 3,
  'multi-krum': (f) => 2 * f + 3,
  'geometric-median': (f) => 2 * f + 1,
  'centered-clipping': (f) => 2 * f + 1,
};

export const toVectors = (rows: readonly (readonly number[])[]): Float64Array[] =>
  rows.map((r) => Float64Array.from(r));

/**
 * A case for `rule`: f, and n >= MIN_N(f) integer-valued vectors of one dimension, so that every
 * sum and dot product the rules form is exact and comparisons between runs can be exact too.
 */
export function caseArb(rule: AggregationRule, maxF = 2) {
  return fc
    .record({
      f: fc.integer({ min: 0, max: maxF }),
      extra: fc.integer({ min: 0, max: 4 }),
      d: fc.integer({ min: 1, max: 5 }),
    })
    .chain(({ f, extra, d }) =>
      fc.record({
        f: fc.constant(f),
        rows: fc.array(fc.array(fc.integer({ min: -50, max: 50 }), { minLength: d, maxLength: d }), {
          minLength: MIN_N[rule](f) + extra,
          maxLength: MIN_N[rule](f) + extra,
        }),
      }),
    );
}

/** Coordinate-wise min and max of some rows. */
export function box(rows: readonly (readonly number[])[]): { lo: number[]; hi: number[] } {
  const d = rows[0]!.length;
  const lo = Array.from({ length: d }, (_, k) => Math.min(...rows.map((r) => r[k]!)));
  const hi = Array.from({ length: d }, (_, k) => Math.max(...rows.map((r) => r[k]!)));
  return { lo, hi };
}

export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what = '',
): void {
  if (actual.length !== expected.length)
    throw new Error(`${what}: length ${actual.length} vs ${expected.length}`);
  for (let k = 0; k < actual.length; k++) {
    const a = actual[k]!;
    const e = expected[k]!;
    if (!(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)))) {
      throw new Error(`${what}: coordinate ${k}: ${a} vs ${e} (tolerance ${tol})`);
    }
  }
}
