import type { Vector, Vectors } from './types.ts';

/** Scaled squares kept at or above 2^-LOW: far above the subnormals. */
export const LOW = 600;
/** Scaled sums of squares kept at or below 2^HIGH: far below overflow. */
export const HIGH = 900;

/**
 * Half of max_k |x_i[k] - centre[k]| for every input i: the spread of the differences, which is
 * what the squared distances are made of (the magnitudes of the inputs say nothing about it: a
 * cluster at 1e-160 with spread 1e-163 has squared distances near 1e-326, below the smallest
 * double). Halved before subtracting so that no difference of two finite values overflows; the
 * factor two is irrelevant to the choice of a scale.
 */
export function halfSpreads(vectors: Vectors, centre: ArrayLike<number> | Vector): Float64Array {
  const out = new Float64Array(vectors.length);
  const d = centre.length;
  for (let i = 0; i < vectors.length; i++) {
    const x = vectors[i]!;
    let m = 0;
    for (let k = 0; k < d; k++) {
      const e = Math.abs(x[k]! * 0.5 - centre[k]! * 0.5);
      if (e > m) m = e;
    }
    out[i] = m;
  }
  return out;
}

/**
 * The exact power of two s to multiply the inputs by before squaring their differences: `current`
 * when it already keeps the typical (lower median of the positive) spread's square at or above
 * 2^-LOW and every sum of squares (at most 4 d (s * largest spread)^2) at or below 2^HIGH; otherwise
 * the power of two that brings the typical spread near 1 without pushing the largest sum past
 * 2^HIGH. Chosen from the differences, so tiny differences never underflow and huge ones never
 * overflow wherever the inputs sit (only a spread ratio beyond about 2^150 between the typical and
 * the largest input cannot be kept in range at once: the largest then wins).
 */
export function spreadScale(halves: ArrayLike<number>, d: number, current = 1): number {
  const positive: number[] = [];
  for (let i = 0; i < halves.length; i++) if (halves[i]! > 0) positive.push(halves[i]!);
  if (positive.length === 0) return current;
  positive.sort((a, b) => a - b);
  const lgMax = Math.log2(positive[positive.length - 1]!) + 1;
  const lgTyp = Math.log2(positive[(positive.length - 1) >> 1]!) + 1;
  const lgD = Math.log2(d);
  const lgS = Math.log2(current);
  if (2 * (lgTyp + lgS) >= -LOW && 2 * (lgMax + lgS) + lgD + 2 <= HIGH) return current;
  const e = Math.floor(Math.min(-lgTyp, (HIGH - 2 - lgD) / 2 - lgMax));
  return 2 ** Math.max(-1022, Math.min(1023, e));
}
