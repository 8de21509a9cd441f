/**
 * The `train launch` use case: read and verify a plan (a tampered plan is refused, always), refuse
 * a plan whose pre-flight failed unless `force`, then either describe the exact commands
 * (`dryRun`) or run every rank, write `run-report.json` next to the plan and audit each decision.
 */
import { dirname, join } from 'node:path';
import { writeJsonAtomic } from '../../core/atomic-file.ts';
import { MarshalError } from '../../core/errors.ts';
import { openAudit } from '../audit.ts';
import type { Launcher } from '../cluster.ts';
import { TRAINING_ERRORS } from '../errors.ts';
import { buildRunReport, type RunReport } from '../launch/run-report.ts';
import { prepareProcesses, runPlan } from '../launch/runner.ts';
import { checkNumberSetting, TRAINING_SETTINGS } from '../settings.ts';
import { readPlanFile } from './read-plan-file.ts';

export interface LaunchPlanOptions {
  /** The plan file (relative to `cwd`). */
  plan: string;
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
  /** Describe the commands instead of running them. */
  dryRun?: boolean;
  /** Launch even though the plan's pre-flight failed (never overrides the tamper check). */
  force?: boolean;
  /** Seconds the other ranks get once one finished cleanly (default in {@link TRAINING_SETTINGS}). */
  graceS?: number;
  /** SIGTERM-to-SIGKILL grace when stopping a rank, in ms (default 5 s). */
  stopGraceMs?: number;
  /** Every output line of every process, with its label. */
  onLine?: (label: string, stream: 'stdout' | 'stderr', line: string) => void;
  /** Clock for the report's timestamps. */
  now?: () => Date;
}

/** One process as `dryRun` describes it: exactly what would be spawned. */
export interface DryRunProcess {
  label: string;
  node: string;
  ranks: number[];
  argv: string[];
  cwd: string | null;
  env: Record<string, string>;
}

export type LaunchOutcome =
  | { kind: 'dry-run'; plan: string; launcher: Launcher; processes: DryRunProcess[] }
  | { kind: 'ran'; plan: string; report: RunReport; reportPath: string; interrupted: boolean };

/** Launches (or describes) a plan. Throws E_PREFLIGHT_FAILED when refused. */
export async function launchPlan(options: LaunchPlanOptions): Promise<LaunchOutcome> {
  const graceS = checkNumberSetting('graceS', options.graceS) ?? TRAINING_SETTINGS.graceS.default;
  const now = options.now ?? (() => new Date());
  const { plan, path } = await readPlanFile(options.plan, { cwd: options.cwd });
  const forced = options.force === true;
  const audit = openAudit(path);
  try {
    if (plan.pre_flight_checklist.overall_status === 'fail' && !forced) {
      audit.log({
        phase: 'launch',
        decision: 'refused',
        reason: 'pre-flight failed',
        plan_sha256: plan.integrity.sha256,
      });
      throw new MarshalError(
        TRAINING_ERRORS.E_PREFLIGHT_FAILED,
        `plan ${path} failed its pre-flight; not launching`,
        {
          details: { override: 'force' },
          hint: 'fix the failed checks and re-plan, or set `force` to launch anyway',
        },
      );
    }
    const prepared = prepareProcesses(plan, path);
    if (options.dryRun) {
      audit.log({ phase: 'launch', decision: 'dry-run', plan_sha256: plan.integrity.sha256 });
      return {
        kind: 'dry-run',
        plan: path,
        launcher: plan.distributed_config.launcher,
        processes: prepared.map((p) => ({
          label: p.process.label,
          node: p.process.node,
          ranks: p.process.ranks,
          argv: p.command.argv,
          cwd: p.command.cwd ?? null,
          env: p.command.env,
        })),
      };
    }
    audit.log({ phase: 'launch', decision: 'started', forced, plan_sha256: plan.integrity.sha256 });
    const startedAt = now().toISOString();
    const ranks = await runPlan(plan, {
      planPath: path,
      env: options.env,
      graceMs: graceS * 1000,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.stopGraceMs !== undefined ? { stopGraceMs: options.stopGraceMs } : {}),
      ...(options.onLine ? { onLine: options.onLine } : {}),
    });
    const report = buildRunReport({
      plan: path,
      planSha256: plan.integrity.sha256,
      launcher: plan.distributed_config.launcher,
      startedAt,
      finishedAt: now().toISOString(),
      forced,
      ranks,
    });
    const reportPath = join(dirname(path), 'run-report.json');
    await writeJsonAtomic(reportPath, report);
    audit.log({
      phase: 'launch',
      decision: report.status,
      report: reportPath,
      flags: report.ranks.map((r) => r.flags),
    });
    return { kind: 'ran', plan: path, report, reportPath, interrupted: options.signal?.aborted === true };
  } finally {
    await audit.close();
  }
}
