import { settingDefault } from '../settings.ts';
import { weightedSum } from './mean.ts';
import { pairwiseSquaredDistances } from './pairwise.ts';
import { failNonFinite, preconditionFailed, requireN } from './preconditions.ts';
import type { Vectors } from './types.ts';
import { directDistance, directMean, directStep } from './weiszfeld-direct.ts';

export interface GeometricMedianOptions {
  /** Iteration cap (default 1000). */
  iterations?: number | undefined;
  /** Stop when an iteration moves the estimate by at most tolerance * the robust scale (default 1e-9, see {@link robustScale}). */
  tolerance?: number | undefined;
  /** Smoothing floor on distances (default 1e-6 * the robust scale of the inputs, see {@link robustScale}). */
  nu?: number | undefined;
}

export interface GeometricMedianOutcome {
  result: Float64Array;
  iterations: number;
  nu: number;
}

/**
 * Geometric median by the smoothed Weiszfeld algorithm (Weiszfeld 1937; smoothing as in
 * Pillutla, Kakade and Harchaoui, "Robust Aggregation for Federated Learning", 2022): start from the
 * mean, then repeatedly take the average of the inputs weighted by 1 / max(nu, distance).
 *
 * The iterate is always a convex combination z = sum_j a_j x_j, and for such a point
 * |x_i - z|^2 = (D a)_i - a'D a / 2 with D the pairwise squared distances, each taken directly
 * ({@link pairwiseSquaredDistances}). So one pass over the data gives D, the iterations cost O(n^2)
 * each whatever d is, and one more pass forms the result. The identity subtracts terms that can be
 * far larger than the distance (a far outlier with a small weight): each distance comes with the
 * size of the terms it cancelled, and when that ratio exceeds {@link MAX_CANCELLATION} the
 * remaining steps take their distances from the data (weiszfeld-direct.ts: one fused pass per
 * step). When the stopping threshold is within a few thousand ulps of the inputs' norms, which step
 * stops is decided by rounding; the whole iteration then runs from the data with the reference
 * kernel's arithmetic, so it stops where the plain float64 iteration stops. The smoothing floor and
 * the stopping rule are both relative to the robust scale, which the Byzantine inputs cannot
 * inflate when n > 2f. With f < n/2 Byzantine inputs the result stays within r n / (n - 2f) of any
 * point that has every honest input within distance r. Precondition: n >= 2f + 1.
 */
export function geometricMedian(
  vectors: Vectors,
  f: number,
  d: number,
  options: GeometricMedianOptions,
  into: Float64Array,
): GeometricMedianOutcome {
  const rule = 'geometric-median';
  const n = vectors.length;
  requireN(rule, n, f, 2 * f + 1, 'n >= 2f + 1');
  const cap = options.iterations ?? 1000;
  const tolerance = options.tolerance ?? settingDefault('aggregateTolerance')!;
  if (!Number.isSafeInteger(cap) || cap < 1) {
    preconditionFailed(rule, 'iterations >= 1', `iterations must be a positive integer, got ${String(cap)}`, {
      cap,
    });
  }
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    preconditionFailed(
      rule,
      'tolerance >= 0',
      `tolerance must be a finite number >= 0, got ${String(tolerance)}`,
      {
        tolerance,
      },
    );
  }
  const pairs = pairwiseSquaredDistances(vectors, d);
  if (pairs === undefined) failNonFinite(rule, vectors);
  // Everything below is in the rescaled units (input units times pairs.scale).
  const { D, scale: unit } = pairs;
  const scale = robustScale(D, n, (i, j) => directDistance(vectors[i]!, vectors[j]!, d, unit));
  if (options.nu !== undefined && (!Number.isFinite(options.nu) || options.nu <= 0)) {
    preconditionFailed(rule, 'nu > 0', `nu must be a positive finite number, got ${String(options.nu)}`, {
      nu: options.nu,
    });
  }
  const nu = options.nu === undefined ? 1e-6 * scale : options.nu * unit;
  const threshold = tolerance * scale;
  const alpha = new Float64Array(n).fill(1 / n);
  const dist = new Float64Array(n);
  const next = new Float64Array(n);
  const step = new Float64Array(n);
  // The explicit iterate once the steps are taken from the data; null before.
  let z: Float64Array | null = null;
  let buffer = new Float64Array(0);
  const fromData = (a: Float64Array | null): Float64Array => {
    buffer = new Float64Array(d);
    if (a === null) return directMean(vectors, d, dist, unit);
    const start = new Float64Array(d);
    directStep(vectors, d, a, start, dist, unit, buffer);
    return start;
  };
  if (scale > 0 && threshold > 0 && threshold <= ROUNDING_NEAR * normBound(vectors, D, d, unit)) {
    z = fromData(null);
  } else if (!identityDistances(D, n, alpha, dist, nu)) {
    z = fromData(alpha);
  }
  let iterations = 0;
  // scale === 0 only when every input is the same: the mean is then the answer.
  while (scale > 0 && iterations < cap) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      const w = 1 / Math.max(nu, dist[i]!);
      next[i] = w;
      total += w;
    }
    for (let i = 0; i < n; i++) {
      next[i] = next[i]! / total;
      step[i] = next[i]! - alpha[i]!;
    }
    let moved: number;
    if (z === null) {
      const m = movedSquared(D, n, step);
      if (m === undefined || !identityDistances(D, n, next, dist, nu)) {
        // Redo this step from the data, starting at the current iterate.
        z = fromData(alpha);
        continue;
      }
      moved = Math.sqrt(m);
    } else {
      moved = directStep(vectors, d, next, z, dist, unit, buffer);
    }
    alpha.set(next);
    iterations++;
    // Stop once the move is small against the honest spread (the mean distance, used before, is
    // set by the farthest outlier and stopped at once).
    if (moved <= threshold) break;
  }
  // The paths from the data keep their own iterate (rare: a far outlier or a rounding-level threshold).
  let result: Float64Array;
  if (z === null) result = weightedSum(vectors, alpha, d, into);
  else {
    into.set(z);
    result = into;
  }
  for (let k = 0; k < d; k++) if (!Number.isFinite(result[k]!)) failNonFinite(rule, vectors);
  return { result, iterations, nu: nu / unit };
}

