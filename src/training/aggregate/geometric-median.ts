import { settingDefault } from '../settings.ts';
import { robustGram, squaredDistances } from './gram.ts';
import { weightedSum } from './mean.ts';
import { failNonFinite, preconditionFailed, requireN } from './preconditions.ts';
import type { Vectors } from './types.ts';

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
 * mean, then repeatedly take the average of the inputs weighted by 1 / max(nu, distance). The
 * iterate is always a convex combination sum_j a_j x_j, so distances follow from the Gram matrix
 * centred on the coordinate-wise median ({@link robustGram}): |x_i - z|^2 = G_ii - 2 (G a)_i + a'Ga.
 * Every term is at the scale of the honest spread for honest i, so the distances stay accurate
 * however far the Byzantine inputs are. The data is read twice in all (once for the Gram matrix,
 * once for the final combination) and each iteration costs O(n^2), whatever d is. The smoothing
 * floor and the stopping rule are both relative to the robust scale, which the Byzantine inputs
 * cannot inflate when n > 2f. With f < n/2 Byzantine inputs the result stays within r n / (n - 2f)
 * of any point that has every honest input within distance r. Precondition: n >= 2f + 1.
 */
export function geometricMedian(
  vectors: Vectors,
  f: number,
  d: number,
  options: GeometricMedianOptions = {},
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
  const gram = robustGram(vectors, d);
  if (gram === undefined) failNonFinite(rule, vectors);
  // Everything below is in the Gram matrix's units (input units times gram.scale).
  const { G, scale: unit } = gram;
  const scale = robustScale(squaredDistances(G, n), n);
  if (options.nu !== undefined && (!Number.isFinite(options.nu) || options.nu <= 0)) {
    preconditionFailed(rule, 'nu > 0', `nu must be a positive finite number, got ${String(options.nu)}`, {
      nu: options.nu,
    });
  }
  const nu = options.nu === undefined ? 1e-6 * scale : options.nu * unit;
  const alpha = new Float64Array(n).fill(1 / n);
  const dist = new Float64Array(n);
  distances(G, n, alpha, dist);
  const next = new Float64Array(n);
  const step = new Float64Array(n);
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
    alpha.set(next);
    iterations++;
    // |z_new - z_old|^2 = step' G step; stop once the move is small against the honest spread (the
    // mean distance, used before, is set by the farthest outlier and stopped at once).
    const moved = Math.sqrt(Math.max(0, quadratic(G, n, step)));
    distances(G, n, alpha, dist);
    if (moved <= tolerance * scale) break;
  }
  const result = weightedSum(vectors, alpha, d);
  for (let k = 0; k < d; k++) if (!Number.isFinite(result[k]!)) failNonFinite(rule, vectors);
  return { result, iterations, nu: nu / unit };
}

/**
 * A scale the Byzantine inputs cannot inflate when n > 2f: the median over i of the lower median of
 * i's distances to the others (for an honest i most of those are honest), from squared distances
 * D. When more than half of the inputs coincide that scale is 0 and the smallest positive distance
 * stands in (the largest, used before, is set by the outliers); 0 only when all inputs are equal.
 */
export function robustScale(D: Float64Array, n: number): number {
  const perInput: number[] = [];
  let smallest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const row: number[] = [];
    for (let j = 0; j < n; j++) if (j !== i) row.push(D[i * n + j]!);
    row.sort((a, b) => a - b);
    for (const x of row) if (x > 0 && x < smallest) smallest = x;
    perInput.push(row.length === 0 ? 0 : Math.sqrt(row[(row.length - 1) >> 1]!));
  }
  perInput.sort((a, b) => a - b);
  const scale = perInput[(n - 1) >> 1]!;
  if (scale > 0) return scale;
  return Number.isFinite(smallest) ? Math.sqrt(smallest) : 0;
}

/** x' G x. */
function quadratic(G: Float64Array, n: number, x: Float64Array): number {
  let q = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += G[i * n + j]! * x[j]!;
    q += x[i]! * s;
  }
  return q;
}

/** Fills dist with |x_i - z| for z = sum_j alpha_j x_j. */
function distances(G: Float64Array, n: number, alpha: Float64Array, dist: Float64Array): void {
  const ga = new Float64Array(n);
  let q = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += G[i * n + j]! * alpha[j]!;
    ga[i] = s;
    q += alpha[i]! * s;
  }
  for (let i = 0; i < n; i++) dist[i] = Math.sqrt(Math.max(0, G[i * n + i]! - 2 * ga[i]! + q));
}
