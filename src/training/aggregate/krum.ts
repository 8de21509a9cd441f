import { combine } from './mean.ts';
import { pairwiseSquaredDistances } from './pairwise.ts';
import { failNonFinite, preconditionFailed, requireN } from './preconditions.ts';
import { selectInPlace } from './select.ts';
import type { Vectors } from './types.ts';

export interface KrumOutcome {
  result: Float64Array;
  /** Indices of the chosen vectors, best score first (ties to the lower index). */
  selected: number[];
  scores: number[];
}

/**
 * Krum and Multi-Krum (Blanchard et al., NeurIPS 2017). Each input's score is the sum of its
 * squared Euclidean distances to its n - f - 2 nearest other inputs; Krum returns the input with
 * the lowest score, Multi-Krum the average of the m lowest (m = 1 is Krum). Unlike the original
 * coordinator's flagger, the distances are squared and the neighbour count is n - f - 2, so a
 * cluster of up to f colluding copies still pays for the distance to the honest inputs. Every
 * distance is taken directly ({@link pairwiseSquaredDistances}), so each is accurate relative to
 * itself whatever the Byzantine inputs are (a Gram matrix's error is relative to its centre).
 * Preconditions: n >= 2f + 3; 1 <= m <= n - f.
 */
export function multiKrum(
  vectors: Vectors,
  f: number,
  d: number,
  m: number,
  rule: 'krum' | 'multi-krum',
  into: Float64Array,
): KrumOutcome {
  const n = vectors.length;
  requireN(rule, n, f, 2 * f + 3, 'n >= 2f + 3');
  if (!Number.isSafeInteger(m) || m < 1 || m > n - f) {
    preconditionFailed(
      rule,
      '1 <= m <= n - f',
      `m must be an integer from 1 to n - f = ${n - f}, got ${String(m)}`,
      {
        n,
        f,
        m,
      },
    );
  }
  const pairs = pairwiseSquaredDistances(vectors, d);
  if (pairs === undefined) failNonFinite(rule, vectors);
  // Scores are ranked in the rescaled units and reported in the inputs' (possibly Infinity when a
  // finite distance squares past float64: the ranking does not depend on it).
  const scaled = krumScores(pairs.D, n, n - f - 2);
  if (scaled.some((s) => !Number.isFinite(s))) failNonFinite(rule, vectors, 'squared distances');
  // Divided twice: 1 / scale^2 alone can overflow or underflow where the score itself does not.
  const scores = scaled.map((s) => s / pairs.scale / pairs.scale);
  const order = scaled.map((_, i) => i).sort((a, b) => scaled[a]! - scaled[b]! || a - b);
  const selected = order.slice(0, m);
  let result: Float64Array;
  if (m === 1) {
    result = into;
    result.set(vectors[selected[0]!]!);
  } else {
    // Sum in index order so the average does not depend on how ties in the scores were broken.
    const rows = [...selected].sort((a, b) => a - b);
    result = combine(vectors, rows, new Float64Array(n).fill(1), d, m, into).out;
  }
  return { result, selected, scores };
}

/** score_i = sum of the `neighbours` smallest D[i][j], j != i. */
export function krumScores(D: Float64Array, n: number, neighbours: number): number[] {
  const row = new Float64Array(n - 1);
  const scores: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0, o = 0; j < n; j++) if (j !== i) row[o++] = D[i * n + j]!;
    if (neighbours < n - 1) selectInPlace(row, 0, n - 1, neighbours - 1);
    let s = 0;
    for (let t = 0; t < neighbours; t++) s += row[t]!;
    scores.push(s);
  }
  return scores;
}