/**
 * A threshold at most this fraction of the inputs' norms (2^12 ulps) is at the rounding level of
 * the iterate's coordinates: which step stops is then decided by rounding.
 */
const ROUNDING_NEAR = 2 ** -40;

/** An upper bound on every |x_i| (in units of s): |x_0| + max_j |x_j - x_0|, |x_0| read once. */
function normBound(vectors: Vectors, D: Float64Array, d: number, s: number): number {
  const x = vectors[0]!;
  let sum = 0;
  for (let k = 0; k < d; k++) {
    const e = x[k]! * s;
    sum += e * e;
  }
  let far = 0;
  for (let j = 1; j < vectors.length; j++) far = Math.max(far, D[j]!);
  return Math.sqrt(sum) + Math.sqrt(far);
}

/**
 * A scale the Byzantine inputs cannot inflate when n > 2f: the median over i of the lower median of
 * i's distances to the others (for an honest i most of those are honest), from squared distances
 * D. When more than half of the inputs coincide that scale is 0 and the smallest positive distance
 * stands in (the largest, used before, is set by the outliers); 0 only when all inputs are equal.
 */
export function robustScale(
  D: Float64Array,
  n: number,
  exact: (i: number, j: number) => number = (i, j) => Math.sqrt(D[i * n + j]!),
): number {
  const perInput: { value: number; i: number; j: number }[] = [];
  let smallest = { value: Number.POSITIVE_INFINITY, i: 0, j: 0 };
  for (let i = 0; i < n; i++) {
    const row: { value: number; j: number }[] = [];
    for (let j = 0; j < n; j++) if (j !== i) row.push({ value: D[i * n + j]!, j });
    row.sort((a, b) => a.value - b.value);
    for (const x of row)
      if (x.value > 0 && x.value < smallest.value) smallest = { value: x.value, i, j: x.j };
    const mid = row[(row.length - 1) >> 1];
    perInput.push(mid === undefined ? { value: 0, i, j: i } : { value: mid.value, i, j: mid.j });
  }
  perInput.sort((a, b) => a.value - b.value);
  // The chosen distance is taken again from the data in the reference's order of summation, so the
  // smoothing floor and the threshold are the reference's to the last bit.
  const chosen = perInput[(n - 1) >> 1]!;
  if (chosen.value > 0) return exact(chosen.i, chosen.j);
  return Number.isFinite(smallest.value) ? exact(smallest.i, smallest.j) : 0;
}

/**
 * Cancellation accepted in the identity: the terms it subtracts at most this many times the result.
 * D's entries are float64 sums of squares (relative error ~1e-15 in practice), so a distance
 * keeps about 1e-12 relative precision.
 */
const MAX_CANCELLATION = 1024;

/**
 * Fills dist with |x_i - z| for z = sum_j a_j x_j from D (a >= 0, sum a = 1), as
 * (D a)_i - a'D a / 2; false when, for a distance above the floor nu, the two terms are more than
 * MAX_CANCELLATION times its square (both terms are sums of non-negative products).
 */
function identityDistances(
  D: Float64Array,
  n: number,
  a: Float64Array,
  dist: Float64Array,
  nu: number,
): boolean {
  const da = new Float64Array(n);
  let q = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += D[i * n + j]! * a[j]!;
    da[i] = s;
    q += a[i]! * s;
  }
  q /= 2;
  const floor = nu * nu;
  for (let i = 0; i < n; i++) {
    const sq = da[i]! - q;
    if (da[i]! + q > MAX_CANCELLATION * Math.max(sq, floor)) return false;
    dist[i] = Math.sqrt(Math.max(0, sq));
  }
  return true;
}

/**
 * |z_new - z_old|^2 = -step' D step / 2 (the step's weights sum to 0), or undefined when the sum
 * of the absolute terms is more than MAX_CANCELLATION times the result.
 */
function movedSquared(D: Float64Array, n: number, step: Float64Array): number | undefined {
  let q = 0;
  let size = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    let t = 0;
    for (let j = 0; j < n; j++) {
      s += D[i * n + j]! * step[j]!;
      t += D[i * n + j]! * Math.abs(step[j]!);
    }
    q += step[i]! * s;
    size += Math.abs(step[i]!) * t;
  }
  const m = Math.max(0, -q / 2);
  return size / 2 > MAX_CANCELLATION * m && size > 0 ? undefined : m;
}
