import { ExitCode, MarshalError, sanitizeForTerminal, UsageError } from '../core/index.ts';
import { type Plan, type PlanCalibration, planTraining, TRAINING_ERRORS } from '../training/index.ts';
import type { CommandSpec, OptionValues } from './command.ts';
import { type Io, printJson, println } from './io.ts';
import {
  checklistExit,
  flagSetting,
  numberSetting,
  progress,
  renderChecklist,
  requiredSetting,
  stringSetting,
  trainOptions,
  withFlags,
} from './train-common.ts';

export const trainPlanCommand: CommandSpec = {
  name: 'train plan',
  summary: 'gather facts, run the pre-flight checklist and write a sealed training plan',
  usage:
    'train plan --cluster <file> --script <train.py> --dataset <count|file> [--checkpoint-dir <dir>] [--calibration <file>] [--out <plan.json>] [--json]',
  description: [
    'Phases: pre-sync (sync.script), calibration (or --calibration <file> from `train calibrate',
    '--json`, or --skip-calibration for equal shares), script consistency (SHA-256 of --script in',
    "each node's workdir, majority hash, agreement >= 0.95), sharding, chunking, pre-flight.",
    'With --calibration, --benchmark names the benchmark the file should have measured (default the',
    'shipped one); hardware_layer warns when it measured another, or is older than 7 days.',
    '--dataset is a positive integer, or a file: non-empty lines of .jsonl/.txt, array length of .json.',
    "--aggregation and --byzantine-f set the ranks' robust_all_reduce rule (MARSHAL_AGGREGATION,",
    'MARSHAL_BYZANTINE_F); pre-flight fails when the world size cannot meet the rule (krum: n >= 2f + 3).',
    'The plan is written (atomically) even when the pre-flight fails; it is then marked blocked.',
    'It is sealed with an HMAC-SHA256 under your plan key ($XDG_CONFIG_HOME/marshal/plan-seal.key,',
    '0600, made on first use) and records the SHA-256 of the script and marshal_train.py on every',
    'node, which launch checks again before starting.',
  ].join('\n'),
  options: trainOptions(
    [
      'cluster',
      'script',
      'dataset',
      'checkpointDir',
      'calibration',
      'skipCalibration',
      'benchmark',
      'durationS',
      'repeats',
      'remeasureRepeats',
      'out',
      'globalBatchSize',
      'chunkSize',
      'chunkThreshold',
      'consistencyThreshold',
      'minFreeGb',
      'aggregation',
      'byzantineF',
    ],
    { json: { type: 'boolean', description: 'print {path, plan} as JSON' } },
  ),
  examples: [
    'marshal train plan --cluster cluster.yaml --script train.py --dataset 120000 --calibration calibration.json',
    'marshal train plan --cluster cluster.yaml --script train.py --dataset data.jsonl --checkpoint-dir ckpt --out plan.json',
    'marshal train plan --cluster cluster.yaml --script train.py --dataset 4096 --aggregation krum --byzantine-f 1',
  ],
  exitCodes: [
    [0, 'plan written, pre-flight pass or warn'],
    [2, 'invalid input: bad dataset count, unknown script, path escape, bad cluster or calibration file'],
    [5, 'pre-flight failed (plan written, marked blocked)'],
  ],
  run: ({ values, io, signal }) =>
    withFlags(async () => {
      const cluster = requiredSetting(values, 'cluster');
      const script = requiredSetting(values, 'script');
      const dataset = requiredSetting(values, 'dataset');
      const checkpointDir = stringSetting(values, 'checkpointDir');
      const out = stringSetting(values, 'out');
      const { path, plan } = await planTraining({
        cluster,
        script,
        dataset,
        ...(checkpointDir !== undefined ? { checkpointDir } : {}),
        calibration: calibrationFrom(values),
        ...tuningFrom(values),
        ...(out !== undefined ? { out } : {}),
        cwd: io.cwd,
        env: io.env,
        signal,
        onProgress: progress(io),
      });
      if (values.json) printJson(io, { path, plan });
      else printSummary(io, plan, path);
      if (checklistExit(plan.pre_flight_checklist) !== ExitCode.ok) {
        const err = new MarshalError(
          TRAINING_ERRORS.E_PREFLIGHT_FAILED,
          `pre-flight failed: plan ${path} is blocked`,
        );
        println(io.stderr, `marshal: ${sanitizeForTerminal(err.message)} (${err.code})`);
        return err.exitCode;
      }
      return ExitCode.ok;
    }),
};

function calibrationFrom(values: OptionValues): PlanCalibration {
  const file = stringSetting(values, 'calibration');
  const skip = flagSetting(values, 'skipCalibration');
  if (file !== undefined && skip)
    throw new UsageError('--calibration and --skip-calibration exclude each other');
  const benchmark = stringSetting(values, 'benchmark');
  // With a file, --benchmark names the benchmark the file should have measured.
  if (file !== undefined)
    return { mode: 'file', path: file, ...(benchmark !== undefined ? { benchmark } : {}) };
  if (skip) return { mode: 'skip' };
  const durationS = numberSetting(values, 'durationS');
  const repeats = numberSetting(values, 'repeats');
  const remeasureRepeats = numberSetting(values, 'remeasureRepeats');
  return {
    mode: 'measure',
    ...(benchmark !== undefined ? { benchmark } : {}),
    ...(durationS !== undefined ? { durationS } : {}),
    ...(repeats !== undefined ? { repeats } : {}),
    ...(remeasureRepeats !== undefined ? { remeasureRepeats } : {}),
  };
}

function tuningFrom(values: OptionValues) {
  const out: Record<string, number | string> = {};
  const aggregation = stringSetting(values, 'aggregation');
  if (aggregation !== undefined) out.aggregation = aggregation;
  for (const name of [
    'globalBatchSize',
    'chunkSize',
    'chunkThreshold',
    'consistencyThreshold',
    'minFreeGb',
    'byzantineF',
  ] as const) {
    const v = numberSetting(values, name);
    if (v !== undefined) out[name] = v;
  }
  return out;
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
  const g = plan.gradient_aggregation;
  if (g) println(io.stdout, `gradient aggregation: ${g.rule}, f = ${g.byzantine_f} (requires ${g.requires})`);
  renderChecklist(io, plan.pre_flight_checklist);
}
