import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { writeJsonAtomic } from '../core/atomic-file.ts';
import { ExitCode, MarshalError, UsageError } from '../core/errors.ts';
import { sanitizeForTerminal } from '../core/log-hygiene.ts';
import { openAudit } from '../training/audit.ts';
import { loadCluster } from '../training/cluster.ts';
import { readDataset } from '../training/dataset.ts';
import { TRAINING_ERRORS } from '../training/errors.ts';
import { type CalibrationSource, gatherFacts } from '../training/facts.ts';
import { buildPlan } from '../training/plan.ts';
import type { Plan } from '../training/plan-schema.ts';
import { type CommandSpec, numberOption, type OptionValues, stringOption } from './command.ts';
import { type Io, printJson, println } from './io.ts';
import { checklistExit, progress, renderChecklist, requiredOption } from './train-common.ts';

/** Options shared by `train plan` that tune the planner. */
export function plannerOptions(values: OptionValues) {
  const minFreeGb = numberOption(values, 'min-free-gb', { min: 0 });
  const batch = numberOption(values, 'batch-size', { min: 1, integer: true });
  const chunkSize = numberOption(values, 'chunk-size', { min: 1, integer: true });
  const chunkThreshold = numberOption(values, 'chunk-threshold', { min: 1, integer: true });
  const threshold = numberOption(values, 'consistency-threshold', { min: 0, max: 1 });
  return {
    ...(minFreeGb !== undefined ? { minFreeBytes: minFreeGb * 2 ** 30 } : {}),
    ...(batch !== undefined ? { globalBatchSize: batch } : {}),
    ...(chunkSize !== undefined ? { chunkSize } : {}),
    ...(chunkThreshold !== undefined ? { chunkThreshold } : {}),
    ...(threshold !== undefined ? { consistencyThreshold: threshold } : {}),
  };
}

