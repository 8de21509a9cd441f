/**
 * The float64 reference kernels themselves (src/training/aggregate/reference.ts) at extreme scales:
 * the power of two they square with is chosen from the differences, so a tiny honest spread next
 * to a large outlier does not underflow (it did when the scale came from the largest magnitude).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  aggregate,
  referenceAggregate,
  referenceDistance,
  referenceScale,
} from '../../src/training/aggregate/index.ts';
import { assertClose } from './aggregate-helpers.ts';

/** Honest rows 1e-160 + 1e-163 * small integers, and an outlier at 1 (index 0). */
function tinyCluster(): number[][] {
  const ints = [
    [1, 0, 2, -1],
    [0, 1, 1, 0],
    [2, 1, 0, 1],
    [1, 2, 1, -2],
    [-1, 0, 1, 1],
    [0, -1, 2, 0],
  ];
  const honest = ints.map((r) => r.map((x) => 1e-160 + 1e-163 * x));
  return [[1, 1, 1, 1], ...honest];
}

describe('reference kernels at extreme scales', () => {
  it('distances in a 1e-163 spread next to an outlier at 1 stay exact (no underflow)', () => {
    const rows = tinyCluster();
    const s = referenceScale(rows);
    for (let i = 1; i < rows.length; i++) {
      for (let j = i + 1; j < rows.length; j++) {
        let sum = 0;
        for (let k = 0; k < 4; k++) sum += ((rows[i]![k]! - rows[j]![k]!) / 1e-163) ** 2;
        const expected = Math.sqrt(sum) * 1e-163;
        const got = referenceDistance(rows[i]!, rows[j]!, s);
        assert.ok(Math.abs(got - expected) <= 1e-9 * expected, `${i} ${j}: ${got} vs ${expected}`);
      }
    }
  });

  it('krum, the geometric median and centered clipping see the honest spread at 1e-160', () => {
    const rows = tinyCluster();
    const vs = rows.map((r) => Float64Array.from(r));
    const krum = referenceAggregate('krum', rows, { f: 1 });
    assert.notEqual(krum.selected![0], 0);
    assert.deepEqual(krum.selected, aggregate('krum', vs, { f: 1 }).selected);
    const gm = referenceAggregate('geometric-median', rows, { f: 1 });
    assert.ok(gm.nu! > 0 && gm.nu! < 1e-6 * 1e-162, `nu ${gm.nu} is set by the honest spread`);
    const ours = aggregate('geometric-median', vs, { f: 1 });
    assertClose(
      ours.result.map((x) => x / 1e-163),
      gm.result.map((x) => x / 1e-163),
      1e-9,
      'geometric median',
    );
    const cc = referenceAggregate('centered-clipping', rows, { f: 1 });
    assert.ok(cc.tau! > 0 && cc.tau! < 1e-161, `tau ${cc.tau}`);
  });
});
