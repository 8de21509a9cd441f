/**
 * The `train launch` use case: read and verify a plan (a tampered plan is refused, always), refuse
 * a plan whose pre-flight failed unless `force`, then either describe the exact commands
 * (`dryRun`) or hash the plan's code files again on every node (a change refuses the launch,
 * `E_CODE_CHANGED`, unless `force`), run every rank, write `run-report.json` next to the plan and
 * audit each decision. With `maxRestarts`, a failed job is started again as a whole (see
 * run-attempts.ts); the report lists every attempt and is rewritten after each one.
 */
import { dirname, join } from 'node:path';
import { writeJsonAtomic } from '../../core/atomic-file.ts';
import { MarshalError } from '../../core/errors.ts';
import { openAudit } from '../audit.ts';
import type { Launcher } from '../cluster.ts';
import { type CodeChange, compareManifests, plannedManifests, probeCodeManifest } from '../code-manifest.ts';
import { TRAINING_ERRORS } from '../errors.ts';
import { launchEnv, withLaunchEnv } from '../launch/launch-env.ts';
import type { RunReport } from '../launch/run-report.ts';
import { prepareProcesses } from '../launch/runner.ts';
import type { Plan } from '../plan-schema.ts';
import { checkNumberSetting, TRAINING_SETTINGS } from '../settings.ts';
import { readPlanFile } from './read-plan-file.ts';
import { runAttempts } from './run-attempts.ts';

export interface LaunchPlanOptions {
  /** The plan file (relative to `cwd`). */
  plan: string;
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
  /** Describe the commands instead of running them. */
  dryRun?: boolean;
  /**
   * Launch even though the plan's pre-flight failed or its code changed on a node since planning
   * (the run then ends `degraded`); never overrides the seal check.
   */
  force?: boolean;
  /** Seconds the other ranks get once one finished cleanly (default in {@link TRAINING_SETTINGS}). */
  graceS?: number;
  /** SIGTERM-to-SIGKILL grace when stopping a rank, in ms (default 5 s). */
  stopGraceMs?: number;
  /**
   * A rank with no progress for stallFactor x the median step time, and at least stallMinS
   * seconds, is flagged `stalled` and the run stopped; 0 turns the watch off (defaults in
   * {@link TRAINING_SETTINGS}).
   */
  stallFactor?: number;
  stallMinS?: number;
  /**
   * Restarts of the whole job after a failed attempt (default in {@link TRAINING_SETTINGS}: 0).
   * Ranks get MARSHAL_RESTART_ATTEMPT and resume from their last complete checkpoint.
   */
  maxRestarts?: number;
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
  const stall = {
    factor: checkNumberSetting('stallFactor', options.stallFactor) ?? TRAINING_SETTINGS.stallFactor.default,
    minMs: (checkNumberSetting('stallMinS', options.stallMinS) ?? TRAINING_SETTINGS.stallMinS.default) * 1000,
  };
  const maxRestarts =
    checkNumberSetting('maxRestarts', options.maxRestarts) ?? TRAINING_SETTINGS.maxRestarts.default;
  const now = options.now ?? (() => new Date());
  const { plan, path } = await readPlanFile(options.plan, { cwd: options.cwd, env: options.env });
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
    if (options.dryRun) {
      const prepared = prepareProcesses(withLaunchEnv(plan, launchEnv(plan, 0)), path);
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
    // Right before starting: is the code on every node still what was planned?
    const codeChanges = await verifyCode(plan, options);
    if (codeChanges.length > 0) {
      audit.log({
        phase: 'code_check',
        decision: forced ? 'forced' : 'refused',
        changes: codeChanges.map((c) => ({ node: c.node, file: c.file, problem: c.problem })),
        plan_sha256: plan.integrity.sha256,
      });
      if (!forced) {
        const listed = codeChanges.map((c) => `${c.node}: ${c.file} ${c.problem}`).join('; ');
        throw new MarshalError(
          TRAINING_ERRORS.E_CODE_CHANGED,
          `code changed since planning, not launching: ${listed}`,
          {
            details: {
              changes: codeChanges.map((c) => ({ node: c.node, file: c.file, problem: c.problem })),
              override: 'force',
            },
            hint: 're-plan to record the code as it is now, or set `force` to launch it anyway',
          },
        );
      }
    }
    audit.log({
      phase: 'launch',
      decision: 'started',
      forced,
      max_restarts: maxRestarts,
      plan_sha256: plan.integrity.sha256,
    });
    const reportPath = join(dirname(path), 'run-report.json');
    const report = await runAttempts({
      plan,
      planPath: path,
      env: options.env,
      graceMs: graceS * 1000,
      stall,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.stopGraceMs !== undefined ? { stopGraceMs: options.stopGraceMs } : {}),
      ...(options.onLine ? { onLine: options.onLine } : {}),
      now,
      maxRestarts,
      forced,
      codeChanges,
      verifyCode: () => verifyCode(plan, options),
      onAttempt: async (r, restarting) => {
        await writeJsonAtomic(reportPath, r);
        const last = r.attempts![r.attempts!.length - 1]!;
        audit.log({
          phase: 'launch',
          decision: restarting ? 'restarting' : r.status,
          attempt: last.attempt,
          failed_ranks: last.failedRanks,
          resumed_from_step: last.resumedFromStep,
          report: reportPath,
          flags: r.ranks.map((x) => x.flags),
        });
      },
      onRestartRefused: (changes) =>
        audit.log({
          phase: 'code_check',
          decision: 'restart_refused',
          changes: changes.map((c) => ({ node: c.node, file: c.file, problem: c.problem })),
          plan_sha256: plan.integrity.sha256,
        }),
    });
    // A restart refused for changed code adds a reason after the last write.
    await writeJsonAtomic(reportPath, report);
    return { kind: 'ran', plan: path, report, reportPath, interrupted: options.signal?.aborted === true };
  } finally {
    await audit.close();
  }
}

/** Hashes the plan's code files again on every participating node; the differences from the plan. */
async function verifyCode(plan: Plan, options: LaunchPlanOptions): Promise<CodeChange[]> {
  const nodes = plan.strategy.participating_nodes.map((name) => {
    const r = plan.distributed_config.ranks.find((x) => x.node === name)!;
    return {
      name,
      host: r.host,
      transport: r.transport,
      workdir: r.workdir,
      python: r.python,
      ssh: plan.cluster.ssh,
    };
  });
  const current = await Promise.all(
    nodes.map((n) => probeCodeManifest(n, plan.code.files, { env: options.env, signal: options.signal })),
  );
  return compareManifests(plannedManifests(plan), current);
}
