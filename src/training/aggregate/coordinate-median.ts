import { failNonFinite, requireN } from './preconditions.ts';
import { insertionSort, maxOf, selectInPlace } from './select.ts';
import { squaredDistancesTo } from './squared-distances-to.ts';
import { COLUMN_BLOCK, transposeBlock } from './transpose.ts';
import type { Vectors } from './types.ts';

/** Columns up to this length are sorted rather than selected in. */
const SORT_BELOW = 12;

/**
 * Coordinate-wise median (the mean of the two middle values for even n). With f Byzantine inputs
 * and n > 2f, every coordinate lies between the smallest and largest honest value.
 * Precondition: n >= 2f + 1.
 */
export function coordinateMedian(vectors: Vectors, f: number, d: number, out: Float64Array): Float64Array {
  requireN('median', vectors.length, f, 2 * f + 1, 'n >= 2f + 1');
  if (coordinateMedianInto(vectors, d, out) !== 0) failNonFinite('median', vectors);
  return out;
}

/**
 * Writes the coordinate-wise median into `out`; returns 0 when every input value was finite (NaN
 * otherwise, and `out` is then meaningless). Shared with centered-clipping's start point: given
 * `dist`, it also adds each input's squared distance to the median, block by block while the
 * block is still in cache.
 */
export function coordinateMedianInto(
  vectors: Vectors,
  d: number,
  out: Float64Array,
  dist?: Float64Array,
): number {
  const n = vectors.length;
  const scratch = new Float64Array(n * COLUMN_BLOCK);
  const hi = n >> 1;
  const even = n % 2 === 0;
  let bad = 0;
  for (let k0 = 0; k0 < d; k0 += COLUMN_BLOCK) {
    const len = Math.min(COLUMN_BLOCK, d - k0);
    if (n === 8) {
      // Eight inputs (a common worker count): a sorting network straight from the rows, no copy.
      bad += median8Block(vectors, k0, k0 + len, out);
      if (bad !== 0) return bad;
      if (dist) squaredDistancesTo(vectors, out, k0, k0 + len, dist);
      continue;
    }
    bad += transposeBlock(vectors, k0, len, scratch);
    if (bad !== 0) return bad;
    for (let t = 0, lo = 0; t < len; t++, lo += n) {
      if (n <= SORT_BELOW) {
        insertionSort(scratch, lo, lo + n);
        out[k0 + t] = even ? (scratch[lo + hi - 1]! + scratch[lo + hi]!) / 2 : scratch[lo + hi]!;
        continue;
      }
      const upper = selectInPlace(scratch, lo, lo + n, lo + hi);
      // After selecting rank n/2, the lower middle value is the largest of the slice below it.
      out[k0 + t] = even ? (maxOf(scratch, lo, lo + hi) + upper) / 2 : upper;
    }
    if (dist) squaredDistancesTo(vectors, out, k0, k0 + len, dist);
  }
  return bad;
}

/**
 * The median of 8 values per coordinate in [k0, k1): the mean of the 4th and 5th smallest, by the
 * optimal 19-comparator sorting network (Knuth, TAOCP 5.3.4) less the two comparators that cannot
 * move positions 3 and 4, with branch-free min/max on values read straight from the rows. Returns
 * 0 when every value was finite, NaN otherwise (x * 0), as transposeBlock does.
 */
function median8Block(vectors: Vectors, k0: number, k1: number, out: Float64Array): number {
  const [v0, v1, v2, v3, v4, v5, v6, v7] = vectors as [
    Vectors[0],
    Vectors[0],
    Vectors[0],
    Vectors[0],
    Vectors[0],
    Vectors[0],
    Vectors[0],
    Vectors[0],
  ];
  const min = Math.min;
  const max = Math.max;
  let bad = 0;
  for (let k = k0; k < k1; k++) {
    let a0 = v0[k]!;
    let a1 = v1[k]!;
    let a2 = v2[k]!;
    let a3 = v3[k]!;
    let a4 = v4[k]!;
    let a5 = v5[k]!;
    let a6 = v6[k]!;
    let a7 = v7[k]!;
    bad += (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7) * 0;
    let t = 0;
    // [0,2] [1,3] [4,6] [5,7]
    t = min(a0, a2);
    a2 = max(a0, a2);
    a0 = t;
    t = min(a1, a3);
    a3 = max(a1, a3);
    a1 = t;
    t = min(a4, a6);
    a6 = max(a4, a6);
    a4 = t;
    t = min(a5, a7);
    a7 = max(a5, a7);
    a5 = t;
    // [0,4] [1,5] [2,6] [3,7]
    t = min(a0, a4);
    a4 = max(a0, a4);
    a0 = t;
    t = min(a1, a5);
    a5 = max(a1, a5);
    a1 = t;
    t = min(a2, a6);
    a6 = max(a2, a6);
    a2 = t;
    t = min(a3, a7);
    a7 = max(a3, a7);
    a3 = t;
    // [0,1] [2,3] [4,5] [6,7]
    t = min(a0, a1);
    a1 = max(a0, a1);
    a0 = t;
    t = min(a2, a3);
    a3 = max(a2, a3);
    a2 = t;
    t = min(a4, a5);
    a5 = max(a4, a5);
    a4 = t;
    t = min(a6, a7);
    a7 = max(a6, a7);
    a6 = t;
    // [2,4] [3,5]
    t = min(a2, a4);
    a4 = max(a2, a4);
    a2 = t;
    t = min(a3, a5);
    a5 = max(a3, a5);
    a3 = t;
    // [1,4] [3,6]
    t = min(a1, a4);
    a4 = max(a1, a4);
    a1 = t;
    t = min(a3, a6);
    a6 = max(a3, a6);
    a3 = t;
    // [3,4] (the last layer's [1,2] and [5,6] cannot change positions 3 and 4)
    t = min(a3, a4);
    a4 = max(a3, a4);
    a3 = t;
    out[k] = (a3 + a4) / 2;
  }
  return bad;
}
