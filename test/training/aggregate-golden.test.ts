import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MarshalError } from '../../src/core/errors.ts';
import { AGGREGATION_RULES, aggregate } from '../../src/training/aggregate/index.ts';
import { assertClose, toVectors } from './aggregate-helpers.ts';

const refused = (fn: () => unknown, needs: RegExp) =>
  assert.throws(
    fn,
    (e: unknown) =>
      e instanceof MarshalError && e.code === 'E_AGGREGATION_PRECONDITION' && needs.test(e.message),
  );

describe('aggregate: golden values computed by hand', () => {
  it('mean, median and trimmed mean', () => {
    assert.deepEqual(
      Array.from(
        aggregate(
          'mean',
          toVectors([
            [1, 2],
            [3, 4],
            [5, 9],
          ]),
          { f: 0 },
        ).result,
      ),
      [3, 5],
    );
    // Even n: coordinate 0 sorts to 1 2 3 100 -> (2 + 3) / 2; coordinate 1 to -5 0 10 20 -> 5.
    const even = toVectors([
      [1, 10],
      [2, 20],
      [100, -5],
      [3, 0],
    ]);
    assert.deepEqual(Array.from(aggregate('median', even, { f: 1 }).result), [2.5, 5]);
    // Odd n with a long column (selection, not insertion sort): median of 0..40 shuffled is 20.
    const long = toVectors(Array.from({ length: 41 }, (_, i) => [(i * 17) % 41, -((i * 17) % 41)]));
    assert.deepEqual(Array.from(aggregate('median', long, { f: 20 }).result), [20, -20]);
    // f = 1: drop the smallest and largest per coordinate: (2 + 3 + 4) / 3 and (5 + 6 + 7) / 3;
    // trim = 2 keeps only the middle values 3 and 6.
    const rows = toVectors([
      [1, 5],
      [2, -100],
      [3, 6],
      [4, 7],
      [100, 8],
    ]);
    assert.deepEqual(Array.from(aggregate('trimmed-mean', rows, { f: 1 }).result), [3, 6]);
    assert.deepEqual(Array.from(aggregate('trimmed-mean', rows, { f: 0, trim: 2 }).result), [3, 6]);
    const trimmedLong = aggregate('trimmed-mean', long, { f: 10 }).result;
    assert.deepEqual(Array.from(trimmedLong), [20, -20]);
  });

  it('krum and multi-krum scores, selection and result', () => {
    // Squared distances: neighbours 2, two apart 8; to the outlier 19405, 19013, 18625, 18241.
    // n - f - 2 = 2 nearest: scores 2+8, 2+2, 2+2, 2+8, 18241+18625.
    const rows = toVectors([
      [1, 2],
      [2, 3],
      [3, 4],
      [4, 5],
      [100, 100],
    ]);
    const krum = aggregate('krum', rows, { f: 1 });
    assert.deepEqual(krum.scores, [10, 4, 4, 10, 36866]);
    assert.deepEqual(krum.selected, [1]);
    assert.deepEqual(Array.from(krum.result), [2, 3]);
    const multi = aggregate('multi-krum', rows, { f: 1 });
    assert.deepEqual(multi.selected, [1, 2, 0, 3]);
    assert.deepEqual(Array.from(multi.result), [2.5, 3.5]);
    assert.deepEqual(Array.from(aggregate('multi-krum', rows, { f: 1, m: 2 }).result), [2.5, 3.5]);
  });

  it('geometric median: symmetric and one-dimensional cases', () => {
    const square = toVectors([
      [0, 0],
      [2, 0],
      [0, 2],
      [2, 2],
    ]);
    assertClose(aggregate('geometric-median', square, { f: 1 }).result, [1, 1], 1e-9);
    // In one dimension the geometric median is the median, unmoved by how far 10 is.
    const line = toVectors([[0], [1], [10]]);
    const gm = aggregate('geometric-median', line, { f: 1 });
    assertClose(gm.result, [1], 1e-5);
    assert.ok(gm.iterations! >= 1);
    // Three of five at one point: that point.
    assertClose(
      aggregate('geometric-median', toVectors([[3], [3], [3], [-50], [80]]), { f: 2 }).result,
      [3],
      1e-5,
    );
  });

  it('centered clipping steps by hand', () => {
    // Start at the median 2; distances 2 1 0 2 98, tau = their median 2.
    // Step 1: clipped differences -2 -1 0 2 2, mean 0.2 -> 2.2.
    // Step 2: -2 -1.2 -0.2 1.8 2, mean 0.08 -> 2.28. Step 3: -2 -1.28 -0.28 1.72 2, mean 0.032 -> 2.312.
    const rows = toVectors([[0], [1], [2], [4], [100]]);
    const cc = aggregate('centered-clipping', rows, { f: 1 });
    assert.equal(cc.tau, 2);
    assert.equal(cc.iterations, 3);
    assertClose(cc.result, [2.312], 1e-12);
    assertClose(aggregate('centered-clipping', rows, { f: 1, iterations: 1 }).result, [2.2], 1e-12);
    // From a given momentum 0 with tau 1: differences clip to 0 1 1 1 1 -> 0.8.
    assertClose(
      aggregate('centered-clipping', rows, { f: 1, iterations: 1, tau: 1, momentum: new Float64Array([0]) })
        .result,
      [0.8],
      1e-12,
    );
  });
});

