/**
 * The restart loop of `train launch` (torchrun's elastic model, for the whole job): run every rank
 * of the plan; when the attempt failed (a rank exited non-zero or by a signal, or could not start)
 * and restarts are left, wait a bounded, jittered backoff, hash the code on every node again, and
 * run the whole job once more. The ranks get the attempt number (MARSHAL_RESTART_ATTEMPT) and
 * resume from their last complete checkpoint (marshal_train.resume()). An abort never restarts.
 *
 * ```
 *   run attempt ──failed, attempt < maxRestarts, not aborted──> backoff ──code unchanged──> run attempt
 *       │                                                        │ aborted      │ changed (not forced)
 *       └──succeeded / degraded / failed with no restart left────┴──────────────┴──> final report
 * ```
 */
import { z } from 'zod';
import { backoffDelay } from '../../core/async.ts';
import { deadline } from '../../core/deadline.ts';
import type { CodeChange } from '../code-manifest.ts';
import { launchEnv, withLaunchEnv } from '../launch/launch-env.ts';
import {
  buildRunReport,
  type RankObservation,
  type RunAttempt,
  type RunReport,
  type RunReportRank,
  type RunStatus,
} from '../launch/run-report.ts';
import { runPlan } from '../launch/runner.ts';
import type { StallPolicy } from '../launch/stall.ts';
import type { Plan } from '../plan-schema.ts';

/** The line resume() prints on a rank's stdout (a launcher prefix before it is allowed). */
export const RESUME_MARKER = 'MARSHAL_RESUME ';
/** Backoff before restart n (0-based): full jitter up to min(30 s, 1 s x 2^n). */
export const RESTART_BACKOFF = { baseDelayMs: 1000, maxDelayMs: 30_000 } as const;

const ResumeLine = z.object({ rank: z.number().int().nonnegative(), step: z.number().int().nonnegative() });

