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

/** Relative agreement required with the float64 direct reference. */
const TOL = 1e-9;
/** The honest inputs' spread around their centre. */
const SPREAD = 1e-3;

/**
 * A tight honest cluster (spread 1e-3 around an arbitrary centre) and f outliers of norm 1e4..1e12
 * in arbitrary directions, inserted at arbitrary indices (index 0 included).
 */
function clusterArb(rule: AggregationRule) {
  return fc
    .record({
      f: fc.integer({ min: 1, max: 2 }),
      extra: fc.integer({ min: 0, max: 3 }),
      d: fc.integer({ min: 1, max: 6 }),
    })
    .chain(({ f, extra, d }) => {
      const n = MIN_N[rule](f) + extra;
      const coord = fc.double({ min: -1, max: 1, noNaN: true });
      return fc.record({
        f: fc.constant(f),
        centre: fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { minLength: d, maxLength: d }),
        honest: fc.array(fc.array(coord, { minLength: d, maxLength: d }), {
          minLength: n - f,
          maxLength: n - f,
        }),
        outliers: fc.array(
          fc.record({
            exponent: fc.integer({ min: 4, max: 12 }),
            direction: fc.array(fc.integer({ min: -100, max: 100 }), { minLength: d, maxLength: d }),
            at: fc.nat(),
          }),
          { minLength: f, maxLength: f },
        ),
      });
    })
    .map(({ f, centre, honest, outliers }) => {
      const rows = honest.map((u) => u.map((x, k) => centre[k]! + SPREAD * x));
      const byzantine: boolean[] = rows.map(() => false);
      for (const o of outliers) {
        const direction = o.direction.map((x) => x || 1);
        const norm = Math.hypot(...direction);
        const row = direction.map((x, k) => centre[k]! + (10 ** o.exponent * x) / norm);
        const at = o.at % (rows.length + 1);
        rows.splice(at, 0, row);
        byzantine.splice(at, 0, true);
      }
      return { f, rows, byzantine };
    });
}

/** |a - e| <= TOL (|e| + scale) in every coordinate. */
function assertAgrees(actual: ArrayLike<number>, expected: ArrayLike<number>, scale: number, what: string) {
  assert.equal(actual.length, expected.length);
  for (let k = 0; k < expected.length; k++) {
    const a = actual[k]!;
    const e = expected[k]!;
    assert.ok(
      Math.abs(a - e) <= TOL * (Math.abs(e) + scale),
      `${what}: coordinate ${k}: ${a} vs reference ${e}`,
    );
  }
}

function assertMatchesReference(
  rule: AggregationRule,
  rows: number[][],
  f: number,
  scale: number,
  vectors: Float64Array[] = toVectors(rows),
) {
  const ours = aggregate(rule, vectors, { f });
  const ref = referenceAggregate(rule, rows, { f });
  if (ref.selected) {
    const close = (a: number, b: number) => a === b || Math.abs(a - b) <= TOL * Math.max(a, b);
    ours.scores!.forEach((s, i) => {
      const e = ref.scores![i]!;
      assert.ok(close(s, e), `${rule}: score ${i}: ${s} vs reference ${e}`);
    });
    // Scores equal within TOL (exact ties the generator's shrinking likes to build) may be ordered
    // either way: then the selection must be as good, score for score, and the result is one of the
    // equally good answers.
    const refScores = ref.scores!;
    const refSelected = ref.selected;
    ours.selected!.forEach((i, t) => {
      assert.ok(close(refScores[i]!, refScores[refSelected[t]!]!), `${rule}: selection ${ours.selected}`);
    });
    const cut = refScores[refSelected[refSelected.length - 1]!]!;
    const tied = refScores.filter((x) => close(x, cut)).length > 1;
    if (tied || JSON.stringify(ours.selected) !== JSON.stringify(ref.selected)) {
      if (!tied) assert.deepEqual(ours.selected, refSelected, `${rule}: selection`);
      return ours;
    }
  }
  assertAgrees(ours.result, ref.result, scale, rule);
  return ours;
}

describe('aggregate: precision against a float64 direct reference', () => {
  for (const rule of AGGREGATION_RULES) {
    it(`${rule}: honest spread 1e-3, outliers at 1e4..1e12 at any index`, () => {
      fc.assert(
        fc.property(clusterArb(rule), ({ f, rows, byzantine }) => {
          const out = assertMatchesReference(rule, rows, f, SPREAD);
          for (const i of out.selected ?? []) assert.equal(byzantine[i], false, `selected outlier ${i}`);
        }),
        { numRuns: 60 },
      );
    });
  }

  it('krum and geometric-median: the 1e10 outlier at index 0 (the cancellation case)', () => {
    const rows = Array.from({ length: 7 }, (_, i) =>
      Array.from({ length: 4 }, (_, k) => 3 + SPREAD * Math.sin(7 * i + k)),
    );
    rows[0] = rows[0]!.map(() => 1e10);
    const krum = aggregate('krum', toVectors(rows), { f: 1 });
    assert.notEqual(krum.selected![0], 0);
    assert.ok(krum.scores!.slice(1).every((s) => s > 0));
    const gm = aggregate('geometric-median', toVectors(rows), { f: 1 });
    for (const x of gm.result) assert.ok(Math.abs(x - 3) < 2 * SPREAD, `geometric median ${x}`);
    assert.ok(gm.nu! < 1e-6 * 10 * SPREAD, `nu ${gm.nu} is set by the honest spread`);
  });

  for (const magnitude of [1e153, 1e-160]) {
    for (const rule of AGGREGATION_RULES) {
      it(`${rule}: the same data at magnitude ${magnitude} (no overflow, no subnormal collapse)`, () => {
        fc.assert(
          fc.property(clusterArb(rule), ({ f, rows, byzantine }) => {
            const scaled = rows.map((r) => r.map((x) => x * magnitude));
            const out = assertMatchesReference(rule, scaled, f, SPREAD * magnitude);
            for (const i of out.selected ?? []) assert.equal(byzantine[i], false, `selected outlier ${i}`);
          }),
          { numRuns: 25 },
        );
      });
    }
  }
});
