import { failNonFinite, preconditionFailed, requireN } from './preconditions.ts';
import { insertionSort, selectTwoInPlace } from './select.ts';
import { COLUMN_BLOCK, transposeBlock } from './transpose.ts';
import type { Vectors } from './types.ts';

/** Columns up to this length are sorted rather than selected in. */
const SORT_BELOW = 12;

/**
 * Coordinate-wise trimmed mean: in every coordinate drop the `trim` largest and `trim` smallest
 * values and average the n - 2 trim left. With f <= trim Byzantine inputs the result lies between
 * the smallest and largest honest value. Preconditions: f <= trim, n >= 2 trim + 1.
 */
export function trimmedMean(
  vectors: Vectors,
  f: number,
  d: number,
  trim: number,
  out: Float64Array,
): Float64Array {
  const n = vectors.length;
  if (!Number.isSafeInteger(trim) || trim < f) {
    preconditionFailed(
      'trimmed-mean',
      'f <= trim',
      `trim must be an integer >= f = ${f}, got ${String(trim)}`,
      {
        f,
        trim,
      },
    );
  }
  requireN(
    'trimmed-mean',
    n,
    f,
    2 * trim + 1,
    trim === f ? 'n >= 2f + 1' : `n >= 2 trim + 1 (trim = ${trim})`,
  );
  const scratch = new Float64Array(n * COLUMN_BLOCK);
  const keep = n - 2 * trim;
  let bad = 0;
  for (let k0 = 0; k0 < d; k0 += COLUMN_BLOCK) {
    const len = Math.min(COLUMN_BLOCK, d - k0);
    bad += transposeBlock(vectors, k0, len, scratch);
    if (bad !== 0) failNonFinite('trimmed-mean', vectors);
    for (let t = 0, lo = 0; t < len; t++, lo += n) {
      // Ranks [0, trim) end up left of the middle and ranks [n - trim, n) right of it; a short
      // column is cheaper to sort outright than to select in twice.
      if (trim > 0) {
        if (n <= SORT_BELOW) insertionSort(scratch, lo, lo + n);
        else selectTwoInPlace(scratch, lo, lo + n, lo + trim, lo + n - trim - 1);
      }
      let s = 0;
      for (let i = lo + trim, end = lo + n - trim; i < end; i++) s += scratch[i]!;
      out[k0 + t] = s / keep;
    }
  }
  return out;
}
