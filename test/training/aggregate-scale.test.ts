/**
 * Precision at every scale: honest clusters whose centre and spread both range over 1e-300..1e300
 * (spread / centre down to 1e-6), with and without far outliers, against the float64 direct
 * reference. The distances of the fast kernels must be scaled by a power of two chosen from the
 * differences, not from the magnitudes: a cluster at 1e-160 with spread 1e-163 has squared
 * distances near 1e-326, which underflow to 0 unless rescaled.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  AGGREGATION_RULES,
  type AggregationRule,
  aggregate,
  referenceAggregate,
} from '../../src/training/aggregate/index.ts';
import { pinPropertySeed } from '../helpers/property-seed.ts';
import { MIN_N, toVectors } from './aggregate-helpers.ts';

pinPropertySeed();

/** Relative agreement required with the reference (relative to the honest spread). */
const TOL = 1e-9;
/** Rounding of values near the centre, relative to their magnitude (both sides sum in float64). */
const ROUNDING = 1e-12;

interface Case {
  f: number;
  rows: number[][];
  spread: number;
  byzantine: boolean[];
}

/**
 * Spread 10^S with S in [-300, 300] (at most 10^288 with outliers, which sit 10^4..10^12 spreads
 * away), centre coordinates up to 10^(S + r) with r in [0, 6], honest inputs centre + spread * u,
 * 1/2 <= |u_k| <= 1, and 0 or f outliers at arbitrary indices.
 */
function scaledClusterArb(rule: AggregationRule, withOutliers: boolean): fc.Arbitrary<Case> {
  return fc
    .record({
      f: fc.integer({ min: withOutliers ? 1 : 0, max: 2 }),
      extra: fc.integer({ min: 0, max: 3 }),
      d: fc.integer({ min: 1, max: 6 }),
      spreadExp: fc.integer({ min: -300, max: withOutliers ? 288 : 294 }),
      ratioExp: fc.integer({ min: 0, max: 6 }),
    })
    .chain(({ f, extra, d, spreadExp, ratioExp }) => {
      const n = MIN_N[rule](f) + extra;
      // |u| in [1/2, 1]: the actual spread stays near the nominal one while fast-check shrinks.
      const coord = fc
        .tuple(fc.boolean(), fc.double({ min: 0.5, max: 1, noNaN: true }))
        .map(([negative, x]) => (negative ? -x : x));
      const vec = fc.array(coord, { minLength: d, maxLength: d });
      return fc.record({
        f: fc.constant(f),
        spread: fc.constant(10 ** spreadExp),
        centreNorm: fc.constant(10 ** (spreadExp + ratioExp)),
        centre: vec,
        honest: fc.array(vec, { minLength: withOutliers ? n - f : n, maxLength: withOutliers ? n - f : n }),
        outliers: fc.array(
          fc.record({
            exponent: fc.integer({ min: 4, max: 12 }),
            direction: fc.array(fc.integer({ min: -100, max: 100 }), { minLength: d, maxLength: d }),
            at: fc.nat(),
          }),
          { minLength: withOutliers ? f : 0, maxLength: withOutliers ? f : 0 },
        ),
      });
    })
    .map(({ f, spread, centreNorm, centre, honest, outliers }) => {
      const c = centre.map((x) => x * centreNorm);
      const rows = honest.map((u) => u.map((x, k) => c[k]! + spread * x));
      const byzantine: boolean[] = rows.map(() => false);
      for (const o of outliers) {
        const direction = o.direction.map((x) => x || 1);
        const norm = Math.hypot(...direction);
        const far = 10 ** o.exponent * spread;
        const row = direction.map((x, k) => c[k]! + (far * x) / norm);
        const at = o.at % (rows.length + 1);
        rows.splice(at, 0, row);
        byzantine.splice(at, 0, true);
      }
      return { f, rows, spread, byzantine };
    });
}

/** |ours - reference| <= TOL spread + ROUNDING |reference| in every coordinate. */
function assertAgrees(actual: ArrayLike<number>, expected: ArrayLike<number>, spread: number, what: string) {
  assert.equal(actual.length, expected.length);
  for (let k = 0; k < expected.length; k++) {
    const a = actual[k]!;
    const e = expected[k]!;
    assert.ok(
      Math.abs(a - e) <= TOL * spread + ROUNDING * Math.abs(e),
      `${what}: coordinate ${k}: ${a} vs reference ${e} (spread ${spread})`,
    );
  }
}

const closeRel = (a: number, b: number, tol: number) => a === b || Math.abs(a - b) <= tol * Math.max(a, b);

/**
 * The reference's scores unscaled can underflow to 0 (1e-300 squared): the reference is invariant
 * under exact power-of-two scaling, so ties and score ratios are read from the rows multiplied by
 * the power of two that brings the spread to about 1.
 */