describe('aggregate: the cases the original coordinator got wrong', () => {
  // The original's fixtures: workers as (gradient_norm, loss), honest near (1.2, 0.45), Byzantine at (100, 50).
  const honest = [
    [1.2, 0.45],
    [1.3, 0.47],
    [1.1, 0.44],
  ];
  const outlier = [100, 50];

  it('one outlier among 4: Krum refuses f = 1 (needs n >= 5) and with f = 0 picks an honest worker', () => {
    const rows = toVectors([...honest, outlier]);
    refused(
      () => aggregate('krum', rows, { f: 1 }),
      /krum: requires n >= 2f \+ 3, got n = 4, f = 1 \(needs n >= 5\)/,
    );
    const krum = aggregate('krum', rows, { f: 0 });
    assert.notEqual(krum.selected![0], 3);
    assert.ok(krum.scores![3]! > Math.max(...krum.scores!.slice(0, 3)));
    assert.deepEqual([...aggregate('multi-krum', rows, { f: 0, m: 3 }).selected!].sort(), [0, 1, 2]);
  });

  it('one outlier among 5 with f = 1: Krum and Multi-Krum leave it out', () => {
    const rows = toVectors([...honest, [1.25, 0.46], outlier]);
    assert.notEqual(aggregate('krum', rows, { f: 1 }).selected![0], 4);
    const multi = aggregate('multi-krum', rows, { f: 1 });
    assert.deepEqual([...multi.selected!].sort(), [0, 1, 2, 3]);
  });

  it('two colluding identical outliers among 5: squared distances to n - f - 2 neighbours expose them', () => {
    // The original scored with 1 neighbour, so each colluder scored 0 (its twin) and was never flagged.
    for (const positions of [
      [3, 4],
      [0, 2],
      [1, 4],
    ]) {
      const rows: number[][] = [...honest];
      for (const p of positions) rows.splice(p, 0, outlier);
      const krum = aggregate('krum', toVectors(rows), { f: 1 });
      const honestIdx = [0, 1, 2, 3, 4].filter((i) => !positions.includes(i));
      assert.ok(honestIdx.includes(krum.selected![0]!));
      const worstHonest = Math.max(...honestIdx.map((i) => krum.scores![i]!));
      for (const p of positions) assert.ok(krum.scores![p]! > 1000 * worstHonest);
      const multi = aggregate('multi-krum', toVectors(rows), { f: 1, m: 3 });
      assert.deepEqual([...multi.selected!].sort(), honestIdx);
    }
    refused(() => aggregate('krum', toVectors([...honest, outlier, outlier]), { f: 2 }), /needs n >= 7/);
    // Declaring f = 2 needs 7 workers; then Multi-Krum's default m = n - f = 5 is exactly the honest ones.
    const seven = toVectors([...honest, [1.25, 0.46], [1.15, 0.45], outlier, outlier]);
    assert.deepEqual([...aggregate('multi-krum', seven, { f: 2 }).selected!].sort(), [0, 1, 2, 3, 4]);
  });

  it('an honest minority (3 outliers among 4) is refused by every robust rule instead of flagging the honest one', () => {
    const rows = toVectors([honest[0]!, outlier, outlier, [99, 51]]);
    for (const rule of AGGREGATION_RULES.filter((r) => r !== 'mean')) {
      refused(() => aggregate(rule, rows, { f: 3 }), new RegExp(`^${rule}: requires n >= `));
    }
  });
});
