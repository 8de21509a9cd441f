/**
 * The run report (pure): what each rank did, from its exit and its telemetry, with flags for
 * non-finite or robust-outlier loss / grad norm, a final param_hash that disagrees with the
 * majority, examples that do not match the planned shard, telemetry that was rejected, and ranks
 * marshal had to stop. A run whose ranks all exited 0 but whose results cannot be trusted ends
 * `degraded`, with the reasons.
 */
import { median } from '../robust-stats.ts';
import { type ByzantineSuspects, byzantineSuspects, type RejectionTally } from './suspects.ts';
import type { Metric } from './telemetry.ts';

/** Steps of each rank's telemetry kept for the outlier comparison (its last training steps). */
export const OUTLIER_WINDOW_STEPS = 16;
/** Modified z-score above which a rank's level over the window is an outlier (Iglewicz and Hoaglin). */
export const OUTLIER_Z = 3.5;
/** The MAD used for the z-score is at least this fraction of |median| (a tight cluster is not noise-free). */
export const OUTLIER_MAD_FLOOR = 0.1;

/** One training step as a rank reported it. */
export interface StepValue {
  step: number;
  loss: number;
  grad_norm: number;
}

/** Metric lines the runner refused to count, by reason. */
export interface RejectedTelemetry {
  /** A `rank` field naming a rank the printing process does not run. */
  rank_mismatch: number;
  /** Lines with the marker that are not valid metrics: bad JSON, a step that is not a non-negative integer, `examples` that is not an integer within [0, the rank's shard size]. */
  invalid: number;
  /** Why the first rejected line was rejected (at most 200 characters), e.g. `examples 1e+300 is not a non-negative integer`. */
  first?: string;
}

/**
 * Why marshal stopped a process: because of another one (`peer_failed`, `peer_stalled`), it hung
 * in teardown, the launch was aborted, it could not start; or it was the culprit: one of its ranks
 * reported its own failure (`rank_failed`) or was stalled (`stalled`). A culprit rank itself is
 * reported with `stopped: null` and its `failure` / `stall` (it failed on its own).
 */
export type StopReason =
  | 'peer_failed'
  | 'teardown_hang'
  | 'aborted'
  | 'spawn_failed'
  | 'rank_failed'
  | 'stalled'
  | 'peer_stalled';

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
  /** The ssh destination of a rank whose ssh failed or went silent (exit 255): flagged `connection_lost`. */
  lostHost?: string;
  /** The rank's last {@link OUTLIER_WINDOW_STEPS} steps that trained examples, in order. */
  window?: StepValue[];
  /** Metric lines (counted ones) whose loss / grad norm was NaN or infinite. */
  nonFinite?: { loss: number; grad_norm: number };
  rejected?: RejectedTelemetry;
  /** What the rank's metric lines said robust_all_reduce rejected. */
  tally?: RejectionTally;
  /** Its own failure report (`MARSHAL_RANK_FAILED`), when that is what stopped the run (flagged `failed`). */
  failure?: { exit: number | null; error: string };
  /** When the run was stopped for a stall: where this rank was (every rank still training). */
  stall?: RankStall;
}

/** One rank at the moment the stall watch stopped the run. */
export interface RankStall {
  /** This rank is the one that stopped making progress (flagged `stalled`). */
  stalled: boolean;
  /** Steps it had done (null: none seen). */
  step: number | null;
  idleMs: number;
  /** The stall limit: max(factor x median step time, minimum). */
  limitMs: number;
  stepMs: number;
  /** The torch.distributed call its heartbeat saw it waiting in (flagged `waiting`), else null. */
  waitingIn: string | null;
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
  rejectedTelemetry: RejectedTelemetry;
}

/** `succeeded`: every rank exited 0 and its results check out; `degraded`: every rank exited 0 but `reasons` say why the result cannot be trusted; `failed`: a rank failed or was stopped. */
export type RunStatus = 'succeeded' | 'degraded' | 'failed';

export interface RunReport {
  schemaVersion: 1;
  kind: 'marshal.run-report';
  plan: string;
  plan_sha256: string;
  launcher: string;
  started_at: string;
  finished_at: string;
  forced: boolean;
  status: RunStatus;
  /** Why the run is degraded or failed (empty when it succeeded). */
  reasons: string[];
  /** Code that differed from the plan and was launched anyway (`force`). */
  code_changes: Array<{ node: string; file: string; problem: string }>;
  ranks: RunReportRank[];
  /** The ranks the robust gradient rule rejected most often; absent when no rank reported rejections. */
  byzantine_suspects?: ByzantineSuspects;
  /** Every attempt of the job, first to last (`maxRestarts`); the report's other fields are the last one's. */
  attempts?: RunAttempt[];
}

