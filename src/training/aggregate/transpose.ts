import type { Vectors } from './types.ts';

/** Coordinates per block of the coordinate-wise rules: n * 256 doubles stay in L1/L2. */
export const COLUMN_BLOCK = 256;

/**
 * Copies coordinates [k0, k0 + len) of every vector into `scratch`, coordinate-major:
 * scratch[t * n + i] = vectors[i][k0 + t], so each coordinate's n values are one contiguous slice
 * for in-place selection. Reads each input sequentially. Returns 0 when every copied value is
 * finite and NaN otherwise (x * 0 is NaN exactly for NaN and +-Infinity), without a branch.
 */
export function transposeBlock(vectors: Vectors, k0: number, len: number, scratch: Float64Array): number {
  const n = vectors.length;
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const v = vectors[i]!;
    for (let t = 0, o = i; t < len; t++, o += n) {
      const x = v[k0 + t]!;
      bad += x * 0;
      scratch[o] = x;
    }
  }
  return bad;
}
