/**
 * The spread of a node's calibration repeats (pure), shared by the calibration run (which
 * re-measures a noisy node) and the quality checks (which warn about one) without an import cycle.
 */

/** Above this spread of a node's repeats ((max - min) / median) calibration re-measures and warns. */
export const NOISE_WARNING_SPREAD = 0.2;

/** The name a calibration report gives the benchmark shipped with marshal. */
export const BUILTIN_BENCHMARK = 'builtin:marshal_benchmark.py';

/** Minimum, maximum, median and (max - min) / median of a non-empty sample list. */
export function sampleSummary(samples: readonly number[]): {
  min: number;
  max: number;
  median: number;
  spread: number;
} {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  const min = s[0]!;
  const max = s.at(-1)!;
  return { min, max, median, spread: median > 0 ? (max - min) / median : 0 };
}

/** (max - min) / median of a node's repeats; 0 for fewer than two. */
export function sampleSpread(samples: readonly number[]): number {
  return samples.length < 2 ? 0 : sampleSummary(samples).spread;
}
