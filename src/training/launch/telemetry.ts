/**
 * Telemetry lines (pure): `MARSHAL_METRIC {"step","examples","loss","grad_norm","param_hash"}` on
 * a rank's stdout (a launcher prefix before the marker, as torchrun's `[default0]:`, is allowed).
 * JSON has no NaN: "NaN", "Infinity" and "-Infinity" strings (and the bare Python tokens) are read
 * as the numbers they stand for. Two more lines come from the rank-side entry (marshal_train
 * main): `MARSHAL_HEARTBEAT {...}` (progress, for the stall watch) and `MARSHAL_RANK_FAILED {...}`
 * (the script raised or exited non-zero: the runner stops every process at once).
 */
import { type RobustTelemetry, robustTelemetry } from './suspects.ts';

export const METRIC_MARKER = 'MARSHAL_METRIC ';

function robustField(r: Record<string, unknown>): { robust?: RobustTelemetry } {
  const robust = robustTelemetry(r);
  return robust ? { robust } : {};
}

export interface Metric {
  /** The rank that printed the line when it says so (marshal_train.report always does). */
  rank: number | null;
  step: number;
  examples: number;
  loss: number;
  grad_norm: number;
  param_hash: string | null;
  /** robust_all_reduce's `aggregation`, `byzantine_f` and `rejected` ranks, when the line has them. */
  robust?: RobustTelemetry;
}

function num(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (v === 'NaN' || v === 'nan') return Number.NaN;
  if (v === 'Infinity' || v === 'inf') return Number.POSITIVE_INFINITY;
  if (v === '-Infinity' || v === '-inf') return Number.NEGATIVE_INFINITY;
  return null;
}

/** One output line read: not telemetry, a metric, or a marked line that is not a valid metric. */
export type MetricLineResult =
  | { kind: 'metric'; metric: Metric }
  | { kind: 'invalid'; reason: string }
  | null;

/** Parses one output line; null when it is not a (valid) metric line. */
export function parseMetricLine(line: string): Metric | null {
  const r = readMetricLine(line);
  return r?.kind === 'metric' ? r.metric : null;
}

/**
 * Reads one output line: null without the marker; `invalid` (with why) for a marked line that is
 * not JSON, or whose `step` or `examples` is not a non-negative safe integer (`1e300` examples is
 * refused here, not summed).
 */
export function readMetricLine(line: string): MetricLineResult {
  const at = line.indexOf(METRIC_MARKER);
  if (at < 0) return null;
  const json = line
    .slice(at + METRIC_MARKER.length)
    .trim()
    .replace(/(?<=[:,[]\s*)(-?Infinity|NaN)(?=\s*[,}\]])/g, '"$1"');
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return { kind: 'invalid', reason: 'not JSON' };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    return { kind: 'invalid', reason: 'not a JSON object' };
  const r = raw as Record<string, unknown>;
  const count = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!count(r.step))
    return { kind: 'invalid', reason: `step ${JSON.stringify(r.step)} is not a non-negative integer` };
  if (!count(r.examples))
    return {
      kind: 'invalid',
      reason: `examples ${JSON.stringify(r.examples)} is not a non-negative integer`,
    };
  if (r.rank !== undefined && r.rank !== null && !count(r.rank))
    return { kind: 'invalid', reason: `rank ${JSON.stringify(r.rank)} is not a non-negative integer` };
  const loss = num(r.loss);
  const grad = num(r.grad_norm);
  return {
    kind: 'metric',
    metric: {
      rank: typeof r.rank === 'number' ? r.rank : null,
      step: r.step as number,
      examples: r.examples as number,
      loss: loss ?? Number.NaN,
      grad_norm: grad ?? Number.NaN,
      param_hash: typeof r.param_hash === 'string' ? r.param_hash : null,
      ...robustField(r),
    },
  };
}

export const HEARTBEAT_MARKER = 'MARSHAL_HEARTBEAT ';
export const RANK_FAILED_MARKER = 'MARSHAL_RANK_FAILED ';

/** `MARSHAL_HEARTBEAT {...}`: marshal_train's heartbeat thread, every few seconds while the script runs. */
export interface Heartbeat {
  rank: number | null;
  /** The step `steps()` last yielded (null before the first, or without `steps()`). */
  step: number | null;
  /** True once `steps()` ran through (the rank is past training: teardown, evaluation). */
  done: boolean;
  /** The torch.distributed function the rank's main thread is blocked in, or null. */
  collective: string | null;
}

/** `MARSHAL_RANK_FAILED {...}`: the rank-side entry saw the script raise or exit non-zero. */
export interface RankFailure {
  rank: number | null;
  exit: number | null;
  error: string;
}

/** The JSON object after `marker` in `line`; null without the marker or when it is not an object. */
function markedObject(line: string, marker: string): Record<string, unknown> | null {
  const at = line.indexOf(marker);
  if (at < 0) return null;
  try {
    const raw: unknown = JSON.parse(line.slice(at + marker.length));
    return raw !== null && typeof raw === 'object' && !Array.isArray(raw)
      ? (raw as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

const count = (v: unknown): number | null =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;

/** Parses a heartbeat line; null when it is not one (a malformed one is ignored, not counted). */
export function readHeartbeatLine(line: string): Heartbeat | null {
  const r = markedObject(line, HEARTBEAT_MARKER);
  if (!r) return null;
  return {
    rank: count(r.rank),
    step: count(r.step),
    done: r.done === true,
    collective: typeof r.collective === 'string' && r.collective !== '' ? r.collective.slice(0, 80) : null,
  };
}

/** Parses a rank-failure line; null when it is not one. The error text is cut to 500 characters. */
export function readRankFailedLine(line: string): RankFailure | null {
  const r = markedObject(line, RANK_FAILED_MARKER);
  if (!r) return null;
  return {
    rank: count(r.rank),
    exit: typeof r.exit === 'number' && Number.isSafeInteger(r.exit) ? r.exit : null,
    error: typeof r.error === 'string' ? r.error.slice(0, 500) : 'failed',
  };
}

/** True for text that is at most a launcher's line prefix (torchrun's `[default0]:`). */
export function isLauncherPrefix(text: string): boolean {
  return /^\s*(\[[^\]]*\]:?)?\s*$/.test(text);
}
