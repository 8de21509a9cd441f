/**
 * How far a calibration can be trusted (pure): the spread of each node's repeats, its age, and
 * whether it covers the cluster at all. Feeds the plan's `hardware_calibration.noise` and the
 * `hardware_layer` pre-flight check.
 */
import type { CalibrationReport } from './calibrate.ts';

/** Above this spread of a node's repeats ((max - min) / median) the calibration warns. */
export const NOISE_WARNING_SPREAD = 0.2;
/** A calibration older than this (relative to planning) warns: hardware and load change. */
export const MAX_CALIBRATION_AGE_DAYS = 7;

export interface NodeNoise {
  node: string;
  repeats: number;
  min: number;
  max: number;
  median: number;
  /** (max - min) / median of the node's repeats; 0 for a single repeat. */
  spread: number;
}

/** The spread of every measured node's repeats. */
export function calibrationNoise(report: CalibrationReport): NodeNoise[] {
  return report.nodes.flatMap((n) => {
    if (n.status !== 'ok' || n.samples.length === 0) return [];
    const s = [...n.samples].sort((a, b) => a - b);
    const mid = s.length >> 1;
    const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
    const min = s[0]!;
    const max = s.at(-1)!;
    return [
      { node: n.node, repeats: s.length, min, max, median, spread: median > 0 ? (max - min) / median : 0 },
    ];
  });
}

/** Human warnings for nodes whose repeats disagree by more than {@link NOISE_WARNING_SPREAD}. */
export function noiseWarnings(noise: readonly NodeNoise[]): string[] {
  return noise
    .filter((n) => n.spread > NOISE_WARNING_SPREAD)
    .map(
      (n) =>
        `${n.node}: its ${n.repeats} calibration repeats spread ${(n.spread * 100).toFixed(0)}% ` +
        `(${n.min.toFixed(2)} to ${n.max.toFixed(2)} ex/s, more than ${NOISE_WARNING_SPREAD * 100}%): ` +
        'its share is uncertain; re-measure on a quiet machine, or with more --repeats',
    );
}

/** Age of the calibration in days at `now` (ISO times); null when either cannot be read. */
export function calibrationAgeDays(report: CalibrationReport, now: string): number | null {
  const a = Date.parse(report.measured_at);
  const b = Date.parse(now);
  return Number.isFinite(a) && Number.isFinite(b) ? (b - a) / 86_400_000 : null;
}
