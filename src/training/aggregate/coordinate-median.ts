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
export function coordinateMedian(vectors: Vectors, f: number, d: number): Float64Array {
  requireN('median', vectors.length, f, 2 * f + 1, 'n >= 2f + 1');
  const out = new Float64Array(d);
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