/** One audit record per phase of a plan or check. */
export function auditPlan(
  planPath: string,
  plan: Pick<
    Plan,
    | 'pre_flight_checklist'
    | 'hardware_calibration'
    | 'worker_consistency'
    | 'pre_rdma_sync'
    | 'coordinator_chunking'
    | 'integrity'
  >,
  command: string,
): Promise<void> {
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

function printSummary(io: Io, plan: Plan, path: string): void {
  println(
    io.stdout,
    `plan: ${sanitizeForTerminal(path)} (${plan.status}, sha256 ${plan.integrity.sha256.slice(0, 12)})`,
  );
  println(
    io.stdout,
    `dataset: ${plan.dataset.count} examples; world size ${plan.strategy.world_size}; ${plan.batch_configuration.steps} steps`,
  );
  for (const r of plan.distributed_config.ranks) {
    println(
      io.stdout,
      `  rank ${r.rank} ${sanitizeForTerminal(r.node)}: [${r.start}, ${r.end}) ${r.examples} examples (${(r.share * 100).toFixed(1)}%), batch ${r.batch_size}`,
    );
  }
  for (const e of plan.strategy.excluded_nodes)
    println(io.stdout, `  excluded ${sanitizeForTerminal(e.node)}: ${sanitizeForTerminal(e.reason)}`);
  const c = plan.coordinator_chunking;
  println(
    io.stdout,
    `chunking: ${c.enabled ? `on, ${c.num_chunks} chunks of ${c.chunk_size}` : 'off'} (${sanitizeForTerminal(c.reason ?? '')})`,
  );
  renderChecklist(io, plan.pre_flight_checklist);
}

export const trainPlanCommand: CommandSpec = {
  name: 'train plan',
  summary: 'gather facts, run the pre-flight checklist and write a sealed training plan',
  usage:
    'train plan --cluster <file> --script <train.py> --dataset <count|file> [--checkpoint-dir <dir>] [--calibration <file>] [--out <plan.json>] [--json]',
  description: [
    'Phases: pre-sync (sync.script), calibration (or --calibration <file> from `train calibrate',
    '--json`, or --skip-calibration for equal shares), script consistency (SHA-256 of --script in',
    "each node's workdir, majority hash, agreement >= 0.95), sharding, chunking, pre-flight.",
    '--dataset is a positive integer, or a file: non-empty lines of .jsonl/.txt, array length of .json.',
    'The plan is written (atomically) even when the pre-flight fails; it is then marked blocked.',
  ].join('\n'),
  options: {
    cluster: { type: 'string', valueName: 'file', description: 'cluster file (YAML or JSON)' },
    script: {
      type: 'string',
      valueName: 'train.py',
      description: "training script, relative to each node's workdir",
    },
    dataset: {
      type: 'string',
      valueName: 'count|file',
      description: 'number of examples, or a dataset file',
    },
    'checkpoint-dir': {
      type: 'string',
      valueName: 'dir',
      description: 'checkpoint directory (relative to the cluster file; inside it or allowed_roots)',
    },
    calibration: {
      type: 'string',
      valueName: 'file',
      description: 'saved `train calibrate --json` output instead of measuring',
    },
    'skip-calibration': {
      type: 'boolean',
      description: 'assume equal throughput (hardware_calibration disabled)',
    },
    benchmark: { type: 'string', valueName: 'script', description: 'benchmark script when measuring' },
    duration: {
      type: 'string',
      valueName: 's',
      description: 'benchmark seconds when measuring',
      defaultText: '5',
    },
    repeats: {
      type: 'string',
      valueName: 'n',
      description: 'benchmark runs per node when measuring',
      defaultText: '3',
    },
    out: {
      type: 'string',
      valueName: 'plan.json',
      description: 'where to write the plan',
      defaultText: 'plan.json',
    },
    'batch-size': {
      type: 'string',
      valueName: 'n',
      description: 'global batch (examples per step, all ranks)',
      defaultText: '32 x world size',
    },
    'chunk-size': {
      type: 'string',
      valueName: 'n',
      description: 'coordinator chunk size in examples',
      defaultText: '10000',
    },
    'chunk-threshold': {
      type: 'string',
      valueName: 'n',
      description: 'dataset size from which chunking is on',
      defaultText: '50000',
    },
    'consistency-threshold': {
      type: 'string',
      valueName: 'r',
      description: 'script agreement needed (0..1)',
      defaultText: '0.95',
    },
    'min-free-gb': {
      type: 'string',
      valueName: 'gb',
      description: 'free space the checkpoint dir needs',
      defaultText: '1',
    },
    json: { type: 'boolean', description: 'print {path, plan} as JSON' },
  },
  examples: [
    'marshal train plan --cluster cluster.yaml --script train.py --dataset 120000 --calibration calibration.json',
    'marshal train plan --cluster cluster.yaml --script train.py --dataset data.jsonl --checkpoint-dir ckpt --out plan.json',
  ],
  exitCodes: [
    [0, 'plan written, pre-flight pass or warn'],
    [2, 'invalid input: bad dataset count, unknown script, path escape, bad cluster or calibration file'],
    [5, 'pre-flight failed (plan written, marked blocked)'],
  ],
  async run({ values, io, signal }) {
    const clusterPath = requiredOption(values, 'cluster', 'file');
    const script = requiredOption(values, 'script', 'train.py');
    const datasetArg = requiredOption(values, 'dataset', 'count|file');
    const calibrationFile = stringOption(values, 'calibration');
    if (calibrationFile && values['skip-calibration']) {
      throw new UsageError('--calibration and --skip-calibration exclude each other');
    }
    const tuning = plannerOptions(values);
    const durationS = numberOption(values, 'duration', { min: 0.01 }) ?? 5;
    const repeats = numberOption(values, 'repeats', { min: 1, max: 100, integer: true }) ?? 3;
    const benchmark = stringOption(values, 'benchmark');
    const out = resolve(io.cwd, stringOption(values, 'out') ?? 'plan.json');
    const dataset = await readDataset(datasetArg, io.cwd);
    const cluster = await loadCluster(clusterPath, { cwd: io.cwd, env: io.env });
    const calibration: CalibrationSource = calibrationFile
      ? { mode: 'file', path: resolve(io.cwd, calibrationFile) }
      : values['skip-calibration']
        ? { mode: 'skip' }
        : { mode: 'measure', options: { durationS, repeats, ...(benchmark ? { benchmark } : {}) } };
    const checkpointDir = stringOption(values, 'checkpoint-dir');
    const facts = await gatherFacts(cluster, {
      script,
      dataset,
      ...(checkpointDir !== undefined ? { checkpointDir } : {}),
      calibration,
      env: io.env,
      cwd: io.cwd,
      signal,
      onProgress: progress(io),
    });
    const plan = buildPlan(facts, { ...tuning, planDir: dirname(out) });
    await mkdir(dirname(out), { recursive: true });
    await writeJsonAtomic(out, plan);
    await auditPlan(out, plan, 'plan');
    if (values.json) printJson(io, { path: out, plan });
    else printSummary(io, plan, out);
    const exit = checklistExit(plan.pre_flight_checklist);
    if (exit !== ExitCode.ok) {
      const err = new MarshalError(
        TRAINING_ERRORS.E_PREFLIGHT_FAILED,
        `pre-flight failed: plan ${out} is blocked`,
      );
      println(io.stderr, `marshal: ${sanitizeForTerminal(err.message)} (${err.code})`);
      return err.exitCode;
    }
    return ExitCode.ok;
  },
};
