import type { Vectors } from './types.ts';

/**
 * Weiszfeld steps taken from the data with the plain float64 arithmetic of the reference kernel
 * (reference.ts), operation for operation: sums run over the inputs in index order and over the
 * coordinates in order (block boundaries carry the running sums), and every difference is scaled
 * by the same kind of exact power of two. Where the stopping rule's threshold is close to the
 * rounding of the iterate itself, which step stops depends on rounding, and only the same
 * arithmetic stops at the same step; it is also the fallback when the distance identity of
 * geometric-median.ts would cancel too much.
 */

/** Coordinates per block: a block of the iterate and of every input stays in cache across the pass. */
const BLOCK = 1024;

/** sqrt(sum_k (a[k] s - b[k] s)^2) over all k, in order: the reference's distance, in units of s. */
export function directDistance(a: ArrayLike<number>, b: ArrayLike<number>, d: number, s: number): number {
  let sum = 0;
  for (let k = 0; k < d; k++) {
    const e = a[k]! * s - b[k]! * s;
    sum += e * e;
  }
  return Math.sqrt(sum);
}

/** z = the mean (summed in index order, then divided by n) and dist_i = s |x_i - z|. */
export function directMean(vectors: Vectors, d: number, dist: Float64Array, s: number): Float64Array {
  const n = vectors.length;
  const z = new Float64Array(d);
  const sums = new Float64Array(n);
  for (let k0 = 0; k0 < d; k0 += BLOCK) {
    const k1 = Math.min(d, k0 + BLOCK);
    for (let i = 0; i < n; i++) {
      const x = vectors[i]!;
      for (let k = k0; k < k1; k++) z[k] = z[k]! + x[k]!;
    }
    for (let k = k0; k < k1; k++) z[k] = z[k]! / n;
    addSquares(vectors, z, k0, k1, sums, s);
  }
  for (let i = 0; i < n; i++) dist[i] = Math.sqrt(sums[i]!);
  return z;
}

/**
 * One fused pass: z <- sum_i a_i x_i (a_i added in index order), dist_i = s |x_i - z_new| and the
 * move s |z_new - z_old| (returned). `scratch` (length d) holds the new iterate block by block.
 */
export function directStep(
  vectors: Vectors,
  d: number,
  a: Float64Array,
  z: Float64Array,
  dist: Float64Array,
  s: number,
  scratch: Float64Array,
): number {
  const n = vectors.length;
  const sums = new Float64Array(n);
  let moved = 0;
  for (let k0 = 0; k0 < d; k0 += BLOCK) {
    const k1 = Math.min(d, k0 + BLOCK);
    scratch.fill(0, k0, k1);
    for (let i = 0; i < n; i++) {
      const x = vectors[i]!;
      const w = a[i]!;
      for (let k = k0; k < k1; k++) scratch[k] = scratch[k]! + w * x[k]!;
    }
    for (let k = k0; k < k1; k++) {
      const e = scratch[k]! * s - z[k]! * s;
      moved += e * e;
      z[k] = scratch[k]!;
    }
    addSquares(vectors, z, k0, k1, sums, s);
  }
  for (let i = 0; i < n; i++) dist[i] = Math.sqrt(sums[i]!);
  return Math.sqrt(moved);
}

/** sums[i] += (x_i[k] s - z[k] s)^2 for k in [k0, k1), continuing each running sum in order. */
function addSquares(
  vectors: Vectors,
  z: Float64Array,
  k0: number,
  k1: number,
  sums: Float64Array,
  s: number,
): void {
  for (let i = 0; i < vectors.length; i++) {
    const x = vectors[i]!;
    let sum = sums[i]!;
    for (let k = k0; k < k1; k++) {
      const e = x[k]! * s - z[k]! * s;
      sum += e * e;
    }
    sums[i] = sum;
  }
}
