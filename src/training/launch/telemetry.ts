/**
 * Telemetry lines (pure): `MARSHAL_METRIC {"step","examples","loss","grad_norm","param_hash"}` on
 * a rank's stdout (a launcher prefix before the marker, as torchrun's `[default0]:`, is allowed).
 * JSON has no NaN: "NaN", "Infinity" and "-Infinity" strings (and the bare Python tokens) are read
 * as the numbers they stand for.
 */
export const METRIC_MARKER = 'MARSHAL_METRIC ';

export interface Metric {
  /** The rank that printed the line when it says so (marshal_train.report always does). */
  rank: number | null;
  step: number;
  examples: number;
  loss: number;
  grad_norm: number;
  param_hash: string | null;
}

function num(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (v === 'NaN' || v === 'nan') return Number.NaN;
  if (v === 'Infinity' || v === 'inf') return Number.POSITIVE_INFINITY;
  if (v === '-Infinity' || v === '-inf') return Number.NEGATIVE_INFINITY;
  return null;
}

/** Parses one output line; null when it is not a (valid) metric line. */
export function parseMetricLine(line: string): Metric | null {
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
    return null;
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const r = raw as Record<string, unknown>;
  const step = num(r.step);
  const examples = num(r.examples);
  const loss = num(r.loss);
  const grad = num(r.grad_norm);
  if (step === null || examples === null || !Number.isInteger(examples) || examples < 0) return null;
  return {
    rank: typeof r.rank === 'number' && Number.isInteger(r.rank) ? r.rank : null,
    step,
    examples,
    loss: loss ?? Number.NaN,
    grad_norm: grad ?? Number.NaN,
    param_hash: typeof r.param_hash === 'string' ? r.param_hash : null,
  };
}
