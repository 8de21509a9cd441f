import { failNonFinite, requireN } from './preconditions.ts';
import type { Vectors } from './types.ts';

/** Coordinates per block when accumulating: the running sums stay in L1. */
const BLOCK = 2048;

/**
 * Coordinate-wise mean. Not robust: one Byzantine input moves it arbitrarily far, so it is the
 * baseline. Precondition: n >= f + 1 (at least one honest input).
 */
export function mean(vectors: Vectors, f: number, d: number): Float64Array {
  requireN('mean', vectors.length, f, f + 1, 'n >= f + 1');
  const n = vectors.length;
  const out = weightedSum(vectors, new Float64Array(n).fill(1), d);
  let bad = 0;
  for (let k = 0; k < d; k++) {
    const s = out[k]! / n;
    bad += s * 0;
    out[k] = s;
  }
  if (bad !== 0) failNonFinite('mean', vectors);
  return out;
}

/**
 * out[k] += sum_i weights[i] * vectors[i][k] (out starts at 0 when not given). Blocked so each
 * block of sums stays in L1 while the inputs stream through once, and four inputs are added per
 * pass over a block so every load and store of a sum serves four inputs. Zero weights are skipped.
 */
export function weightedSum(
  vectors: Vectors,
  weights: Float64Array,
  d: number,
  out: Float64Array = new Float64Array(d),
): Float64Array {
  const active = nonZero(weights);
  for (let k0 = 0; k0 < d; k0 += BLOCK)
    accumulateRange(vectors, active, weights, k0, Math.min(k0 + BLOCK, d), out);
  return out;
}

/** Indices of the non-zero weights. */
export function nonZero(weights: Float64Array): number[] {
  const active: number[] = [];
  for (let i = 0; i < weights.length; i++) if (weights[i] !== 0) active.push(i);
  return active;
}

/**
 * out[k] += sum over i in `active` of weights[i] * vectors[i][k], for k in [k0, k1): four inputs per
 * pass over the block, and the last one to three together.
 */
export function accumulateRange(
  vectors: Vectors,
  active: readonly number[],
  weights: Float64Array,
  k0: number,
  k1: number,
  out: Float64Array,
): void {
  const m = active.length;
  let p = 0;
  for (; p + 3 < m; p += 4) {
    const ia = active[p]!;
    const ib = active[p + 1]!;
    const ic = active[p + 2]!;
    const id = active[p + 3]!;
    const a = vectors[ia]!;
    const b = vectors[ib]!;
    const c = vectors[ic]!;
    const e = vectors[id]!;
    const wa = weights[ia]!;
    const wb = weights[ib]!;
    const wc = weights[ic]!;
    const we = weights[id]!;
    for (let k = k0; k < k1; k++) out[k] = out[k]! + (wa * a[k]! + wb * b[k]! + wc * c[k]! + we * e[k]!);
  }
  const left = m - p;
  if (left === 3) {
    const a = vectors[active[p]!]!;
    const b = vectors[active[p + 1]!]!;
    const c = vectors[active[p + 2]!]!;
    const wa = weights[active[p]!]!;
    const wb = weights[active[p + 1]!]!;
    const wc = weights[active[p + 2]!]!;
    for (let k = k0; k < k1; k++) out[k] = out[k]! + (wa * a[k]! + wb * b[k]! + wc * c[k]!);
  } else if (left === 2) {
    const a = vectors[active[p]!]!;
    const b = vectors[active[p + 1]!]!;
    const wa = weights[active[p]!]!;
    const wb = weights[active[p + 1]!]!;
    for (let k = k0; k < k1; k++) out[k] = out[k]! + (wa * a[k]! + wb * b[k]!);
  } else if (left === 1) {
    const a = vectors[active[p]!]!;
    const wa = weights[active[p]!]!;
    for (let k = k0; k < k1; k++) out[k] = out[k]! + wa * a[k]!;
  }
}
