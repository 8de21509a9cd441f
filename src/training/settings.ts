/**
 * The training settings: every option of the training workflows, with its help text, its default
 * and its bounds, written once. The library applies the defaults and names a setting by its key in
 * errors (`checkpointDir: ...`, or `` `force` `` in a hint); the CLI derives its option table,
 * `--help` text, number validation and flag names (`--checkpoint-dir`) from this table.
 */
import { InvalidInputError } from '../core/errors.ts';
import { DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_THRESHOLD } from './chunk.ts';
import { DEFAULT_CONSISTENCY_THRESHOLD } from './consistency.ts';

interface SettingBase {
  /** The CLI flag, without `--`. */
  flag: string;
  help: string;
}

/** A numeric setting: bounds are inclusive. */
export interface NumberSetting extends SettingBase {
  kind: 'number';
  valueName: string;
  default?: number;
  /** Shown instead of `default` when the default is computed. */
  defaultText?: string;
  min?: number;
  max?: number;
  integer?: boolean;
}

export interface StringSetting extends SettingBase {
  kind: 'string';
  valueName: string;
  default?: string;
  defaultText?: string;
}

export interface BooleanSetting extends SettingBase {
  kind: 'boolean';
}

export type Setting = NumberSetting | StringSetting | BooleanSetting;

export const TRAINING_SETTINGS = {
  cluster: { kind: 'string', flag: 'cluster', valueName: 'file', help: 'cluster file (YAML or JSON)' },
  script: {
    kind: 'string',
    flag: 'script',
    valueName: 'train.py',
    help: "training script, relative to each node's workdir",
  },
  dataset: {
    kind: 'string',
    flag: 'dataset',
    valueName: 'count|file',
    help: 'number of examples, or a dataset file',
  },
  checkpointDir: {
    kind: 'string',
    flag: 'checkpoint-dir',
    valueName: 'dir',
    help: 'checkpoint directory (relative to the cluster file; inside it or allowed_roots)',
  },
  calibration: {
    kind: 'string',
    flag: 'calibration',
    valueName: 'file',
    help: 'saved `train calibrate --json` output instead of measuring',
  },
  skipCalibration: {
    kind: 'boolean',
    flag: 'skip-calibration',
    help: 'assume equal throughput (hardware_calibration disabled)',
  },
  benchmark: {
    kind: 'string',
    flag: 'benchmark',
    valueName: 'script',
    help: "benchmark script, relative to each node's workdir",
    defaultText: 'the shipped PyTorch step',
  },
  durationS: {
    kind: 'number',
    flag: 'duration',
    valueName: 's',
    help: 'seconds each benchmark run measures',
    default: 5,
    min: 0.01,
    max: 86_400,
  },
  repeats: {
    kind: 'number',
    flag: 'repeats',
    valueName: 'n',
    help: 'benchmark runs per node (median kept)',
    default: 3,
    min: 1,
    max: 100,
    integer: true,
  },
  remeasureRepeats: {
    kind: 'number',
    flag: 'remeasure',
    valueName: 'n',
    help: 'runs of a second round for a node whose repeats spread more than 20% (0: never)',
    defaultText: 'the --repeats value',
    min: 0,
    max: 100,
    integer: true,
  },
  benchmarkTimeoutS: {
    kind: 'number',
    flag: 'timeout',
    valueName: 's',
    help: 'bound on one benchmark run, import time included',
    defaultText: 'duration + 120',
    min: 1,
    max: 86_400,
  },
  out: {
    kind: 'string',
    flag: 'out',
    valueName: 'plan.json',
    help: 'where to write the plan',
    default: 'plan.json',
  },
  globalBatchSize: {
    kind: 'number',
    flag: 'batch-size',
    valueName: 'n',
    help: 'global batch (examples per step, all ranks)',
    defaultText: '32 x world size',
    min: 1,
    integer: true,
  },
  chunkSize: {
    kind: 'number',
    flag: 'chunk-size',
    valueName: 'n',
    help: 'coordinator chunk size in examples',
    default: DEFAULT_CHUNK_SIZE,
    min: 1,
    integer: true,
  },
  chunkThreshold: {
    kind: 'number',
    flag: 'chunk-threshold',
    valueName: 'n',
    help: 'dataset size from which chunking is on',
    default: DEFAULT_CHUNK_THRESHOLD,
    min: 1,
    integer: true,
  },
  consistencyThreshold: {
    kind: 'number',
    flag: 'consistency-threshold',
    valueName: 'r',
    help: 'script agreement needed (0..1)',
    default: DEFAULT_CONSISTENCY_THRESHOLD,
    min: 0,
    max: 1,
  },
  minFreeGb: {
    kind: 'number',
    flag: 'min-free-gb',
    valueName: 'gb',
    help: 'free space the checkpoint dir needs',
    default: 1,
    min: 0,
  },
  plan: {
    kind: 'string',
    flag: 'plan',
    valueName: 'plan.json',
    help: 'plan written by `marshal train plan`',
  },
  dryRun: {
    kind: 'boolean',
    flag: 'dry-run',
    help: 'print the exact commands and env per process; start nothing',
  },
  force: {
    kind: 'boolean',
    flag: 'force',
    help: "launch even though the plan's pre-flight failed or its code changed (never past the seal)",
  },
  graceS: {
    kind: 'number',
    flag: 'grace',
    valueName: 's',
    help: 'time the other ranks get after one finished cleanly',
    default: 60,
    min: 0,
    max: 86_400,
  },
  maxRestarts: {
    kind: 'number',
    flag: 'max-restarts',
    valueName: 'k',
    help: 'restarts of the whole job after a rank fails (ranks resume from their last complete checkpoint)',
    default: 0,
    min: 0,
    max: 100,
    integer: true,
  },
  stallFactor: {
    kind: 'number',
    flag: 'stall-factor',
    valueName: 'r',
    help: 'a rank with no progress for r x the median step time (at least --stall-min) is flagged stalled and the run stopped; 0: off',
    default: 10,
    min: 0,
    max: 1_000_000,
  },
  stallMinS: {
    kind: 'number',
    flag: 'stall-min',
    valueName: 's',
    help: 'the stall limit is never below this many seconds (at least 5: ranks send a heartbeat every 2 s)',
    default: 60,
    min: 5,
    max: 86_400,
  },
  aggregateM: {
    kind: 'number',
    flag: 'm',
    valueName: 'm',
    help: 'multi-krum: how many of the best-scoring vectors to average',
    defaultText: 'n - f',
    min: 1,
    integer: true,
  },
  aggregateTrim: {
    kind: 'number',
    flag: 'trim',
    valueName: 'k',
    help: 'trimmed-mean: values dropped at each end of every coordinate',
    defaultText: 'f',
    min: 0,
    integer: true,
  },
  aggregateIterations: {
    kind: 'number',
    flag: 'iterations',
    valueName: 'n',
    help: 'geometric-median: Weiszfeld iteration cap; centered-clipping: clipping steps L',
    defaultText: '1000 / 3',
    min: 1,
    max: 1_000_000,
    integer: true,
  },
  aggregateTolerance: {
    kind: 'number',
    flag: 'tolerance',
    valueName: 'r',
    help: 'geometric-median: stop once a step moves by at most r x the robust scale',
    default: 1e-9,
    // Written out: the flag takes plain decimals only.
    defaultText: '0.000000001',
    min: 0,
  },
  aggregateNu: {
    kind: 'number',
    flag: 'nu',
    valueName: 'r',
    help: 'geometric-median: smoothing floor on distances (> 0)',
    defaultText: '0.000001 x the robust scale',
    min: 0,
  },
  aggregateTau: {
    kind: 'number',
    flag: 'tau',
    valueName: 'r',
    help: 'centered-clipping: clipping radius',
    defaultText: 'median distance to the start point',
    min: 0,
  },
  aggregateStrict: {
    kind: 'boolean',
    flag: 'strict',
    help: 'refuse non-finite values instead of counting their vector as Byzantine',
  },
  aggregation: {
    kind: 'string',
    flag: 'aggregation',
    valueName: 'rule',
    help: "gradient rule of the ranks' robust_all_reduce: mean, median, trimmed-mean, krum, multi-krum, geometric-median, centered-clipping",
    default: 'mean',
  },
  byzantineF: {
    kind: 'number',
    flag: 'byzantine-f',
    valueName: 'f',
    help: 'Byzantine ranks the gradient rule tolerates (pre-flight checks the rule against the world size)',
    default: 0,
    min: 0,
    integer: true,
  },
} as const satisfies Record<string, Setting>;

