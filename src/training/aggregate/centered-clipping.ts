import { median } from '../robust-stats.ts';
import { coordinateMedianInto } from './coordinate-median.ts';
import { accumulateRange, nonZero } from './mean.ts';
import { failNonFinite, preconditionFailed, requireN } from './preconditions.ts';
import { HIGH, halfSpreads, LOW, spreadScale } from './spread-scale.ts';
import { squaredDistancesTo } from './squared-distances-to.ts';
import type { Vector, Vectors } from './types.ts';

/** Coordinates per block: one block of every input stays in cache between the update and the distances. */
const BLOCK = 1024;

export interface CenteredClippingOptions {
  /** Number L of clipping steps (default 3). */
  iterations?: number | undefined;
  /** Clipping radius (default: the median distance of the inputs to the start point). */
  tau?: number | undefined;
  /** Start point (default: the coordinate-wise median). */
  momentum?: Vector | undefined;
}

export interface CenteredClippingOutcome {
  result: Float64Array;
  iterations: number;
  tau: number;
}

/**
 * Centered clipping (Karimireddy, He and Jaggi, ICML 2021): from a start point v, repeat L times
 * v <- v + (1/n) sum_i clip(x_i - v, tau), where clip(y, tau) = y * min(1, tau / |y|).
 * Each step is a convex combination of v and the honest inputs plus at most f tau / n from the
 * Byzantine ones, so starting inside the honest range the result stays within L f tau / n of it.
 * The default radius, the median distance to the start point, is at most the distance of some
 * honest input when n > 2f, and scales with the data. Each step reads the data once: the distances
 * for the next step are taken block by block right after the block is updated.
 * Precondition: n >= 2f + 1.
 */
export function centeredClipping(
  vectors: Vectors,
  f: number,
  d: number,
  options: CenteredClippingOptions,
  into: Float64Array,
): CenteredClippingOutcome {
  const rule = 'centered-clipping';
  const n = vectors.length;
  requireN(rule, n, f, 2 * f + 1, 'n >= 2f + 1');
  const steps = options.iterations ?? 3;
  if (!Number.isSafeInteger(steps) || steps < 1) {
    preconditionFailed(
      rule,
      'iterations >= 1',
      `iterations must be a positive integer, got ${String(steps)}`,
      {
        iterations: steps,
      },
    );
  }
  const dist = new Float64Array(n);
  const v = startPoint(vectors, d, options.momentum, dist, into);
  // Squares of huge or tiny differences leave float64's comfortable range (a distance of 0 may be
  // an underflow): redo them scaled by a power of two s chosen from the differences themselves.
  const s = dist.every((x) => x >= 2 ** -LOW && x <= 2 ** HIGH) ? 1 : spreadScale(halfSpreads(vectors, v), d);
  if (s !== 1) {
    dist.fill(0);
    squaredDistancesTo(vectors, v, 0, d, dist, s);
  }
  for (let i = 0; i < n; i++) dist[i] = Math.sqrt(dist[i]!) / s;
  if (!dist.every((x) => Number.isFinite(x))) failNonFinite(rule, vectors, 'distances');
  const tau = options.tau ?? median([...dist]);
  if (!Number.isFinite(tau) || tau < 0) {
    preconditionFailed(rule, 'tau >= 0', `tau must be a finite number >= 0, got ${String(tau)}`, { tau });
  }
  const w = new Float64Array(n);
  for (let step = 0; step < steps; step++) {
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const c = dist[i]! > tau ? tau / dist[i]! : 1;
      w[i] = c / n;
      kept += c / n;
    }
    const last = step === steps - 1;
    const active = nonZero(w);
    const keep = 1 - kept;
    dist.fill(0);
    for (let k0 = 0; k0 < d; k0 += BLOCK) {
      const k1 = Math.min(k0 + BLOCK, d);
      // v <- (1 - sum w) v + sum w_i x_i, i.e. v + sum w_i (x_i - v).
      for (let k = k0; k < k1; k++) v[k] = v[k]! * keep;
      accumulateRange(vectors, active, w, k0, k1, v);
      if (!last) squaredDistancesTo(vectors, v, k0, k1, dist, s);
    }
    if (!last) for (let i = 0; i < n; i++) dist[i] = Math.sqrt(dist[i]!) / s;
  }
  for (let k = 0; k < d; k++) if (!Number.isFinite(v[k]!)) failNonFinite(rule, vectors);
  return { result: v, iterations: steps, tau };
}

/** The start point, with dist filled with the squared distances of the inputs to it. */
function startPoint(
  vectors: Vectors,
  d: number,
  momentum: Vector | undefined,
  dist: Float64Array,
  into: Float64Array,
): Float64Array {
  const rule = 'centered-clipping';
  if (momentum === undefined) {
    const v = into;
    if (coordinateMedianInto(vectors, d, v, dist) !== 0) failNonFinite(rule, vectors);
    return v;
  }
  if (momentum.length !== d) {
    preconditionFailed(
      rule,
      'equal lengths',
      `momentum has length ${momentum.length}, inputs have length ${d}`,
      {
        length: momentum.length,
        expected: d,
      },
    );
  }
  const v = into;
  v.set(momentum);
  const bad = v.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) {
    preconditionFailed(
      rule,
      'finite values',
      `momentum has a non-finite value ${String(v[bad])} at coordinate ${bad}`,
      {
        coordinate: bad,
      },
    );
  }
  for (let k0 = 0; k0 < d; k0 += BLOCK) squaredDistancesTo(vectors, v, k0, Math.min(k0 + BLOCK, d), dist);
  return v;
}