/** One attempt of a launch: the whole job, started again from the last complete checkpoint after a failure. */
export interface RunAttempt {
  /** 0 for the first, then 1, 2... (the ranks' MARSHAL_RESTART_ATTEMPT). */
  attempt: number;
  startedAt: string;
  finishedAt: string;
  status: RunStatus;
  /** Ranks that exited non-zero or by a signal on their own, or could not start (not those marshal stopped after). */
  failedRanks: number[];
  /** The checkpoint step the ranks resumed from (their `MARSHAL_RESUME` line), or null for a fresh start. */
  resumedFromStep: number | null;
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
    if (r.stall?.stalled) f.push('stalled');
    else if (r.failure) f.push('failed');
    else if (r.stopped) f.push(`stopped_${r.stopped}`);
    else if (r.exitCode !== 0) f.push('failed');
    if (r.stopped === 'peer_stalled' && r.stall?.waitingIn) f.push('waiting');
    if (r.lostHost) f.push('connection_lost');
    if (r.metricLines === 0) f.push('no_telemetry');
    if (r.examplesProcessed !== r.expectedExamples) f.push('examples_mismatch');
    if ((r.rejected?.rank_mismatch ?? 0) > 0) f.push('telemetry_rank_mismatch');
    if ((r.rejected?.invalid ?? 0) > 0) f.push('telemetry_invalid');
    return f;
  });
  for (const key of ['loss', 'grad_norm'] as const) {
    const outliers = windowOutliers(ranks, key);
    ranks.forEach((r, i) => {
      const last = r.lastTelemetry?.[key];
      const nonFinite = (r.nonFinite?.[key] ?? 0) > 0 || (last !== undefined && !Number.isFinite(last));
      if (nonFinite) flags[i]!.push(`${key}_non_finite`);
      else if (outliers.has(i)) flags[i]!.push(`${key}_outlier`);
    });
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

/**
 * Ranks whose `key` is an outlier across ranks at the same step numbers. Over the last
 * {@link OUTLIER_WINDOW_STEPS} steps every compared rank trained, each rank's level is the median
 * of its values at those steps; a rank is an outlier when the modified z-score of its level,
 * 0.6745 |level - m| / s with m the median level, is above {@link OUTLIER_Z}, where the scale s is
 * the largest of: the MAD of the levels, {@link OUTLIER_MAD_FLOOR} x |m|, and the standard error
 * of a level that the ranks' own step-to-step noise gives (1.2533 x 1.4826 x the median over ranks
 * of each rank's MAD over its steps, / sqrt(steps)). Each rank trains on other data, so its
 * per-step loss and grad norm scatter around the others' even in a healthy run (tiny batches
 * scatter by half and more): a level taken over the window, judged against that scatter, flags a
 * rank that stays apart, not one that drew noisy batches. Non-finite values are left to the
 * non-finite flag. Needs three ranks with a window; fewer ranks, or no common step, flag nothing.
 */
export function windowOutliers(ranks: readonly RankObservation[], key: 'loss' | 'grad_norm'): Set<number> {
  const withWindow = ranks.map((r, i) => ({ i, w: r.window ?? [] })).filter((x) => x.w.length > 0);
  const out = new Set<number>();
  if (withWindow.length < 3) return out;
  const byStep = withWindow.map((x) => new Map(x.w.map((v) => [v.step, v[key]])));
  const common = [...byStep[0]!.keys()]
    .filter((step) => byStep.every((m) => m.has(step)))
    .sort((a, b) => a - b)
    .slice(-OUTLIER_WINDOW_STEPS);
  if (common.length === 0) return out;
  const levels: { j: number; level: number; noise: number }[] = [];
  byStep.forEach((m, j) => {
    const values = common.map((step) => m.get(step)!).filter((v) => Number.isFinite(v));
    if (values.length === 0) return;
    const level = median(values);
    levels.push({ j, level, noise: 1.4826 * median(values.map((v) => Math.abs(v - level))) });
  });
  if (levels.length < 3) return out;
  const m = median(levels.map((x) => x.level));
  const spread = median(levels.map((x) => Math.abs(x.level - m)));
  const noise = (1.2533 * median(levels.map((x) => x.noise))) / Math.sqrt(common.length);
  const scale = Math.max(spread, OUTLIER_MAD_FLOOR * Math.abs(m), noise);
  if (scale === 0) return out;
  for (const x of levels)
    if ((0.6745 * Math.abs(x.level - m)) / scale > OUTLIER_Z) out.add(withWindow[x.j]!.i);
  return out;
}

/** Why a run whose ranks exited 0 cannot be trusted (empty when it can). Pure. */
export function degradedReasons(
  ranks: readonly RankObservation[],
  flags: readonly string[][],
  codeChanges: ReadonlyArray<{ node: string; file: string; problem: string }> = [],
): string[] {
  const reasons: string[] = [];
  ranks.forEach((r, i) => {
    const f = flags[i]!;
    if (r.examplesProcessed !== r.expectedExamples)
      reasons.push(
        `rank ${r.rank} processed ${r.examplesProcessed} examples, the plan gave it ${r.expectedExamples}`,
      );
    const nl = r.nonFinite?.loss ?? (f.includes('loss_non_finite') ? 1 : 0);
    if (nl > 0) reasons.push(`rank ${r.rank} reported a non-finite loss (${nl} step(s))`);
    const ng = r.nonFinite?.grad_norm ?? (f.includes('grad_norm_non_finite') ? 1 : 0);
    if (ng > 0) reasons.push(`rank ${r.rank} reported a non-finite grad norm (${ng} step(s))`);
    if ((r.rejected?.rank_mismatch ?? 0) > 0)
      reasons.push(
        `rank ${r.rank} printed ${r.rejected!.rank_mismatch} metric line(s) naming another rank (rejected)`,
      );
    if ((r.rejected?.invalid ?? 0) > 0)
      reasons.push(
        `rank ${r.rank} printed ${r.rejected!.invalid} invalid metric line(s) (rejected: examples outside its shard, bad step or JSON)`,
      );
    if (r.rejected?.first !== undefined)
      reasons.push(`rank ${r.rank}: the first rejected metric line: ${r.rejected.first}`);
    if (f.includes('param_hash_mismatch'))
      reasons.push(`rank ${r.rank} ended with parameters that differ from the majority`);
  });
  for (const c of codeChanges)
    reasons.push(`launched with changed code (forced): ${c.node}: ${c.file} ${c.problem}`);
  return reasons;
}

/** Builds the run report. Succeeded when every rank exited 0 (or hung only in teardown after finishing its shard). */
export function buildRunReport(input: {
  plan: string;
  planSha256: string;
  launcher: string;
  startedAt: string;
  finishedAt: string;
  forced: boolean;
  /** Code differences launched anyway (`force`). */
  codeChanges?: ReadonlyArray<{ node: string; file: string; problem: string }>;
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
    rejectedTelemetry: r.rejected ?? { rank_mismatch: 0, invalid: 0 },
  }));
  // A rank stopped only because it hung in teardown after finishing its shard did its work.
  const ok = input.ranks.every(
    (r) =>
      (r.exitCode === 0 && r.stopped === null && !r.failure && !r.stall?.stalled) ||
      (r.stopped === 'teardown_hang' && r.examplesProcessed === r.expectedExamples),
  );
  const codeChanges = input.codeChanges ?? [];
  const reasons = degradedReasons(input.ranks, flags, codeChanges);
  return {
    schemaVersion: 1,
    kind: 'marshal.run-report',
    plan: input.plan,
    plan_sha256: input.planSha256,
    launcher: input.launcher,
    started_at: input.startedAt,
    finished_at: input.finishedAt,
    forced: input.forced,
    status: !ok ? 'failed' : reasons.length > 0 ? 'degraded' : 'succeeded',
    reasons: ok ? reasons : failureReasons(input.ranks),
    code_changes: codeChanges.map((c) => ({ node: c.node, file: c.file, problem: c.problem })),
    ranks,
    ...suspectsField(input.ranks),
  };
}

