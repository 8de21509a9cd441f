/**
 * How far a calibration can be trusted (pure): the spread of each node's repeats, its age, and
 * whether it covers the cluster at all. Feeds the plan's `hardware_calibration.noise` and the
 * `hardware_layer` pre-flight check.
 */
import type { CalibrationReport } from './calibrate.ts';
import { NOISE_WARNING_SPREAD, sampleSummary } from './calibration-spread.ts';

/**
 * A calibration older than this at planning (or at `train check`, which gathers facts again) warns:
 * hardware, drivers and background load change.
 */
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
    return [{ node: n.node, repeats: n.samples.length, ...sampleSummary(n.samples) }];
  });
}

/**
 * Human warnings for nodes whose repeats disagree by more than {@link NOISE_WARNING_SPREAD}.
 * With the report, a node that was already measured twice (calibrate.ts re-measures noisy nodes)
 * says so, since more repeats alone did not settle it.
 */
export function noiseWarnings(noise: readonly NodeNoise[], report?: CalibrationReport): string[] {
  const remeasured = (node: string) =>
    report?.nodes.some((n) => n.node === node && n.status === 'ok' && n.samples.length > report.repeats) ??
    false;
  return noise
    .filter((n) => n.spread > NOISE_WARNING_SPREAD)
    .map(
      (n) =>
        `${n.node}: its ${n.repeats} calibration repeats spread ${(n.spread * 100).toFixed(0)}% ` +
        `(${n.min.toFixed(2)} to ${n.max.toFixed(2)} ex/s, more than ${NOISE_WARNING_SPREAD * 100}%` +
        `${remeasured(n.node) ? ', even after re-measuring' : ''}): ` +
        'its share is uncertain; re-measure on a quiet machine, or with more --repeats',
    );
}

/**
 * Why the calibration may not describe this plan's workload (pure): it ran another benchmark
 * than the one the plan names (`expected`: the `--benchmark` of `train plan`, or the shipped one),
 * or its nodes ran different models or batch sizes, so their throughputs do not compare.
 */
export function benchmarkMismatches(report: CalibrationReport, expected?: string): string[] {
  const out: string[] = [];
  if (expected !== undefined && report.benchmark !== expected) {
    out.push(
      `the calibration measured ${report.benchmark}, not ${expected}: shares follow another workload ` +
        `(calibrate again, or plan with --benchmark ${report.benchmark} if that is the one meant)`,
    );
  }
  const ok = report.nodes.filter((n) => n.status === 'ok');
  for (const key of ['model', 'batch'] as const) {
    const seen = new Set(ok.map((n) => n[key]).filter((v) => v !== undefined));
    if (seen.size > 1) {
      const listing = ok.map((n) => `${n.node} ${n[key] ?? '?'}`).join(', ');
      out.push(
        `the nodes ran different benchmark ${key === 'model' ? 'models' : 'batch sizes'} (${listing}): their throughputs do not compare`,
      );
    }
  }
  return out;
}

/** Age of the calibration in days at `now` (ISO times); null when either cannot be read. */
export function calibrationAgeDays(report: CalibrationReport, now: string): number | null {
  const a = Date.parse(report.measured_at);
  const b = Date.parse(now);
  return Number.isFinite(a) && Number.isFinite(b) ? (b - a) / 86_400_000 : null;
}
