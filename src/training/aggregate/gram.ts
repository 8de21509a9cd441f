import type { Vectors } from './types.ts';

/**
 * Gram matrix of the inputs centred on the first one: G[i][j] = (x_i - x_0) . (x_j - x_0), full
 * n x n, row-major. Every pairwise squared distance follows as G_ii + G_jj - 2 G_ij (see
 * {@link squaredDistances}), so the data is read once and only n(n-1)/2 dot products are formed.
 * Centring on x_0 keeps the norms at the scale of the spread of the inputs rather than of their
 * position, which avoids the cancellation of the textbook |x|^2 + |y|^2 - 2 x.y and makes the
 * result exactly translation-invariant whenever the subtractions are exact.
 *
 * The work is blocked: a block of coordinates of every centred input is copied into one scratch
 * buffer that stays in cache, and dot products are taken for two rows against four columns at a
 * time, so six loads feed eight multiply-adds. A non-finite input shows up as a non-finite diagonal entry
 * (except in x_0 alone when n = 1, which callers check on their output).
 */
export function centredGram(vectors: Vectors, d: number): Float64Array {
  const n = vectors.length;
  const B = Math.max(64, Math.min(4096, Math.floor(16384 / n)));
  const sc = new Float64Array(n * B);
  const G = new Float64Array(n * n);
  const x0 = vectors[0]!;
  for (let k0 = 0; k0 < d; k0 += B) {
    const len = Math.min(B, d - k0);
    // TypedArray#set converts Float32 to Float64 natively; the subtraction then runs on doubles.
    sc.set(x0.subarray(k0, k0 + len), 0);
    for (let i = 1; i < n; i++) {
      const o = i * B;
      sc.set(vectors[i]!.subarray(k0, k0 + len), o);
      for (let t = 0; t < len; t++) sc[o + t] = sc[o + t]! - sc[t]!;
    }
    let i = 1;
    for (; i + 1 < n; i += 2) accumulateRowPair(sc, G, i, n, B, len);
    if (i < n) accumulateRow(sc, G, i, n, B, len);
  }
  for (let i = 1; i < n; i++) {
    for (let j = 1; j < i; j++) G[j * n + i] = G[i * n + j]!;
  }
  return G;
}

/**
 * Adds the block's dot products of rows i and i + 1 with rows 1..i + 1 into G. Tiles of four
 * columns may reach past the diagonal (most of the work for small n would otherwise fall to the
 * slower one-column loop); those upper-triangle sums are overwritten when G is made symmetric.
 */
function accumulateRowPair(
  sc: Float64Array,
  G: Float64Array,
  i: number,
  n: number,
  B: number,
  len: number,
): void {
  const oa = i * B;
  const ob = oa + B;
  let j = 1;
  for (; j <= i + 1 && j + 3 < n; j += 4) {
    const o0 = j * B;
    const o1 = o0 + B;
    const o2 = o1 + B;
    const o3 = o2 + B;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let b0 = 0;
    let b1 = 0;
    let b2 = 0;
    let b3 = 0;
    for (let t = 0; t < len; t++) {
      const x = sc[oa + t]!;
      const y = sc[ob + t]!;
      const c0 = sc[o0 + t]!;
      const c1 = sc[o1 + t]!;
      const c2 = sc[o2 + t]!;
      const c3 = sc[o3 + t]!;
      a0 += x * c0;
      a1 += x * c1;
      a2 += x * c2;
      a3 += x * c3;
      b0 += y * c0;
      b1 += y * c1;
      b2 += y * c2;
      b3 += y * c3;
    }
    const g = i * n + j;
    G[g]! += a0;
    G[g + 1]! += a1;
    G[g + 2]! += a2;
    G[g + 3]! += a3;
    const h = g + n;
    G[h]! += b0;
    G[h + 1]! += b1;
    G[h + 2]! += b2;
    G[h + 3]! += b3;
  }
  for (; j <= i + 1; j++) {
    const oj = j * B;
    let a = 0;
    let b = 0;
    for (let t = 0; t < len; t++) {
      const c = sc[oj + t]!;
      a += sc[oa + t]! * c;
      b += sc[ob + t]! * c;
    }
    if (j <= i) G[i * n + j]! += a;
    G[(i + 1) * n + j]! += b;
  }
}

/** Adds the block's dot products of row i with rows 1..i into G[i][1..i]. */
function accumulateRow(
  sc: Float64Array,
  G: Float64Array,
  i: number,
  n: number,
  B: number,
  len: number,
): void {
  const oi = i * B;
  let j = 1;
  for (; j + 3 <= i; j += 4) {
    const o0 = j * B;
    const o1 = o0 + B;
    const o2 = o1 + B;
    const o3 = o2 + B;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let t = 0; t < len; t++) {
      const a = sc[oi + t]!;
      s0 += a * sc[o0 + t]!;
      s1 += a * sc[o1 + t]!;
      s2 += a * sc[o2 + t]!;
      s3 += a * sc[o3 + t]!;
    }
    const g = i * n + j;
    G[g]! += s0;
    G[g + 1]! += s1;
    G[g + 2]! += s2;
    G[g + 3]! += s3;
  }
  for (; j <= i; j++) {
    const oj = j * B;
    let s = 0;
    for (let t = 0; t < len; t++) s += sc[oi + t]! * sc[oj + t]!;
    G[i * n + j]! += s;
  }
}

/** Pairwise squared Euclidean distances from a centred Gram matrix (clamped at 0 against rounding). */
export function squaredDistances(G: Float64Array, n: number): Float64Array {
  const D = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      const v = Math.max(0, G[i * n + i]! + G[j * n + j]! - 2 * G[i * n + j]!);
      D[i * n + j] = v;
      D[j * n + i] = v;
    }
  }
  return D;
}

/** True when every diagonal entry (every squared norm) is finite. */
export function gramIsFinite(G: Float64Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (!Number.isFinite(G[i * n + i]!)) return false;
  return true;
}
