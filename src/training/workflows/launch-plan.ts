/**
 * The `train launch` use case: read and verify a plan (a tampered plan is refused, always), refuse
 * a plan whose pre-flight failed unless `force`, then either describe the exact commands
 * (`dryRun`) or hash the plan's code files again on every node (a change refuses the launch,
 * `E_CODE_CHANGED`, unless `force`), run every rank, write `run-report.json` next to the plan and
 * audit each decision.
 */
import { dirname, join } from 'node:path';
import { writeJsonAtomic } from '../../core/atomic-file.ts';
import { MarshalError } from '../../core/errors.ts';
import { openAudit } from '../audit.ts';
import type { Launcher } from '../cluster.ts';
import { type CodeChange, compareManifests, plannedManifests, probeCodeManifest } from '../code-manifest.ts';
import { TRAINING_ERRORS } from '../errors.ts';
import { buildRunReport, type RunReport } from '../launch/run-report.ts';
import { prepareProcesses, runPlan } from '../launch/runner.ts';
import type { Plan } from '../plan-schema.ts';
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
  /**
   * Launch even though the plan's pre-flight failed or its code changed on a node since planning
   * (the run then ends `degraded`); never overrides the seal check.
   */
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
      codeChanges,
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
