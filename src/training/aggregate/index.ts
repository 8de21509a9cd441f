import { assertNever, MarshalError } from '../../core/errors.ts';
import { centeredClipping } from './centered-clipping.ts';
import { coordinateMedian } from './coordinate-median.ts';
import { geometricMedian } from './geometric-median.ts';
import { multiKrum } from './krum.ts';
import { mean } from './mean.ts';
import { checkShape, nonFiniteInputs, preconditionFailed, resultBuffer } from './preconditions.ts';
import { trimmedMean } from './trimmed-mean.ts';
import {
  AGGREGATION_RULES,
  type AggregateOptions,
  type AggregateResult,
  type AggregationRule,
  type Vectors,
} from './types.ts';

export {
  type ReferenceOptions,
  type ReferenceResult,
  referenceAggregate,
  referenceDistance,
  referenceRobustScale,
  referenceScale,
} from './reference.ts';
export type { AggregateOptions, AggregateResult, AggregationRule, Vector, Vectors } from './types.ts';
export { AGGREGATION_RULES } from './types.ts';

/** One line per rule: what it computes and what it requires (for help and docs). */
export const AGGREGATION_RULE_PRECONDITIONS: Readonly<Record<AggregationRule, string>> = {
  mean: 'n >= f + 1 (not robust: the baseline)',
  median: 'n >= 2f + 1',
  'trimmed-mean': 'f <= trim (default f), n >= 2 trim + 1',
  krum: 'n >= 2f + 3',
  'multi-krum': 'n >= 2f + 3, 1 <= m <= n - f (default m = n - f)',
  'geometric-median': 'n >= 2f + 1',
  'centered-clipping': 'n >= 2f + 1',
};

/** True when `name` is one of {@link AGGREGATION_RULES}. */
export function isAggregationRule(name: string): name is AggregationRule {
  return (AGGREGATION_RULES as readonly string[]).includes(name);
}

/**
 * Aggregates one vector per worker with a robust rule that tolerates `f` Byzantine inputs. Pure:
 * reads the inputs, never modifies them, returns a new Float64Array. Every rule checks its
 * preconditions first (see {@link AGGREGATION_RULE_PRECONDITIONS}) and all of them require a
 * non-empty list of equal-length Float32Array/Float64Array inputs; a violation raises MarshalError
 * 'E_AGGREGATION_PRECONDITION' (exit 2) naming the rule and the condition.
 *
 * An input with a NaN or an infinite value counts as Byzantine: it is left out (never selected,
 * scored Infinity, excluded from medians and means) and counts toward f, so the rule runs on the
 * other inputs with f reduced by their number (trim too); `nonFinite` lists them. More than f such
 * inputs, or `strict: true`, is refused. The check costs nothing on clean inputs: every kernel
 * notices non-finite values while it reads the data, and only then are the inputs examined.
 *
 * @example
 * const { result, selected } = aggregate('krum', [a, b, c, d, e], { f: 1 });
 */
export function aggregate(
  rule: AggregationRule,
  vectors: Vectors,
  options: AggregateOptions,
): AggregateResult {
  if (!isAggregationRule(rule)) {
    preconditionFailed(rule, 'known rule', `unknown rule, expected one of ${AGGREGATION_RULES.join(', ')}`);
  }
  const { f } = options;
  const d = checkShape(rule, vectors, f);
  if (options.m !== undefined && rule !== 'multi-krum') {
    preconditionFailed(
      rule,
      'm only for multi-krum',
      `m applies to multi-krum only, got m = ${String(options.m)}`,
      {
        m: options.m,
      },
    );
  }
  // Untouched until a rule writes it: a fresh array costs its page faults only then.
  const into = resultBuffer(rule, options.out, d, vectors, options.momentum);
  try {
    return { ...runRule(rule, vectors, options, f, d, into), nonFinite: [] };
  } catch (err) {
    if (options.strict === true || !isNonFiniteInput(err)) throw err;
  }
  const bad = nonFiniteInputs(vectors);
  if (bad.length > f) {
    preconditionFailed(
      rule,
      'at most f non-finite inputs',
      `${bad.length} inputs have non-finite values (vectors ${bad.join(', ')}), more than f = ${f}`,
      { nonFinite: bad, f },
    );
  }
  const kept = vectors.map((_, i) => i).filter((i) => !bad.includes(i));
  const b = bad.length;
  const trim = options.trim === undefined ? undefined : options.trim - b;
  const r = runRule(
    rule,
    kept.map((i) => vectors[i]!),
    { ...options, trim },
    f - b,
    d,
    into,
  );
  const out: AggregateResult = { ...r, f, nonFinite: bad };
  if (r.selected) out.selected = r.selected.map((i) => kept[i]!);
  if (r.scores) {
    const scores = vectors.map(() => Number.POSITIVE_INFINITY);
    r.scores.forEach((s, i) => {
      scores[kept[i]!] = s;
    });
    out.scores = scores;
  }
  return out;
}

function runRule(
  rule: AggregationRule,
  vectors: Vectors,
  options: AggregateOptions,
  f: number,
  d: number,
  into: Float64Array,
): Omit<AggregateResult, 'nonFinite'> {
  switch (rule) {
    case 'mean':
      return { rule, f, result: mean(vectors, f, d, into) };
    case 'median':
      return { rule, f, result: coordinateMedian(vectors, f, d, into) };
    case 'trimmed-mean':
      return { rule, f, result: trimmedMean(vectors, f, d, options.trim ?? f, into) };
    case 'krum':
    case 'multi-krum': {
      const m = rule === 'krum' ? 1 : (options.m ?? vectors.length - f);
      return { rule, f, ...multiKrum(vectors, f, d, m, rule, into) };
    }
    case 'geometric-median':
      return { rule, f, ...geometricMedian(vectors, f, d, options, into) };
    case 'centered-clipping':
      return { rule, f, ...centeredClipping(vectors, f, d, options, into) };
    default:
      return assertNever(rule, 'aggregation rule');
  }
}

/** The refusal a kernel raises when it read a non-finite input value (not an option, not overflow). */
function isNonFiniteInput(err: unknown): boolean {
  return (
    err instanceof MarshalError &&
    err.details?.condition === 'finite values' &&
    typeof err.details.index === 'number'
  );
}
