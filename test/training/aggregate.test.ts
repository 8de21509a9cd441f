import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MarshalError } from '../../src/core/errors.ts';
import { AGGREGATION_RULES, type AggregationRule, aggregate } from '../../src/training/aggregate/index.ts';
import { pinPropertySeed } from '../helpers/property-seed.ts';
import { assertClose, box, caseArb, MIN_N, toVectors } from './aggregate-helpers.ts';

pinPropertySeed();

/** Rules whose output is exactly one of the inputs or a selection of input values. */
const EXACT: ReadonlySet<AggregationRule> = new Set(['median', 'krum']);
/** Tolerance (relative to max(1, |value|)) for rules that sum in input order or iterate. */
const TOL: Record<AggregationRule, number> = {
  mean: 1e-12,
  median: 0,
  'trimmed-mean': 1e-12,
  krum: 0,
  'multi-krum': 1e-12,
  'geometric-median': 1e-6,
  'centered-clipping': 1e-9,
};

/** Sum of Euclidean distances from `point` to the rows: what the geometric median minimises. */
function sumOfDistances(rows: readonly (readonly number[])[], point: ArrayLike<number>): number {
  return rows.reduce((sum, r) => sum + Math.hypot(...r.map((x, k) => x - point[k]!)), 0);
}

/** Both points are minimisers of the same objective, up to the rule's tolerance. */
function assertSameObjective(
  rows: readonly (readonly number[])[],
  a: ArrayLike<number>,
  b: ArrayLike<number>,
): void {
  const fa = sumOfDistances(rows, a);
  const fb = sumOfDistances(rows, b);
  assert.ok(
    Math.abs(fa - fb) <= TOL['geometric-median'] * Math.max(1, fa),
    `geometric-median objective ${fb} vs ${fa}`,
  );
}

describe('aggregate: invariances', () => {
  for (const rule of AGGREGATION_RULES) {
    it(`${rule} is invariant under permutation of the inputs`, () => {
      fc.assert(
        fc.property(
          caseArb(rule).chain((c) =>
            fc.record({
              c: fc.constant(c),
              perm: fc.shuffledSubarray(
                c.rows.map((_, i) => i),
                { minLength: c.rows.length, maxLength: c.rows.length },
              ),
            }),
          ),
          ({ c, perm }) => {
            const a = aggregate(rule, toVectors(c.rows), { f: c.f });
            const b = aggregate(rule, toVectors(perm.map((i) => c.rows[i]!)), { f: c.f });
            if (rule === 'krum' || rule === 'multi-krum') {
              // Scores are exact on integer data, so they permute exactly.
              assert.deepEqual(
                b.scores,
                perm.map((i) => a.scores![i]!),
              );
            }
            if (rule === 'krum') {
              // Ties in the best score may pick a different (equally good) input: accept any of them.
              const best = Math.min(...a.scores!);
              const tied = c.rows.filter((_, i) => a.scores![i] === best);
              assert.ok(tied.some((r) => r.every((x, k) => x === b.result[k])));
              if (tied.length === 1) assert.deepEqual(b.result, a.result);
              return;
            }
            if (rule === 'multi-krum') {
              const cut = [...a.scores!].sort((x, y) => x - y)[a.selected!.length - 1]!;
              const ambiguous =
                a.scores!.filter((s) => s === cut).length >
                a.selected!.filter((i) => a.scores![i] === cut).length;
              if (ambiguous) return;
            }
            if (rule === 'geometric-median') {
              // The optimum need not be unique (an even number of collinear points has a segment of
              // them), so compare what the rule minimises, not the point it stopped at.
              assertSameObjective(c.rows, a.result, b.result);
              return;
            }
            if (EXACT.has(rule)) assert.deepEqual(b.result, a.result);
            else assertClose(b.result, a.result, TOL[rule], rule);
          },
        ),
      );
    });

    it(`${rule} is equivariant under translation`, () => {
      fc.assert(
        fc.property(
          caseArb(rule),
          fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 5, maxLength: 5 }),
          (c, shift) => {
            const moved = c.rows.map((r) => r.map((x, k) => x + shift[k]!));
            const a = aggregate(rule, toVectors(c.rows), { f: c.f });
            const b = aggregate(rule, toVectors(moved), { f: c.f });
            const expected = Array.from(a.result, (x, k) => x + shift[k]!);
            if (rule === 'geometric-median') {
              // Non-unique optima again: the moved result must be as good for the moved inputs.
              assertSameObjective(moved, expected, b.result);
              return;
            }
            if (EXACT.has(rule)) assert.deepEqual(Array.from(b.result), expected);
            else assertClose(b.result, expected, TOL[rule] * 1e3, rule);
            if (rule === 'krum' || rule === 'multi-krum') assert.deepEqual(b.scores, a.scores);
          },
        ),
      );
    });
  }

  it('never modifies its inputs and accepts Float32Array like Float64Array', () => {
    fc.assert(
      fc.property(fc.constantFrom(...AGGREGATION_RULES), caseArb('krum', 1), (rule, c) => {
        const inputs = toVectors(c.rows);
        const copy = inputs.map((v) => Float64Array.from(v));
        const a = aggregate(rule, inputs, { f: c.f });
        assert.deepEqual(inputs, copy);
        const b = aggregate(
          rule,
          c.rows.map((r) => Float32Array.from(r)),
          { f: c.f },
        );
        assert.deepEqual(b.result, a.result);
      }),
    );
  });
});

