/**
 * Plain reference kernels: every rule written the obvious way in float64, with every distance taken
 * directly as sum_k (x_i[k] - x_j[k])^2 (after an exact power-of-two rescaling, so huge and tiny
 * magnitudes neither overflow nor turn subnormal). Slow (O(n^2 d) memory-friendly loops, sorting
 * every column) and meant for tests and for the precision check of bench/aggregate.bench.ts; the
 * fast kernels must agree with these.
 */
import { assertNever } from '../../core/errors.ts';
import type { AggregationRule } from './types.ts';

export interface ReferenceOptions {
  f: number;
  m?: number | undefined;
  trim?: number | undefined;
  iterations?: number | undefined;
  tolerance?: number | undefined;
  nu?: number | undefined;
  tau?: number | undefined;
}

export interface ReferenceResult {
  result: number[];
  selected?: number[];
  scores?: number[];
  nu?: number;
  tau?: number;
}

type Rows = readonly ArrayLike<number>[];

/**
 * The power of two p every difference is multiplied by before squaring, chosen from the
 * differences themselves (not the magnitudes: a cluster of spread 1e-163 next to an outlier at 1
 * would square to 1e-326, below the smallest double): the typical (lower median over rows) of
 * the largest coordinate difference to a row's nearest other row is brought near 1, unless the
 * largest sum of squares would then pass 2^1000, in which case the largest wins. Rows that are all
 * equal fall back to the largest magnitude (1 for all-zero data).
 */
export function referenceScale(rows: Rows): number {
  const n = rows.length;
  const d = rows[0]!.length;
  const nearest = new Array<number>(n).fill(Number.POSITIVE_INFINITY);
  let largest = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let m = 0;
      // Halved before subtracting: no difference of two finite values overflows.
      for (let k = 0; k < d; k++) m = Math.max(m, Math.abs(rows[i]![k]! / 2 - rows[j]![k]! / 2));
      if (m === 0) continue;
      nearest[i] = Math.min(nearest[i]!, m);
      nearest[j] = Math.min(nearest[j]!, m);
      largest = Math.max(largest, m);
    }
  }
  const positive = nearest.filter((m) => Number.isFinite(m)).sort((a, b) => a - b);
  if (positive.length === 0) {
    let m = 0;
    for (const r of rows) for (let k = 0; k < r.length; k++) m = Math.max(m, Math.abs(r[k]!));
    return m === 0 ? 1 : 2 ** -Math.ceil(Math.log2(m) + 1e-12);
  }
  const typical = Math.log2(2 * positive[(positive.length - 1) >> 1]!);
  const e = Math.floor(Math.min(-typical, (1000 - Math.log2(d)) / 2 - Math.log2(2 * largest)));
  return 2 ** Math.max(-1022, Math.min(1023, e));
}