/** The rank and step of a `MARSHAL_RESUME {"rank", "step"}` line; null for any other line. Pure. */
export function readResumeLine(line: string): { rank: number; step: number } | null {
  const at = line.indexOf(RESUME_MARKER);
  if (at < 0) return null;
  try {
    const r = ResumeLine.safeParse(JSON.parse(line.slice(at + RESUME_MARKER.length)));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/**
 * The ranks the attempt's report blames (flagged `failed` or `stalled`, or that could not start),
 * not the ones marshal stopped because of them. Pure.
 */
export function failedRanks(ranks: readonly Pick<RunReportRank, 'rank' | 'flags'>[]): number[] {
  const blamed = new Set(['failed', 'stalled', 'stopped_spawn_failed']);
  return ranks.filter((r) => r.flags.some((f) => blamed.has(f))).map((r) => r.rank);
}

/**
 * The observations with the examples of the steps a rank resumed through (0..step, as
 * marshal_train.steps() cuts them: `min((step + 1) x batch, shard)`) counted as processed: their
 * effect is in the checkpoint the rank loaded. Pure.
 */
export function creditResumed(
  plan: Plan,
  ranks: readonly RankObservation[],
  resumed: ReadonlyMap<number, number>,
): RankObservation[] {
  return ranks.map((r) => {
    const step = resumed.get(r.rank);
    const planned = plan.distributed_config.ranks.find((x) => x.rank === r.rank);
    if (step === undefined || !planned) return r;
    const done = Math.min((step + 1) * planned.batch_size, planned.examples);
    return { ...r, examplesProcessed: r.examplesProcessed + done };
  });
}

/** Whether attempt `attempt` (0-based) is followed by another. Pure. */
export function shouldRestart(status: RunStatus, attempt: number, maxRestarts: number, aborted: boolean) {
  return status === 'failed' && !aborted && attempt < maxRestarts;
}

export interface RunAttemptsInput {
  plan: Plan;
  planPath: string;
  env: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
  graceMs: number;
  stopGraceMs?: number;
  /** The stall watch (default in runPlan: the `stallFactor` / `stallMinS` settings). */
  stall?: StallPolicy;
  onLine?: (label: string, stream: 'stdout' | 'stderr', line: string) => void;
  now: () => Date;
  maxRestarts: number;
  forced: boolean;
  /** Code differences launched anyway (`force`), checked before the first attempt. */
  codeChanges: CodeChange[];
  /** Hashes the code on every node again (before each restart). */
  verifyCode: () => Promise<CodeChange[]>;
  /** Called after every attempt with the report so far (written to disk, audited). */
  onAttempt: (report: RunReport, restarting: boolean) => Promise<void>;
  /** Called when a restart is refused because the code changed (audited). */
  onRestartRefused?: (changes: CodeChange[]) => void;
}

/** Runs the attempts; the final report (its status is the last attempt's, `attempts` lists them all). */
export async function runAttempts(input: RunAttemptsInput): Promise<RunReport> {
  const { plan, signal } = input;
  const attempts: RunAttempt[] = [];
  const firstStart = input.now().toISOString();
  for (let attempt = 0; ; attempt++) {
    const startedAt = attempt === 0 ? firstStart : input.now().toISOString();
    const resumed = new Map<number, number>();
    const ranks = await runPlan(withLaunchEnv(plan, launchEnv(plan, attempt)), {
      planPath: input.planPath,
      env: input.env,
      graceMs: input.graceMs,
      ...(signal ? { signal } : {}),
      ...(input.stopGraceMs !== undefined ? { stopGraceMs: input.stopGraceMs } : {}),
      ...(input.stall ? { stall: input.stall } : {}),
      onLine: (label, stream, line) => {
        const r = stream === 'stdout' ? readResumeLine(line) : null;
        if (r && !resumed.has(r.rank)) resumed.set(r.rank, r.step);
        input.onLine?.(label, stream, line);
      },
    });
    const finishedAt = input.now().toISOString();
    const report = buildRunReport({
      plan: input.planPath,
      planSha256: plan.integrity.sha256,
      launcher: plan.distributed_config.launcher,
      startedAt: firstStart,
      finishedAt,
      forced: input.forced,
      codeChanges: input.codeChanges,
      ranks: creditResumed(plan, ranks, resumed),
    });
    // Every rank resumes from the same step (resume() agrees over the group): the lowest rank's line.
    const lowest = [...resumed.keys()].sort((a, b) => a - b)[0];
    attempts.push({
      attempt,
      startedAt,
      finishedAt,
      status: report.status,
      failedRanks: failedRanks(report.ranks),
      resumedFromStep: lowest === undefined ? null : resumed.get(lowest)!,
    });
    const withAttempts: RunReport = { ...report, attempts: [...attempts] };
    const restarting = shouldRestart(report.status, attempt, input.maxRestarts, signal?.aborted === true);
    await input.onAttempt(withAttempts, restarting);
    if (!restarting) return withAttempts;
    if (!(await backoff(attempt, signal))) return withAttempts;
    const changes = await input.verifyCode();
    if (changes.length > 0 && !input.forced) {
      input.onRestartRefused?.(changes);
      const listed = changes.map((c) => `${c.node}: ${c.file} ${c.problem}`).join('; ');
      return {
        ...withAttempts,
        reasons: [...withAttempts.reasons, `not restarted: code changed: ${listed}`],
      };
    }
  }
}

/** Waits the jittered backoff before restart `attempt`; false when the caller aborted meanwhile. */
async function backoff(attempt: number, signal: AbortSignal | undefined): Promise<boolean> {
  const d = deadline(backoffDelay(attempt, RESTART_BACKOFF), [signal], 'restart backoff');
  try {
    if (!d.signal.aborted) {
      await new Promise<void>((resolve) =>
        d.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
    }
    return d.expired;
  } finally {
    d.clear();
  }
}