/** Why a failed run failed: each rank that did not exit 0 on its own. */
function failureReasons(ranks: readonly RankObservation[]): string[] {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return ranks.flatMap((r) => {
    if (r.failure)
      return [
        `rank ${r.rank} failed: ${r.failure?.error ?? 'it reported a failure'}; the others were stopped`,
      ];
    if (r.stall?.stalled)
      return [
        `rank ${r.rank} stalled: no progress for ${s(r.stall.idleMs)} at step ${r.stall.step ?? '?'} (limit ${s(r.stall.limitMs)}: the larger of the stall factor x the median step time ${s(r.stall.stepMs)} and the minimum)`,
      ];
    if (r.stopped === 'peer_stalled' && r.stall?.waitingIn)
      return [`rank ${r.rank} was stopped (peer_stalled) while waiting in ${r.stall.waitingIn}`];
    if (r.stopped) return [`rank ${r.rank} was stopped (${r.stopped})`];
    return r.exitCode !== 0 ? [`rank ${r.rank} exited with ${r.exitCode ?? r.signal}`] : [];
  });
}

function suspectsField(ranks: readonly RankObservation[]): { byzantine_suspects?: ByzantineSuspects } {
  const s = byzantineSuspects(ranks);
  return s ? { byzantine_suspects: s } : {};
}
