import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { aggregate } from '../../src/training/aggregate/index.ts';
import { selectInPlace, selectTwoInPlace } from '../../src/training/aggregate/select.ts';
import { pinPropertySeed } from '../helpers/property-seed.ts';
import { assertClose } from './aggregate-helpers.ts';

pinPropertySeed();

/** -0 and 0 compare equal but deepEqual tells them apart; selection may order them either way. */
const same = (xs: Iterable<number>) => [...xs].map((x) => x + 0).sort((a, b) => a - b);

/** Values with many duplicates, so pivots equal to neighbours are exercised. */
const valuesArb = fc.array(
  fc.oneof(fc.integer({ min: -5, max: 5 }), fc.double({ min: -1e3, max: 1e3, noNaN: true })),
  {
    minLength: 1,
    maxLength: 100,
  },
);

describe('selection kernels', () => {
  it('selectInPlace puts rank k at k with smaller values left and larger right', () => {
    fc.assert(
      fc.property(valuesArb, fc.nat(), fc.nat({ max: 5 }), (xs, pick, pad) => {
        const sorted = [...xs].sort((a, b) => a - b);
        const a = new Float64Array([...Array(pad).fill(99), ...xs, ...Array(pad).fill(-99)]);
        const k = pick % xs.length;
        assert.ok(selectInPlace(a, pad, pad + xs.length, pad + k) === sorted[k]);
        for (let i = pad; i < pad + k; i++) assert.ok(a[i]! <= sorted[k]!);
        for (let i = pad + k + 1; i < pad + xs.length; i++) assert.ok(a[i]! >= sorted[k]!);
        assert.deepEqual(same(a.subarray(pad, pad + xs.length)), same(sorted));
        assert.ok(a.subarray(0, pad).every((x) => x === 99));
      }),
    );
  });

  it('selectInPlace handles long runs of equal values and sorted input (Hoare fallback)', () => {
    const cases = [
      new Float64Array(1000).fill(7),
      Float64Array.from({ length: 1000 }, (_, i) => i % 3),
      Float64Array.from({ length: 1000 }, (_, i) => i),
      Float64Array.from({ length: 1000 }, (_, i) => -i),
    ];
    for (const base of cases) {
      const sorted = [...base].sort((x, y) => x - y);
      for (const k of [0, 1, 499, 500, 998, 999]) {
        const a = Float64Array.from(base);
        assert.ok(selectInPlace(a, 0, a.length, k) === sorted[k]);
        for (let i = 0; i < k; i++) assert.ok(a[i]! <= sorted[k]!);
        for (let i = k + 1; i < a.length; i++) assert.ok(a[i]! >= sorted[k]!);
      }
    }
  });

  it('selectTwoInPlace places both ranks and keeps the middle between them', () => {
    fc.assert(
      fc.property(valuesArb, fc.nat(), fc.nat(), (xs, p1, p2) => {
        const sorted = [...xs].sort((a, b) => a - b);
        const [k1, k2] = [p1 % xs.length, p2 % xs.length].sort((a, b) => a - b) as [number, number];
        const a = Float64Array.from(xs);
        selectTwoInPlace(a, 0, a.length, k1, k2);
        assert.ok(a[k1] === sorted[k1] && a[k2] === sorted[k2]);
        for (let i = 0; i < k1; i++) assert.ok(a[i]! <= sorted[k1]!);
        for (let i = k1; i <= k2; i++) assert.ok(a[i]! >= sorted[k1]! && a[i]! <= sorted[k2]!);
        for (let i = k2 + 1; i < a.length; i++) assert.ok(a[i]! >= sorted[k2]!);
        assert.deepEqual(same(a), same(sorted));
      }),
    );
  });
});

/** Straightforward reference implementations, for inputs large enough to cross every block boundary. */
const naive = {
  median(rows: number[][]): number[] {
    return rows[0]!.map((_, k) => {
      const col = rows.map((r) => r[k]!).sort((a, b) => a - b);
      const m = col.length >> 1;
      return col.length % 2 ? col[m]! : (col[m - 1]! + col[m]!) / 2;
    });
  },
  trimmed(rows: number[][], t: number): number[] {
    return rows[0]!.map((_, k) => {
      const col = rows
        .map((r) => r[k]!)
        .sort((a, b) => a - b)
        .slice(t, rows.length - t);
      return col.reduce((s, x) => s + x, 0) / col.length;
    });
  },
  krumScores(rows: number[][], f: number): number[] {
    return rows.map((x, i) => {
      const ds = rows.filter((_, j) => j !== i).map((y) => x.reduce((s, v, k) => s + (v - y[k]!) ** 2, 0));
      return ds
        .sort((a, b) => a - b)
        .slice(0, rows.length - f - 2)
        .reduce((s, v) => s + v, 0);
    });
  },
};

describe('aggregate matches reference implementations across block boundaries', () => {
  const bigArb = fc
    .record({
      f: fc.integer({ min: 0, max: 3 }),
      extra: fc.integer({ min: 0, max: 6 }),
      d: fc.integer({ min: 250, max: 5000 }),
      seed: fc.integer(),
    })
    .map(({ f, extra, d, seed }) => {
      let s = seed | 1;
      const next = () => {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        return ((s >>> 0) % 2001) - 1000;
      };
      const n = 2 * f + 3 + extra;
      return { f, rows: Array.from({ length: n }, () => Array.from({ length: d }, next)) };
    });

  it('median, trimmed mean, mean, krum and multi-krum', () => {
    fc.assert(
      fc.property(bigArb, ({ f, rows }) => {
        const vs = rows.map((r) => Float32Array.from(r));
        assert.deepEqual(Array.from(aggregate('median', vs, { f }).result), naive.median(rows));
        assertClose(aggregate('trimmed-mean', vs, { f }).result, naive.trimmed(rows, f), 1e-12, 'trimmed');
        assertClose(aggregate('mean', vs, { f }).result, naive.trimmed(rows, 0), 1e-12, 'mean');
        const krum = aggregate('krum', vs, { f });
        assert.deepEqual(krum.scores, naive.krumScores(rows, f));
        const best = Math.min(...krum.scores!);
        assert.equal(krum.selected![0], krum.scores!.indexOf(best));
        assert.deepEqual(Array.from(krum.result), rows[krum.selected![0]!]);
        const multi = aggregate('multi-krum', vs, { f });
        const chosen = multi.selected!.map((i) => rows[i]!);
        assertClose(multi.result, naive.trimmed(chosen, 0), 1e-12, 'multi-krum');
      }),
      { numRuns: 25 },
    );
  });
});
