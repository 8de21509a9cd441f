import type { Vectors } from './types.ts';

/**
 * dist[i] += sum over k in [k0, k1) of (s x_i[k] - s v[k])^2; four inputs per pass share the loads
 * of v. The power of two s (default 1) keeps squares of huge or tiny values in range, exactly.
 */
export function squaredDistancesTo(
  vectors: Vectors,
  v: Float64Array,
  k0: number,
  k1: number,
  dist: Float64Array,
  s = 1,
): void {
  const n = vectors.length;
  if (s !== 1) {
    for (let i = 0; i < n; i++) {
      const x = vectors[i]!;
      let sum = 0;
      for (let k = k0; k < k1; k++) {
        const e = x[k]! * s - v[k]! * s;
        sum += e * e;
      }
      dist[i]! += sum;
    }
    return;
  }
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const a = vectors[i]!;
    const b = vectors[i + 1]!;
    const c = vectors[i + 2]!;
    const e = vectors[i + 3]!;
    let sa = 0;
    let sb = 0;
    let sc = 0;
    let se = 0;
    for (let k = k0; k < k1; k++) {
      const x = v[k]!;
      const da = a[k]! - x;
      const db = b[k]! - x;
      const dc = c[k]! - x;
      const de = e[k]! - x;
      sa += da * da;
      sb += db * db;
      sc += dc * dc;
      se += de * de;
    }
    dist[i]! += sa;
    dist[i + 1]! += sb;
    dist[i + 2]! += sc;
    dist[i + 3]! += se;
  }
  for (; i < n; i++) {
    const x = vectors[i]!;
    let s = 0;
    for (let k = k0; k < k1; k++) {
      const e = x[k]! - v[k]!;
      s += e * e;
    }
    dist[i]! += s;
  }
}
