import { failNonFinite, requireN } from './preconditions.ts';
import type { Vector, Vectors } from './types.ts';
import { wasmKernels } from './wasm.ts';

/** Coordinates per block when accumulating: the running sums stay in L1. */
const BLOCK = 2048;

/**
 * Coordinate-wise mean. Not robust: one Byzantine input moves it arbitrarily far, so it is the
 * baseline. Precondition: n >= f + 1 (at least one honest input). Summed in index order and then
 * divided, like the reference kernel (see {@link combine}).
 */
export function mean(vectors: Vectors, f: number, d: number, into: Float64Array): Float64Array {
  requireN('mean', vectors.length, f, f + 1, 'n >= f + 1');
  const n = vectors.length;
  const { out, bad } = combine(
    vectors,
    vectors.map((_, i) => i),
    new Float64Array(n).fill(1),
    d,
    n,
    into,
  );
  if (bad !== 0) failNonFinite('mean', vectors);
  return out;
}

/**
 * (sum over i in `rows` of weights[i] x_i) / divisor, every coordinate summed in the order of
 * `rows` from 0 and divided at the end, so Float32Array and Float64Array inputs holding the same
 * values give the same result to the last bit, and unit weights with divisor n give the reference
 * kernel's mean. Blocked: a block of every row is read once while the block's sums stay in cache.
 * WebAssembly SIMD for Float32Array inputs, the same arithmetic in TypeScript otherwise. `bad` is 0
 * when every result is finite, NaN otherwise. Written into `into` (length d, any contents).
 */
export function combine(
  vectors: Vectors,
  rows: readonly number[],
  weights: Float64Array,
  d: number,
  divisor: number,
  into: Float64Array,
): { out: Float64Array; bad: number } {
  const fast = combineWasm(vectors, rows, weights, d, divisor, into);
  if (fast !== undefined) return fast;
  const out = into;
  let bad = 0;
  for (let k0 = 0; k0 < d; k0 += BLOCK) {
    const k1 = Math.min(k0 + BLOCK, d);
    out.fill(0, k0, k1);
    for (const i of rows) {
      const x = vectors[i]!;
      const w = weights[i]!;
      for (let k = k0; k < k1; k++) out[k] = out[k]! + w * x[k]!;
    }
    for (let k = k0; k < k1; k++) {
      const v = out[k]! / divisor;
      bad += v * 0;
      out[k] = v;
    }
  }
  return { out, bad };
}

/** {@link combine} in WebAssembly, or undefined when the inputs are not all Float32Array or there is no SIMD. */
function combineWasm(
  vectors: Vectors,
  rows: readonly number[],
  weights: Float64Array,
  d: number,
  divisor: number,
  into: Float64Array,
): { out: Float64Array; bad: number } | undefined {
  const k = wasmKernels();
  if (k === null || !rows.every((i) => vectors[i] instanceof Float32Array)) return undefined;
  const m = rows.length;
  // Float32 rows of B coordinates (B a multiple of 8: the kernel takes eight at a time, the last
  // block padded with zeros, which add nothing), B float64 results, m weights. Rows a cache line
  // more than a power of two apart: 32 rows 4 KB apart would all fall in one L1 set and evict each
  // other at every coordinate.
  const B = Math.max(16, Math.min(8192, Math.floor(COMBINE_BYTES / (4 * Math.max(1, m))) & ~7));
  const S = B + 16;
  const resultAt = m * S * 4;
  const weightsAt = resultAt + B * 8;
  const memory = k.memory(weightsAt + m * 8);
  const block = new Float32Array(memory, 0, m * S);
  const result = new Float64Array(memory, resultAt, B);
  const w = new Float64Array(memory, weightsAt, m);
  for (let p = 0; p < m; p++) w[p] = weights[rows[p]!]!;
  const out = into;
  let bad = 0;
  for (let k0 = 0; k0 < d; k0 += B) {
    const len = Math.min(B, d - k0);
    const padded = (len + 7) & ~7;
    for (let p = 0; p < m; p++) {
      block.set(vectors[rows[p]!]!.subarray(k0, k0 + len), p * S);
      if (padded !== len) block.fill(0, p * S + len, p * S + padded);
    }
    bad += k.combine(0, m, S * 4, padded * 4, resultAt, weightsAt, divisor);
    out.set(len === B ? result : result.subarray(0, len), k0);
  }
  return { out, bad };
}

/** Bytes of float32 rows per block of {@link combineWasm} (they stay in L2 for the pass). */
const COMBINE_BYTES = 1 << 19;

/** sum_i weights[i] * vectors[i] by {@link combine} (zero weights skipped). */
export function weightedSum(
  vectors: Vectors,
  weights: Float64Array,
  d: number,
  into: Float64Array,
): Float64Array {
  return combine(vectors, nonZero(weights), weights, d, 1, into).out;
}

/** Indices of the non-zero weights. */
export function nonZero(weights: Float64Array): number[] {
  const active: number[] = [];
  for (let i = 0; i < weights.length; i++) if (weights[i] !== 0) active.push(i);
  return active;
}

/**
 * out[k] += sum over i in `active` of weights[i] * vectors[i][k], for k in [k0, k1): eight or four
 * inputs per pass over the block, and the last one to three together.
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
  for (; p + 7 < m; p += 8) accumulate8(vectors, active, weights, p, k0, k1, out);
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
    for (let k = k0; k < k1; k++) out[k] = out[k]! + (wa * a[k]! + wb * b[k]! + (wc * c[k]! + we * e[k]!));
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

function accumulate8(
  vectors: Vectors,
  active: readonly number[],
  weights: Float64Array,
  p: number,
  k0: number,
  k1: number,
  out: Float64Array,
): void {
  const row = (q: number): Vector => vectors[active[p + q]!]!;
  const weight = (q: number): number => weights[active[p + q]!]!;
  const a = row(0);
  const b = row(1);
  const c = row(2);
  const e = row(3);
  const g = row(4);
  const h = row(5);
  const u = row(6);
  const v = row(7);
  const wa = weight(0);
  const wb = weight(1);
  const wc = weight(2);
  const we = weight(3);
  const wg = weight(4);
  const wh = weight(5);
  const wu = weight(6);
  const wv = weight(7);
  for (let k = k0; k < k1; k++) {
    out[k] =
      out[k]! +
      (wa * a[k]! +
        wb * b[k]! +
        (wc * c[k]! + we * e[k]!) +
        (wg * g[k]! + wh * h[k]! + (wu * u[k]! + wv * v[k]!)));
  }
}
