import { nonFiniteInputs } from './preconditions.ts';
import { HIGH, halfSpreads, LOW, spreadScale } from './spread-scale.ts';
import type { Vectors } from './types.ts';
import { wasmKernels } from './wasm.ts';

/** Pairwise squared distances in units of `scale`: D[i n + j] = scale^2 |x_i - x_j|^2, full n x n. */
export interface PairwiseDistances {
  D: Float64Array;
  /** The power of two the inputs were multiplied by before differencing (1 unless extreme). */
  scale: number;
}

/** Bytes of float64 rows per block (all n rows of a block stay in L2 while every pair is formed). */
const BLOCK_BYTES = 1 << 17;

/**
 * Every pairwise squared Euclidean distance, each taken directly as sum_k (x_i[k] - x_j[k])^2 in
 * float64 (never through a Gram matrix, whose rounding error is relative to the distances from its
 * centre rather than to the distance itself). Blocked: a block of coordinates of all n inputs is
 * converted to float64 once and every pair is formed from it while it is in cache, so the inputs
 * stream through memory once.
 *
 * Squares of huge or tiny differences leave float64's range: when a distance is above 2^HIGH, not
 * finite, below 2^-LOW, or 0 between inputs that differ (an underflow), the inputs are measured
 * (max_k |x_i[k] - x_c[k]|, one read, from an input c inside the tightest group: measured from a
 * far outlier every spread would look alike) and the pass is redone scaled by the power of two
 * {@link spreadScale} picks, so distances are refused only when they are not finite. Returns
 * undefined when an input value is not finite.
 */
export function pairwiseSquaredDistances(vectors: Vectors, d: number): PairwiseDistances | undefined {
  let D = pairsPass(vectors, d, 1);
  if (!inRange(D, vectors)) {
    if (nonFiniteInputs(vectors).length > 0) return undefined;
    const scale = spreadScale(halfSpreads(vectors, vectors[centreOf(D, vectors.length)]!), d, 1);
    if (scale !== 1) D = pairsPass(vectors, d, scale);
    return { D, scale };
  }
  return { D, scale: 1 };
}

/**
 * The input with the smallest lower median of its distances to the others (the lowest index among
 * equals): inside the tightest group even where the smallest distances underflowed to 0.
 */
function centreOf(D: Float64Array, n: number): number {
  let best = 0;
  let bestValue = Number.POSITIVE_INFINITY;
  const row = new Float64Array(Math.max(0, n - 1));
  for (let i = 0; i < n; i++) {
    for (let j = 0, o = 0; j < n; j++) if (j !== i) row[o++] = D[i * n + j]!;
    row.sort();
    const v = row[(n - 2) >> 1] ?? 0;
    if (v < bestValue) {
      best = i;
      bestValue = v;
    }
  }
  return best;
}

/** True when every distance is comfortably inside float64's range (an exact 0 only between equal inputs). */
function inRange(D: Float64Array, vectors: Vectors): boolean {
  const n = vectors.length;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const v = D[i * n + j]!;
      if (v >= 2 ** -LOW && v <= 2 ** HIGH) continue;
      if (v === 0 && equalVectors(vectors[i]!, vectors[j]!)) continue;
      return false;
    }
  }
  return true;
}

function equalVectors(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

/** One blocked pass; D full and symmetric, in units of s^2. */
export function pairsPass(vectors: Vectors, d: number, s: number): Float64Array {
  const n = vectors.length;
  const D = new Float64Array(n * n);
  if (n < 2) return D;
  const k = wasmKernels();
  // Rows hold an even number of coordinates (f64x2 lanes): B even, the last block padded with 0.
  const B = Math.max(16, Math.min(8192, (BLOCK_BYTES / (8 * n)) & ~1));
  // Rows a cache line more than a power of two apart (see combine in mean.ts).
  const S = B + 8;
  const stride = S * 8;
  const outPtr = n * stride;
  const memory = k?.memory(outPtr + n * n * 8);
  const rows = memory ? new Float64Array(memory, 0, n * S) : new Float64Array(n * S);
  const acc = memory ? new Float64Array(memory, outPtr, n * n) : D;
  acc.fill(0);
  for (let k0 = 0; k0 < d; k0 += B) {
    const len = Math.min(B, d - k0);
    const even = len + (len & 1);
    for (let i = 0; i < n; i++) {
      const o = i * S;
      rows.set(vectors[i]!.subarray(k0, k0 + len), o);
      if (even !== len) rows[o + len] = 0;
      if (s !== 1) for (let t = 0; t < len; t++) rows[o + t] = rows[o + t]! * s;
    }
    if (k) k.pairs(0, n, stride, even * 8, outPtr);
    else pairsBlock(rows, n, S, even, D);
  }
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const v = acc[i * n + j]!;
      D[i * n + j] = v;
      D[j * n + i] = v;
    }
  }
  return D;
}

/** The TypeScript version of the kernel: D[i n + j] += sum_t (x_i[t] - x_j[t])^2, i < j. */
export function pairsBlock(rows: Float64Array, n: number, B: number, len: number, D: Float64Array): void {
  for (let i = 0; i + 1 < n; i++) {
    const oi = i * B;
    let j = i + 1;
    for (; j + 3 < n; j += 4) {
      const o0 = j * B;
      const o1 = o0 + B;
      const o2 = o1 + B;
      const o3 = o2 + B;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let t = 0; t < len; t++) {
        const x = rows[oi + t]!;
        const e0 = x - rows[o0 + t]!;
        const e1 = x - rows[o1 + t]!;
        const e2 = x - rows[o2 + t]!;
        const e3 = x - rows[o3 + t]!;
        s0 += e0 * e0;
        s1 += e1 * e1;
        s2 += e2 * e2;
        s3 += e3 * e3;
      }
      const g = i * n + j;
      D[g]! += s0;
      D[g + 1]! += s1;
      D[g + 2]! += s2;
      D[g + 3]! += s3;
    }
    for (; j < n; j++) {
      const oj = j * B;
      let s = 0;
      for (let t = 0; t < len; t++) {
        const e = rows[oi + t]! - rows[oj + t]!;
        s += e * e;
      }
      D[i * n + j]! += s;
    }
  }
}