export type TrainingSettingName = keyof typeof TRAINING_SETTINGS;
type NumberSettingName = {
  [K in TrainingSettingName]: (typeof TRAINING_SETTINGS)[K] extends { kind: 'number' } ? K : never;
}[TrainingSettingName];

/** True for a key of {@link TRAINING_SETTINGS}. */
export function isTrainingSetting(name: string): name is TrainingSettingName {
  return Object.hasOwn(TRAINING_SETTINGS, name);
}

/** The default of a numeric setting (undefined when it is computed, see `defaultText`). */
export function settingDefault(name: NumberSettingName): number | undefined {
  const s: NumberSetting = TRAINING_SETTINGS[name];
  return s.default;
}

/**
 * Checks a numeric setting a library caller passed; undefined stays undefined. Throws
 * InvalidInputError naming the setting, the bounds and the value.
 */
export function checkNumberSetting(name: NumberSettingName, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const s: NumberSetting = TRAINING_SETTINGS[name];
  const ok =
    Number.isFinite(value) &&
    (!s.integer || Number.isInteger(value)) &&
    (s.min === undefined || value >= s.min) &&
    (s.max === undefined || value <= s.max);
  if (!ok) throw new InvalidInputError(name, value, describeBounds(s));
  return value;
}

/** `an integer >= 1`, `a number from 0 to 1`: the expectation a numeric setting states. */
export function describeBounds(s: Pick<NumberSetting, 'min' | 'max' | 'integer'>): string {
  const kind = s.integer ? 'an integer' : 'a number';
  if (s.min !== undefined && s.max !== undefined) return `${kind} from ${s.min} to ${s.max}`;
  if (s.min !== undefined) return `${kind} >= ${s.min}`;
  if (s.max !== undefined) return `${kind} <= ${s.max}`;
  return kind;
}
