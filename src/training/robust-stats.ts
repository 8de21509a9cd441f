import { InvalidInputError } from '../core/errors.ts';

/** Iglewicz and Hoaglin's constant: 0.6745 * (x - median) / MAD is the modified z-score. */
const MAD_SCALE = 0.6745;
/** When MAD is 0, the mean absolute deviation scaled by sqrt(pi/2) stands in for it. */
const MEAN_AD_SCALE = 1.253314;

/** Median of finite numbers (the mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  checkFinite('xs', xs);
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median absolute deviation from the median (unscaled). */
export function mad(xs: readonly number[]): number {
  const m = median(xs);
  return median(xs.map((x) => Math.abs(x - m)));
}

export interface RobustOutlierOptions {
  /** Modified z-score above which a value is an outlier. Default 3.5 (Iglewicz and Hoaglin). */
  k?: number;
}

/**
 * Indices of the outliers among `values`, ascending: those whose modified z-score
 * 0.6745 * |x - median| / MAD exceeds `k`, over the finite values. When MAD is 0 (more than half
 * the values equal) the mean absolute deviation scaled by 1.2533 replaces it; when that is 0 too,
 * no finite value is an outlier. Non-finite values (NaN, +-Infinity) are always outliers.
 */
export function robustOutliers(values: readonly number[], options: RobustOutlierOptions = {}): number[] {
  const k = options.k ?? 3.5;
  if (!Number.isFinite(k) || k <= 0) throw new InvalidInputError('k', k, 'a positive finite number');
  const finite = values.filter((v) => Number.isFinite(v));
  const flagged: number[] = [];
  let score: (x: number) => number = () => 0;
  if (finite.length > 0) {
    const m = median(finite);
    const madValue = median(finite.map((x) => Math.abs(x - m)));
    if (madValue > 0) {
      score = (x) => (MAD_SCALE * Math.abs(x - m)) / madValue;
    } else {
      const meanAd = finite.reduce((s, x) => s + Math.abs(x - m), 0) / finite.length;
      if (meanAd > 0) score = (x) => Math.abs(x - m) / (MEAN_AD_SCALE * meanAd);
    }
  }
  values.forEach((v, i) => {
    if (!Number.isFinite(v) || score(v) > k) flagged.push(i);
  });
  return flagged;
}

function checkFinite(field: string, xs: readonly number[]): void {
  if (xs.length === 0) throw new InvalidInputError(field, [], 'a non-empty list of finite numbers');
  const bad = xs.findIndex((x) => typeof x !== 'number' || !Number.isFinite(x));
  if (bad >= 0) throw new InvalidInputError(`${field}[${bad}]`, xs[bad], 'a finite number');
}
