/**
 * The `train plan` use case: read the dataset and the cluster, gather the facts (pre-sync,
 * calibration, script hashes, checkpoint dir), build and seal the plan, write it atomically and
 * audit every phase. The plan is written even when its pre-flight fails (then `status: 'blocked'`);
 * the caller decides what a blocked plan means (the CLI exits 5).
 *
 * ```ts
 * const { path, plan } = await planTraining({
 *   cluster: 'cluster.yaml', script: 'train.py', dataset: '120000',
 *   calibration: { mode: 'file', path: 'calibration.json' },
 *   cwd: process.cwd(), env: process.env, signal,
 * });
 * ```
 */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { writeJsonAtomic } from '../../core/atomic-file.ts';
import { checkAggregation } from '../aggregation-plan.ts';
import { openAudit } from '../audit.ts';
import { loadCluster } from '../cluster.ts';
import { readDataset } from '../dataset.ts';
import { gatherFacts } from '../facts.ts';
import { buildPlan } from '../plan.ts';
import { loadPlanKey } from '../plan-key.ts';
import type { Plan } from '../plan-schema.ts';
import { checkNumberSetting, TRAINING_SETTINGS } from '../settings.ts';

/** Where the hardware calibration comes from. */
export type PlanCalibration =
  | {
      mode: 'measure';
      benchmark?: string;
      durationS?: number;
      repeats?: number;
      remeasureRepeats?: number;
      benchmarkTimeoutS?: number;
    }
  /** `benchmark`: the one the file should have measured (default the shipped one); hardware_layer warns otherwise. */
  | { mode: 'file'; path: string; benchmark?: string }
  | { mode: 'skip' };

/** Planner tuning; each setting's default and bounds are in {@link TRAINING_SETTINGS}. */
export interface PlanTuning {
  globalBatchSize?: number;
  chunkSize?: number;
  chunkThreshold?: number;
  consistencyThreshold?: number;
  minFreeGb?: number;
  /** Gradient rule of the ranks' robust_all_reduce (default mean). */
  aggregation?: string;
  /** Byzantine ranks the rule tolerates (default 0). */
  byzantineF?: number;
}

