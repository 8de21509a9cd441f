/**
 * The `train check` use case: re-read the cluster file a plan names, re-run the sync script and the
 * node probes, and judge every node's script against the hash the plan recorded, so a copy edited
 * since planning is named. Calibration is taken from the plan. Audited next to the plan.
 */
import { dirname } from 'node:path';
import { openAudit } from '../audit.ts';
import { loadCluster } from '../cluster.ts';
import { type CodeChange, compareManifests, plannedManifests } from '../code-manifest.ts';
import { type DatasetFact, readDataset } from '../dataset.ts';
import { gatherFacts } from '../facts.ts';
import { layoutRanks } from '../layout.ts';
import { type PreflightCheck, preflight } from '../preflight.ts';
import { readPlanFile } from './read-plan-file.ts';

export interface CheckPlanOptions {
  /** The plan file (relative to `cwd`). */
  plan: string;
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

/** The current pre-flight of a plan (the `train check --json` document). */
export interface PlanCheck {
  /** Absolute path of the plan. */
  plan: string;
  checked_at: string;
  overall_status: 'pass' | 'warn' | 'fail';
  checks: PreflightCheck[];
  divergent_workers: string[];
  /** Code files (script, helper, extras) that differ from the plan on a participating node: launch refuses them. */
  code_changes: CodeChange[];
}

/** Re-runs a plan's pre-flight against the cluster as it is now. */
export async function checkPlan(options: CheckPlanOptions): Promise<PlanCheck> {
  const { plan, path } = await readPlanFile(options.plan, { cwd: options.cwd, env: options.env });
  const cluster = await loadCluster(plan.cluster.file, { cwd: options.cwd, env: options.env });
  const dataset: DatasetFact = plan.dataset.file
    ? await readDataset(plan.dataset.file, options.cwd)
    : plan.dataset;
  const report = plan.hardware_calibration.report;
  const facts = await gatherFacts(cluster, {
    script: plan.script,
    code: plan.code.files,
    dataset,
    ...(plan.checkpoint_strategy.dir ? { checkpointDir: plan.checkpoint_strategy.dir } : {}),
    calibration: {
      mode: 'given',
      report,
      ...(report ? {} : { reason: plan.hardware_calibration.reason ?? 'no calibration in the plan' }),
    },
    env: options.env,
    cwd: options.cwd,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const tuning = {
    globalBatchSize: plan.batch_configuration.global_batch_size,
    consistencyThreshold: plan.worker_consistency.consistency_threshold,
    chunkThreshold: plan.coordinator_chunking.threshold,
    ...(plan.coordinator_chunking.chunk_size ? { chunkSize: plan.coordinator_chunking.chunk_size } : {}),
    ...(plan.worker_consistency.script_hash ? { referenceHash: plan.worker_consistency.script_hash } : {}),
  };
  const layout = layoutRanks(facts, tuning);
  const a = plan.gradient_aggregation;
  const aggregation = a ? { rule: a.rule, f: a.byzantine_f } : undefined;
  const result = preflight(facts, { ...tuning, layout, ...(aggregation ? { aggregation } : {}) });
  const audit = openAudit(path);
  for (const c of result.checks)
    audit.log({
      phase: 'pre_flight',
      decision: c.status,
      command: 'check',
      check: c.name,
      message: c.message,
    });
  audit.log({
    phase: 'check',
    decision: result.overall_status,
    command: 'check',
    plan_sha256: plan.integrity.sha256,
    plan_dir: dirname(path),
  });
  await audit.close();
  return {
    plan: path,
    checked_at: facts.gatheredAt,
    overall_status: result.overall_status,
    checks: result.checks,
    divergent_workers: layout.consistency.divergent.map((d) => d.node),
    code_changes: compareManifests(
      plannedManifests(plan),
      facts.code.nodes.filter((m) => plan.strategy.participating_nodes.includes(m.node)),
    ),
  };
}