/** |a - b| computed directly, scaled by s before squaring, unscaled after the square root. */
export function referenceDistance(a: ArrayLike<number>, b: ArrayLike<number>, s: number): number {
  let sum = 0;
  for (let k = 0; k < a.length; k++) {
    const e = a[k]! * s - b[k]! * s;
    sum += e * e;
  }
  return Math.sqrt(sum) / s;
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const med = (xs: number[]) => {
  const s = sorted(xs);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
};
const column = (rows: Rows, k: number) => rows.map((r) => r[k]!);
function average(rows: Rows, d: number): number[] {
  const sum = new Float64Array(d);
  for (const r of rows) for (let k = 0; k < d; k++) sum[k]! += r[k]!;
  return Array.from(sum, (x) => x / rows.length);
}

/** The rule computed the plain way (see the module comment). */
export function referenceAggregate(
  rule: AggregationRule,
  rows: Rows,
  options: ReferenceOptions,
): ReferenceResult {
  const n = rows.length;
  const d = rows[0]!.length;
  const { f } = options;
  const s = referenceScale(rows);
  switch (rule) {
    case 'mean':
      return { result: average(rows, d) };
    case 'median':
      return { result: Array.from({ length: d }, (_, k) => med(column(rows, k))) };
    case 'trimmed-mean': {
      const t = options.trim ?? f;
      return {
        result: Array.from({ length: d }, (_, k) => {
          const kept = sorted(column(rows, k)).slice(t, n - t);
          return kept.reduce((a, b) => a + b, 0) / kept.length;
        }),
      };
    }
    case 'krum':
    case 'multi-krum': {
      const m = rule === 'krum' ? 1 : (options.m ?? n - f);
      const scores = rows.map((a, i) => {
        const ds = rows.filter((_, j) => j !== i).map((b) => referenceDistance(a, b, s) * s);
        // Scaled squared distances summed, then unscaled: the order is what matters.
        return sorted(ds.map((x) => x * x))
          .slice(0, n - f - 2)
          .reduce((p, q) => p + q, 0);
      });
      const order = scores.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]! || a - b);
      const selected = order.slice(0, m);
      const chosen = rows.filter((_, i) => selected.includes(i));
      return { result: average(chosen, d), selected, scores: scores.map((x) => x / s / s) };
    }
    case 'geometric-median':
      return referenceGeometricMedian(rows, options);
    case 'centered-clipping':
      return referenceCenteredClipping(rows, options);
    default:
      return assertNever(rule, 'aggregation rule');
  }
}

/** The robust scale of the geometric median: median over i of the lower median of |x_i - x_j|. */
export function referenceRobustScale(rows: Rows): number {
  const n = rows.length;
  const s = referenceScale(rows);
  const all: number[] = [];
  const per = rows.map((a, i) => {
    const ds = sorted(rows.filter((_, j) => j !== i).map((b) => referenceDistance(a, b, s)));
    all.push(...ds);
    return ds.length === 0 ? 0 : ds[(ds.length - 1) >> 1]!;
  });
  const scale = sorted(per)[(n - 1) >> 1]!;
  return scale > 0 ? scale : Math.min(...all.filter((x) => x > 0), Number.POSITIVE_INFINITY);
}

function referenceGeometricMedian(rows: Rows, options: ReferenceOptions): ReferenceResult {
  const n = rows.length;
  const d = rows[0]!.length;
  const s = referenceScale(rows);
  const scale = referenceRobustScale(rows);
  const nu = options.nu ?? (Number.isFinite(scale) ? 1e-6 * scale : 0);
  const tolerance = options.tolerance ?? 1e-9;
  const cap = options.iterations ?? 1000;
  let z = Float64Array.from(average(rows, d));
  const w = new Float64Array(n);
  for (let t = 0; t < cap && nu > 0; t++) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      w[i] = 1 / Math.max(nu, referenceDistance(rows[i]!, z, s));
      total += w[i]!;
    }
    const next = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      const r = rows[i]!;
      const a = w[i]! / total;
      for (let k = 0; k < d; k++) next[k]! += a * r[k]!;
    }
    const moved = referenceDistance(next, z, s);
    z = next;
    if (moved <= tolerance * scale) break;
  }
  return { result: Array.from(z), nu };
}

function referenceCenteredClipping(rows: Rows, options: ReferenceOptions): ReferenceResult {
  const n = rows.length;
  const d = rows[0]!.length;
  const s = referenceScale(rows);
  const v = Float64Array.from({ length: d }, (_, k) => med(column(rows, k)));
  const tau = options.tau ?? med(rows.map((r) => referenceDistance(r, v, s)));
  for (let t = 0; t < (options.iterations ?? 3); t++) {
    const c = rows.map((r) => {
      const dist = referenceDistance(r, v, s);
      return dist > tau ? tau / dist : 1;
    });
    const step = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      const r = rows[i]!;
      for (let k = 0; k < d; k++) step[k]! += (c[i]! * (r[k]! - v[k]!)) / n;
    }
    for (let k = 0; k < d; k++) v[k]! += step[k]!;
  }
  return { result: Array.from(v), tau };
}