export interface PlanTrainingOptions extends PlanTuning {
  /** Cluster file (relative to `cwd`). */
  cluster: string;
  /** Training script, relative to each node's workdir. */
  script: string;
  /**
   * Extra code files (relative to each workdir) the plan lists with the script and the helper
   * `marshal_train.py`: launch refuses to start when any of them changed on any node.
   */
  code?: readonly string[];
  /** A positive integer, or a dataset file (relative to `cwd`). */
  dataset: string;
  checkpointDir?: string;
  calibration: PlanCalibration;
  /** Where to write the plan (relative to `cwd`); default `plan.json`. */
  out?: string;
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

export interface PlannedTraining {
  /** Absolute path of the written plan. */
  path: string;
  plan: Plan;
}

/** Checks the tuning settings and turns them into the planner's options. */
export function plannerTuning(t: PlanTuning) {
  const minFreeGb = checkNumberSetting('minFreeGb', t.minFreeGb);
  const globalBatchSize = checkNumberSetting('globalBatchSize', t.globalBatchSize);
  const chunkSize = checkNumberSetting('chunkSize', t.chunkSize);
  const chunkThreshold = checkNumberSetting('chunkThreshold', t.chunkThreshold);
  const consistencyThreshold = checkNumberSetting('consistencyThreshold', t.consistencyThreshold);
  return {
    aggregation: checkAggregation(t.aggregation, t.byzantineF),
    minFreeBytes: (minFreeGb ?? TRAINING_SETTINGS.minFreeGb.default) * 2 ** 30,
    ...(globalBatchSize !== undefined ? { globalBatchSize } : {}),
    ...(chunkSize !== undefined ? { chunkSize } : {}),
    ...(chunkThreshold !== undefined ? { chunkThreshold } : {}),
    ...(consistencyThreshold !== undefined ? { consistencyThreshold } : {}),
  };
}

/** Plans a training run and writes the sealed plan; returns it whether or not it is blocked. */
export async function planTraining(options: PlanTrainingOptions): Promise<PlannedTraining> {
  const tuning = plannerTuning(options);
  const c = options.calibration;
  const calibration =
    c.mode === 'measure'
      ? {
          mode: 'measure' as const,
          options: {
            durationS: checkNumberSetting('durationS', c.durationS) ?? TRAINING_SETTINGS.durationS.default,
            repeats: checkNumberSetting('repeats', c.repeats) ?? TRAINING_SETTINGS.repeats.default,
            ...(c.remeasureRepeats !== undefined
              ? { remeasureRepeats: checkNumberSetting('remeasureRepeats', c.remeasureRepeats)! }
              : {}),
            ...(c.benchmark !== undefined ? { benchmark: c.benchmark } : {}),
            ...(c.benchmarkTimeoutS !== undefined
              ? { timeoutMs: checkNumberSetting('benchmarkTimeoutS', c.benchmarkTimeoutS)! * 1000 }
              : {}),
          },
        }
      : c.mode === 'file'
        ? {
            mode: 'file' as const,
            path: resolve(options.cwd, c.path),
            ...(c.benchmark !== undefined ? { benchmark: c.benchmark } : {}),
          }
        : { mode: 'skip' as const };
  const out = resolve(options.cwd, options.out ?? TRAINING_SETTINGS.out.default);
  const dataset = await readDataset(options.dataset, options.cwd);
  const cluster = await loadCluster(options.cluster, { cwd: options.cwd, env: options.env });
  // Before any node is touched: a config directory that cannot hold the key fails here.
  const key = await loadPlanKey(options.env, { create: true });
  const facts = await gatherFacts(cluster, {
    script: options.script,
    ...(options.code ? { code: options.code } : {}),
    dataset,
    ...(options.checkpointDir !== undefined ? { checkpointDir: options.checkpointDir } : {}),
    calibration,
    env: options.env,
    cwd: options.cwd,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const plan = buildPlan(facts, { ...tuning, planDir: dirname(out), sealKey: key.key });
  await mkdir(dirname(out), { recursive: true });
  await writeJsonAtomic(out, plan);
  await auditPlan(out, plan);
  return { path: out, plan };
}

/** One audit record per phase of the plan. */
function auditPlan(planPath: string, plan: Plan): Promise<void> {
  const command = 'plan';
  const audit = openAudit(planPath);
  audit.log({
    phase: 'pre_rdma_sync',
    decision: plan.pre_rdma_sync.sync_status,
    command,
    exit_code: plan.pre_rdma_sync.exit_code,
  });
  audit.log({
    phase: 'hardware_calibration',
    decision: plan.hardware_calibration.enabled ? 'calibrated' : 'skipped',
    command,
    source: plan.hardware_calibration.source,
    measured: plan.hardware_calibration.measured_performance,
  });
  audit.log({
    phase: 'worker_consistency',
    decision: plan.worker_consistency.status,
    command,
    agreement: plan.worker_consistency.agreement,
    divergent: plan.worker_consistency.byzantine_detection.divergent_workers.map((d) => d.node),
  });
  audit.log({
    phase: 'coordinator_chunking',
    decision: plan.coordinator_chunking.enabled ? 'enabled' : 'disabled',
    command,
    chunk_size: plan.coordinator_chunking.chunk_size,
  });
  for (const c of plan.pre_flight_checklist.checks)
    audit.log({ phase: 'pre_flight', decision: c.status, command, check: c.name, message: c.message });
  audit.log({
    phase: command,
    decision: plan.pre_flight_checklist.overall_status,
    command,
    plan_sha256: plan.integrity.sha256,
  });
  return audit.close();
}
