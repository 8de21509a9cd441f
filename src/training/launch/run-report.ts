/**
 * The run report (pure): what each rank did, from its exit and its telemetry, with flags for
 * non-finite or robust-outlier loss / grad norm, a final param_hash that disagrees with the
 * majority, examples that do not match the planned shard, and ranks marshal had to stop.
 */
import { robustOutliers } from '../robust-stats.ts';
import type { Metric } from './telemetry.ts';

export type StopReason = 'peer_failed' | 'teardown_hang' | 'aborted' | 'spawn_failed';

/** What the runner observed for one rank. */
export interface RankObservation {
  rank: number;
  node: string;
  expectedExamples: number;
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
  /** Sum of `examples` over the rank's metric lines. */
  examplesProcessed: number;
  metricLines: number;
  lastTelemetry: Metric | null;
  /** Last param_hash the rank reported. */
  finalParamHash: string | null;
  stopped: StopReason | null;
}

export interface RunReportRank {
  rank: number;
  node: string;
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
  examplesProcessed: number;
  expectedExamples: number;
  lastTelemetry: Record<string, unknown> | null;
  finalParamHash: string | null;
  flags: string[];
}

export interface RunReport {
  schemaVersion: 1;
  kind: 'marshal.run-report';
  plan: string;
  plan_sha256: string;
  launcher: string;
  started_at: string;
  finished_at: string;
  forced: boolean;
  status: 'succeeded' | 'failed';
  ranks: RunReportRank[];
}

/** Non-finite numbers become strings so the report stays valid JSON. */
function jsonMetric(m: Metric | null): Record<string, unknown> | null {
  if (!m) return null;
  const n = (x: number) => (Number.isFinite(x) ? x : String(x));
  return {
    step: m.step,
    examples: m.examples,
    loss: n(m.loss),
    grad_norm: n(m.grad_norm),
    param_hash: m.param_hash,
  };
}

/** Flags per rank (same order as `ranks`). Pure. */
export function rankFlags(ranks: readonly RankObservation[]): string[][] {
  const flags = ranks.map((r) => {
    const f: string[] = [];
    if (r.stopped) f.push(`stopped_${r.stopped}`);
    if (r.exitCode !== 0 && !r.stopped) f.push('failed');
    if (r.metricLines === 0) f.push('no_telemetry');
    if (r.examplesProcessed !== r.expectedExamples) f.push('examples_mismatch');
    return f;
  });
  const withTelemetry = ranks.map((r, i) => ({ r, i })).filter((x) => x.r.lastTelemetry !== null);
  for (const key of ['loss', 'grad_norm'] as const) {
    const values = withTelemetry.map((x) => x.r.lastTelemetry![key]);
    for (const j of robustOutliers(values)) {
      const { i } = withTelemetry[j]!;
      flags[i]!.push(Number.isFinite(values[j]!) ? `${key}_outlier` : `${key}_non_finite`);
    }
  }
  const hashes = ranks.map((r) => r.finalParamHash).filter((h): h is string => h !== null);
  if (hashes.length > 1) {
    const counts = new Map<string, number>();
    for (const h of hashes) counts.set(h, (counts.get(h) ?? 0) + 1);
    const [major] = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]!;
    ranks.forEach((r, i) => {
      if (r.finalParamHash !== null && r.finalParamHash !== major) flags[i]!.push('param_hash_mismatch');
    });
  }
  return flags;
}

/** Builds the run report. Succeeded when every rank exited 0 (or hung only in teardown after finishing its shard). */
export function buildRunReport(input: {
  plan: string;
  planSha256: string;
  launcher: string;
  startedAt: string;
  finishedAt: string;
  forced: boolean;
  ranks: readonly RankObservation[];
}): RunReport {
  const flags = rankFlags(input.ranks);
  const ranks = input.ranks.map((r, i) => ({
    rank: r.rank,
    node: r.node,
    exitCode: r.exitCode,
    signal: r.signal,
    durationMs: r.durationMs,
    examplesProcessed: r.examplesProcessed,
    expectedExamples: r.expectedExamples,
    lastTelemetry: jsonMetric(r.lastTelemetry),
    finalParamHash: r.finalParamHash,
    flags: flags[i]!,
  }));
  // A rank stopped only because it hung in teardown after finishing its shard did its work.
  const ok = input.ranks.every(
    (r) =>
      (r.exitCode === 0 && r.stopped === null) ||
      (r.stopped === 'teardown_hang' && r.examplesProcessed === r.expectedExamples),
  );
  return {
    schemaVersion: 1,
    kind: 'marshal.run-report',
    plan: input.plan,
    plan_sha256: input.planSha256,
    launcher: input.launcher,
    started_at: input.startedAt,
    finished_at: input.finishedAt,
    forced: input.forced,
    status: ok ? 'succeeded' : 'failed',
    ranks,
  };
}
