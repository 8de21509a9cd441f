import { nonFiniteInputs } from './preconditions.ts';
import { HIGH, halfSpreads, LOW, spreadScale } from './spread-scale.ts';
import type { Vectors } from './types.ts';

/**
 * The centre is accepted when the lower median of its squared distances to the others is at most
 * this many times the robust squared scale: every honest input is then within about 32 honest
 * spreads of it, so rounding costs at most about 2^11 ulps of an honest distance (~1e-13 relative),
 * while a mild outlier at index 0 (the bench's +5 offset: ratio about 40) costs no second pass.
 */
const NEAR = 1024;
/** Passes over the data at most: rescaling and recentring each take one, rarely more than two in all. */
const PASSES = 6;

/** The Gram matrix of {@link robustGram}, in units of `scale`: G = scale^2 (x_i - x_c).(x_j - x_c). */
export interface RobustGram {
  G: Float64Array;
  /** The power of two the centred inputs were multiplied by before squaring (1 unless extreme). */
  scale: number;
  /** The index c of the input the Gram matrix is centred on. */
  centre: number;
}

/**
 * Gram matrix of the inputs centred on an input x_c inside the honest cluster:
 * G[i][j] = s^2 (x_i - x_c).(x_j - x_c), full n x n, row-major, with s an exact power of two. Every
 * pairwise squared distance follows as (G_ii + G_jj - 2 G_ij) / s^2 (see {@link squaredDistances}).
 *
 * Why the centre matters: the rounding error of G_ii + G_jj - 2 G_ij is relative to |x_i - x_c|^2 +
 * |x_j - x_c|^2, not to |x_i - x_j|^2. Centred on a far outlier (input 0, as before, when input 0 is
 * Byzantine), every honest distance drowns in rounding noise and Krum selects the outlier. So the
 * first pass centres on input 0 and checks it: when the lower median of its squared distances to
 * the others is more than 1024 times the robust squared scale (the median over inputs of that same
 * statistic, set by the honest inputs when n > 2f), the pass is redone centred on the input with
 * the smallest statistic. A far centre still separates far from near correctly, so the second pass
 * centres inside the cluster; a third is needed only when the first could not resolve the cluster
 * (outliers at several scales). Clean data takes one pass.
 *
 * Why s: huge differences (1e153) would overflow the squares and tiny ones (1e-163, whatever the
 * inputs' magnitude) would square to subnormals or to 0. The first pass uses s = 1; when a centred
 * squared norm (other than the centre's own) is below 2^-600 (0 included: it may have underflowed)
 * or above 2^900 or not finite, the differences themselves are measured (max_k |x_i[k] - x_c[k]|
 * per input, one O(n d) read) and the pass is redone with s chosen from them
 * ({@link spreadScale}), so distances are refused only when they are not finite.
 *
 * The work is blocked: a block of coordinates of every centred input is copied into one scratch
 * buffer that stays in cache, and dot products are taken for two rows against four columns at a
 * time. Returns undefined when an input value is not finite.
 */
export function robustGram(vectors: Vectors, d: number): RobustGram | undefined {
  const n = vectors.length;
  let scale = 1;
  let centre = 0;
  let G: Float64Array = new Float64Array(0);
  for (let pass = 0; pass < PASSES; pass++) {
    G = gramPass(vectors, d, scale, centre);
    if (!diagonalFinite(G, n) && nonFiniteInputs(vectors).length > 0) return undefined;
    const next = outOfRange(G, n, centre)
      ? spreadScale(halfSpreads(vectors, vectors[centre]!), d, scale)
      : scale;
    if (next !== scale) {
      scale = next;
      continue;
    }
    const better = recentre(squaredDistances(G, n), n, centre);
    if (better === centre) break;
    centre = better;
  }
  return { G, scale, centre };
}

function diagonalFinite(G: Float64Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (!Number.isFinite(G[i * n + i]!)) return false;
  return true;
}

/** `centre` when it is near the cluster (see {@link robustGram}), else the input nearest to it. */
function recentre(D: Float64Array, n: number, centre: number): number {
  if (n < 3) return centre;
  const stat: number[] = [];
  const row = new Float64Array(n - 1);
  for (let i = 0; i < n; i++) {
    for (let j = 0, o = 0; j < n; j++) if (j !== i) row[o++] = D[i * n + j]!;
    row.sort();
    stat.push(row[(n - 2) >> 1]!);
  }
  const scale = [...stat].sort((a, b) => a - b)[(n - 1) >> 1]!;
  if (stat[centre]! <= NEAR * scale) return centre;
  let best = 0;
  for (let i = 1; i < n; i++) if (stat[i]! < stat[best]!) best = i;
  return best;
}

/**
 * True when a centred squared norm other than the centre's may have underflowed (below 2^-LOW,
 * 0 included), is near overflow (above 2^HIGH) or is not finite.
 */
function outOfRange(G: Float64Array, n: number, centre: number): boolean {
  for (let i = 0; i < n; i++) {
    if (i === centre) continue;
    const g = G[i * n + i]!;
    if (!(g >= 2 ** -LOW && g <= 2 ** HIGH)) return true;
  }
  return false;
}

function gramPass(vectors: Vectors, d: number, s: number, c: number): Float64Array {
  const n = vectors.length;
  const B = Math.max(64, Math.min(4096, Math.floor(16384 / n)));
  const centre = new Float64Array(B);
  const sc = new Float64Array(n * B);
  const G = new Float64Array(n * n);
  const xc = vectors[c]!;
  for (let k0 = 0; k0 < d; k0 += B) {
    const len = Math.min(B, d - k0);
    // TypedArray#set converts Float32 to Float64 natively; scaling by a power of two is exact.
    centre.set(xc.subarray(k0, k0 + len), 0);
    if (s !== 1) for (let t = 0; t < len; t++) centre[t] = centre[t]! * s;
    for (let i = 0; i < n; i++) {
      const o = i * B;
      sc.set(vectors[i]!.subarray(k0, k0 + len), o);
      if (s === 1) for (let t = 0; t < len; t++) sc[o + t] = sc[o + t]! - centre[t]!;
      else for (let t = 0; t < len; t++) sc[o + t] = sc[o + t]! * s - centre[t]!;
    }
    let i = 0;
    for (; i + 1 < n; i += 2) accumulateRowPair(sc, G, i, n, B, len);
    if (i < n) accumulateRow(sc, G, i, n, B, len);
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) G[j * n + i] = G[i * n + j]!;
  }
  return G;
}

/**
 * Adds the block's dot products of rows i and i + 1 with rows 0..i + 1 into G. Tiles of four
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
  let j = 0;
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

/** Adds the block's dot products of row i with rows 0..i into G[i][0..i]. */
function accumulateRow(
  sc: Float64Array,
  G: Float64Array,
  i: number,
  n: number,
  B: number,
  len: number,
): void {
  const oi = i * B;
  let j = 0;
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

/** Pairwise squared Euclidean distances from a centred Gram matrix (in its units) (clamped at 0 against rounding). */
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