describe('aggregate: robustness against f Byzantine inputs', () => {
  const byzantineArb = (rule: AggregationRule, far: boolean) =>
    caseArb(rule).chain((c) =>
      fc.record({
        c: fc.constant(c),
        bad: fc.array(
          fc.array(
            far
              ? fc.integer({ min: 10_000, max: 1_000_000 })
              : fc.double({ min: -1e9, max: 1e9, noNaN: true }),
            {
              minLength: c.rows[0]!.length,
              maxLength: c.rows[0]!.length,
            },
          ),
          { minLength: c.f, maxLength: c.f },
        ),
        positions: fc.array(fc.nat(), { minLength: c.f, maxLength: c.f }),
      }),
    );
  /** Honest rows (minus f of them) with the f Byzantine rows inserted at arbitrary positions. */
  const mix = (honest: number[][], bad: number[][], positions: number[]) => {
    const rows = honest.slice(bad.length).map((r) => ({ r, byz: false }));
    bad.forEach((r, i) => {
      rows.splice(positions[i]! % (rows.length + 1), 0, { r, byz: true });
    });
    return rows;
  };

  for (const rule of ['median', 'trimmed-mean', 'centered-clipping'] as const) {
    it(`${rule} stays inside the coordinate-wise honest range whatever the Byzantine values`, () => {
      fc.assert(
        fc.property(byzantineArb(rule, false), ({ c, bad, positions }) => {
          const rows = mix(c.rows, bad, positions);
          const honest = rows.filter((x) => !x.byz).map((x) => x.r);
          const out = aggregate(rule, toVectors(rows.map((x) => x.r)), { f: c.f });
          // Centered clipping: each step adds at most f tau / n from the Byzantine inputs.
          const slack = rule === 'centered-clipping' ? (3 * c.f * out.tau!) / rows.length : 0;
          const { lo, hi } = box(honest);
          out.result.forEach((x, k) => {
            const eps = 1e-9 * Math.max(1, Math.abs(lo[k]!), Math.abs(hi[k]!)) + slack * (1 + 1e-9);
            assert.ok(
              x >= lo[k]! - eps && x <= hi[k]! + eps,
              `${rule}: coordinate ${k} = ${x} outside [${lo[k]}, ${hi[k]}]`,
            );
          });
        }),
      );
    });
  }

  it('geometric-median stays within r n / (n - 2f) of the honest centroid whatever the Byzantine values', () => {
    fc.assert(
      fc.property(byzantineArb('geometric-median', false), ({ c, bad, positions }) => {
        const rows = mix(c.rows, bad, positions);
        const honest = rows.filter((x) => !x.byz).map((x) => x.r);
        const n = rows.length;
        const d = honest[0]!.length;
        const centre = Array.from(
          { length: d },
          (_, k) => honest.reduce((s, r) => s + r[k]!, 0) / honest.length,
        );
        const dist = (a: ArrayLike<number>) =>
          Math.hypot(...Array.from({ length: d }, (_, k) => a[k]! - centre[k]!));
        const r = Math.max(...honest.map(dist));
        const out = aggregate('geometric-median', toVectors(rows.map((x) => x.r)), { f: c.f });
        const bound = (r * n) / (n - 2 * c.f);
        // Smoothing moves the result by at most about nu per input.
        assert.ok(
          dist(out.result) <= bound * (1 + 1e-6) + n * out.nu! + 1e-9,
          `${dist(out.result)} > ${bound}`,
        );
      }),
    );
  });

  for (const rule of ['krum', 'multi-krum'] as const) {
    it(`${rule} never selects an input far from the honest ones and stays in the honest range`, () => {
      fc.assert(
        fc.property(byzantineArb(rule, true), ({ c, bad, positions }) => {
          const rows = mix(c.rows, bad, positions);
          const out = aggregate(rule, toVectors(rows.map((x) => x.r)), { f: c.f });
          for (const i of out.selected!) assert.equal(rows[i]!.byz, false, `selected Byzantine input ${i}`);
          const { lo, hi } = box(rows.filter((x) => !x.byz).map((x) => x.r));
          out.result.forEach((x, k) => {
            assert.ok(x >= lo[k]! - 1e-9 && x <= hi[k]! + 1e-9);
          });
        }),
      );
    });
  }
});