function scaledReference(rule: AggregationRule, rows: number[][], f: number, spread: number) {
  const p = 2 ** -Math.round(Math.log2(spread));
  return referenceAggregate(
    rule,
    rows.map((r) => r.map((x) => x * p)),
    { f },
  );
}

function check(rule: AggregationRule, { f, rows, spread, byzantine }: Case): void {
  const ours = aggregate(rule, toVectors(rows), { f });
  const ref = referenceAggregate(rule, rows, { f });
  try {
    compare(rule, ours, ref, { f, rows, spread, byzantine });
  } catch (err) {
    // fast-check 4 keeps the assertion as the failure's cause: print it with the counterexample.
    console.log(`${rule}: ${(err as Error).message}`);
    throw err;
  }
}

function compare(
  rule: AggregationRule,
  ours: ReturnType<typeof aggregate>,
  ref: ReturnType<typeof referenceAggregate>,
  { f, rows, spread, byzantine }: Case,
): void {
  if (ref.selected) {
    const unit = scaledReference(rule, rows, f, spread);
    assert.deepEqual(unit.selected, ref.selected, 'the reference itself is scale invariant');
    const s = unit.scores!;
    // Reported scores, wherever the reference's own are normal numbers.
    ours.scores!.forEach((x, i) => {
      const e = ref.scores![i]!;
      if (e > 1e-290 && e < 1e290)
        assert.ok(closeRel(x, e, TOL), `${rule}: score ${i}: ${x} vs reference ${e}`);
    });
    // Position by position as good as the reference's choice (scores within TOL may swap), and the
    // same set unless the last chosen score is tied with one left out; then the result must agree.
    ours.selected!.forEach((i, t) => {
      assert.ok(
        closeRel(s[i]!, s[ref.selected![t]!]!, TOL),
        `${rule}: selection ${ours.selected} vs ${ref.selected}`,
      );
    });
    const cut = s[ref.selected[ref.selected.length - 1]!]!;
    const tiedOut = s.some((x, i) => !ref.selected!.includes(i) && closeRel(x, cut, TOL));
    const same = [...ours.selected!].sort().join() === [...ref.selected].sort().join();
    if (!tiedOut) {
      assert.ok(
        same,
        `${rule}: selection ${ours.selected} vs reference ${ref.selected} (scaled scores ${s})`,
      );
      assertAgrees(ours.result, ref.result, spread, rule);
    }
    for (const i of ours.selected!) assert.equal(byzantine[i], false, `selected outlier ${i}`);
    return;
  }
  if (ref.tau !== undefined) {
    assert.ok(ours.tau! > 0 || ref.tau === 0, `${rule}: tau ${ours.tau} collapsed (reference ${ref.tau})`);
    assert.ok(closeRel(ours.tau!, ref.tau, TOL), `${rule}: tau ${ours.tau} vs reference ${ref.tau}`);
  }
  if (ref.nu !== undefined) assert.ok(closeRel(ours.nu!, ref.nu, TOL), `${rule}: nu ${ours.nu} vs ${ref.nu}`);
  assertAgrees(ours.result, ref.result, spread, rule);
}

describe('aggregate: precision at every scale (centre and spread 1e-300..1e300)', () => {
  for (const rule of AGGREGATION_RULES) {
    for (const withOutliers of [false, true]) {
      it(`${rule}: ${withOutliers ? 'f outliers 1e4..1e12 spreads away' : 'honest cluster only'}`, () => {
        fc.assert(
          fc.property(scaledClusterArb(rule, withOutliers), (c) => check(rule, c)),
          { numRuns: 80 },
        );
      });
    }
  }

  it('the issue case: 7 honest inputs at 1e-160 with spread 1e-163, no outlier', () => {
    const rows = Array.from({ length: 7 }, (_, i) =>
      Array.from({ length: 4 }, (_, k) => 1e-160 * (1 + 0.1 * k) + 1e-163 * Math.sin(7 * i + k + 1)),
    );
    const krum = aggregate('krum', toVectors(rows), { f: 1 });
    const ref = referenceAggregate('krum', rows, { f: 1 });
    assert.deepEqual(krum.selected, ref.selected);
    assert.notDeepEqual(krum.selected, [0]);
    const cc = aggregate('centered-clipping', toVectors(rows), { f: 1 });
    const ccRef = referenceAggregate('centered-clipping', rows, { f: 1 });
    assert.ok(cc.tau! > 0);
    assert.ok(closeRel(cc.tau!, ccRef.tau!, TOL), `tau ${cc.tau} vs ${ccRef.tau}`);
    for (const rule of ['geometric-median', 'centered-clipping'] as const) {
      const ours = aggregate(rule, toVectors(rows), { f: 1 });
      assertAgrees(ours.result, referenceAggregate(rule, rows, { f: 1 }).result, 1e-163, rule);
    }
  });
});
