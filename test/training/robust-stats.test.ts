import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MarshalError } from '../../src/core/errors.ts';
import { mad, median, robustOutliers } from '../../src/training/robust-stats.ts';
import { pinPropertySeed } from '../helpers/property-seed.ts';

pinPropertySeed();

const finite = fc.double({ min: -1e6, max: 1e6, noNaN: true });

describe('robust-stats', () => {
  it('median and MAD match hand computation', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(mad([1, 1, 2, 2, 4, 6, 9]), 1);
    assert.equal(mad([5, 5, 5]), 0);
  });

  it('median splits the values in half and ignores order', () => {
    fc.assert(
      fc.property(fc.array(finite, { minLength: 1, maxLength: 40 }), (xs) => {
        const m = median(xs);
        assert.ok(xs.filter((x) => x <= m).length >= xs.length / 2);
        assert.ok(xs.filter((x) => x >= m).length >= xs.length / 2);
        assert.equal(median([...xs].reverse()), m);
      }),
    );
  });

  it('flags the modified z-score outliers and every non-finite value', () => {
    // median 1.2, MAD 0.1: 0.6745 * 98.8 / 0.1 is far above 3.5, 1.0 and 1.4 score 1.349.
    assert.deepEqual(robustOutliers([1.2, 1.3, 1.1, 100, 1.2, 1.0, 1.4]), [3]);
    assert.deepEqual(robustOutliers([1, Number.NaN, 1, Number.POSITIVE_INFINITY, 1]), [1, 3]);
    // MAD 0 (most values equal): the mean absolute deviation stands in.
    assert.deepEqual(robustOutliers([5, 5, 5, 5, 50]), [4]);
    assert.deepEqual(robustOutliers([7, 7, 7]), []);
    assert.deepEqual(robustOutliers([]), []);
    // median 3, MAD 1: 1 scores 0.6745 * 2 = 1.349 > 1, 10 scores 4.72; 2 and 4 score 0.6745.
    assert.deepEqual(robustOutliers([1, 2, 3, 4, 10], { k: 1 }), [0, 4]);
  });

  it('always flags a value pushed far from a cluster', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 5, maxLength: 30 }),
        fc.nat({ max: 29 }),
        (xs, pick) => {
          const i = pick % xs.length;
          const values = [...xs];
          values[i] = 1e6;
          assert.ok(robustOutliers(values).includes(i));
        },
      ),
    );
  });

  it('rejects empty and non-finite input to median', () => {
    assert.throws(
      () => median([]),
      (e: unknown) => e instanceof MarshalError && /^xs: /.test(e.message),
    );
    assert.throws(
      () => median([1, Number.NaN]),
      (e: unknown) => e instanceof MarshalError && /^xs\[1\]: /.test(e.message),
    );
    assert.throws(
      () => robustOutliers([1], { k: 0 }),
      (e: unknown) => e instanceof MarshalError && /^k: /.test(e.message),
    );
  });
});