describe('aggregate: preconditions', () => {
  const expectRefusal = (fn: () => unknown, rule: string, condition: string, message?: RegExp) =>
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof MarshalError, String(err));
      assert.equal(err.code, 'E_AGGREGATION_PRECONDITION');
      assert.equal(err.exitCode, 2);
      assert.equal(err.details?.rule, rule);
      assert.equal(err.details?.condition, condition);
      assert.ok(err.message.startsWith(`${rule}: `), err.message);
      if (message) assert.match(err.message, message);
      return true;
    });

  for (const rule of AGGREGATION_RULES) {
    it(`${rule} refuses n below its bound, bad f, bad shapes and non-finite values`, () => {
      for (const f of [0, 1, 2, 3]) {
        const min = MIN_N[rule](f);
        if (min > 1) {
          const rows = Array.from({ length: min - 1 }, (_, i) => [i, 1]);
          expectRefusal(
            () => aggregate(rule, toVectors(rows), { f }),
            rule,
            expect(rule),
            new RegExp(`got n = ${min - 1}, f = ${f}`),
          );
        }
        const ok = Array.from({ length: min }, (_, i) => [i, 1]);
        assert.equal(aggregate(rule, toVectors(ok), { f }).result.length, 2);
      }
      const rows = toVectors([
        [1, 2],
        [3, 4],
        [5, 6],
        [7, 8],
        [9, 10],
      ]);
      expectRefusal(() => aggregate(rule, rows, { f: -1 }), rule, 'f is a non-negative integer', /got -1/);
      expectRefusal(() => aggregate(rule, rows, { f: 0.5 }), rule, 'f is a non-negative integer', /got 0.5/);
      expectRefusal(() => aggregate(rule, [], { f: 0 }), rule, 'n >= 1');
      expectRefusal(() => aggregate(rule, [new Float64Array(0)], { f: 0 }), rule, 'd >= 1');
      expectRefusal(
        () => aggregate(rule, [...rows, new Float64Array(3)], { f: 0 }),
        rule,
        'equal lengths',
        /vector 5 has length 3, vector 0 has length 2/,
      );
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        for (const at of [0, 3]) {
          const withBad = rows.map((v) => Float64Array.from(v));
          withBad[at]![1] = bad;
          expectRefusal(
            () => aggregate(rule, withBad, { f: 0, strict: true }),
            rule,
            'finite values',
            new RegExp(`vector ${at} has a non-finite value ${String(bad)} at coordinate 1`),
          );
          // Without strict, a non-finite input is Byzantine: with f = 0 there is no room for it.
          expectRefusal(
            () => aggregate(rule, withBad, { f: 0 }),
            rule,
            'at most f non-finite inputs',
            new RegExp(`1 inputs have non-finite values \\(vectors ${at}\\), more than f = 0`),
          );
        }
      }
    });
  }

  it('checks the options of each rule', () => {
    const rows = toVectors([[1], [2], [3], [4], [5], [6], [7]]);
    expectRefusal(
      () => aggregate('multi-krum', rows, { f: 1, m: 0 }),
      'multi-krum',
      '1 <= m <= n - f',
      /got 0/,
    );
    expectRefusal(
      () => aggregate('multi-krum', rows, { f: 1, m: 7 }),
      'multi-krum',
      '1 <= m <= n - f',
      /n - f = 6, got 7/,
    );
    expectRefusal(() => aggregate('krum', rows, { f: 1, m: 2 }), 'krum', 'm only for multi-krum');
    expectRefusal(() => aggregate('trimmed-mean', rows, { f: 2, trim: 1 }), 'trimmed-mean', 'f <= trim');
    expectRefusal(
      () => aggregate('trimmed-mean', rows, { f: 0, trim: 4 }),
      'trimmed-mean',
      'n >= 2 trim + 1 (trim = 4)',
    );
    expectRefusal(
      () => aggregate('centered-clipping', rows, { f: 1, tau: -1 }),
      'centered-clipping',
      'tau >= 0',
    );
    expectRefusal(
      () => aggregate('centered-clipping', rows, { f: 1, iterations: 0 }),
      'centered-clipping',
      'iterations >= 1',
    );
    expectRefusal(
      () => aggregate('centered-clipping', rows, { f: 1, momentum: new Float64Array(2) }),
      'centered-clipping',
      'equal lengths',
    );
    expectRefusal(() => aggregate('geometric-median', rows, { f: 1, nu: 0 }), 'geometric-median', 'nu > 0');
    expectRefusal(
      () => aggregate('geometric-median', rows, { f: 1, tolerance: -1 }),
      'geometric-median',
      'tolerance >= 0',
    );
    expectRefusal(() => aggregate('nope' as AggregationRule, rows, { f: 0 }), 'nope', 'known rule');
  });
});

function expect(rule: AggregationRule): string {
  return rule === 'mean'
    ? 'n >= f + 1'
    : rule === 'krum' || rule === 'multi-krum'
      ? 'n >= 2f + 3'
      : 'n >= 2f + 1';
}
