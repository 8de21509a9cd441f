import { describeValue, MarshalError } from '../../core/errors.ts';
import { TRAINING_ERRORS } from '../errors.ts';
import type { AggregationRule, Vectors } from './types.ts';

/** Raises E_AGGREGATION_PRECONDITION naming the rule, the violated condition and the values. */
export function preconditionFailed(
  rule: AggregationRule,
  condition: string,
  message: string,
  details: Record<string, unknown> = {},
): never {
  throw new MarshalError(TRAINING_ERRORS.E_AGGREGATION_PRECONDITION, `${rule}: ${message}`, {
    details: { rule, condition, ...details },
  });
}

/**
 * Checks what every rule needs: a non-empty list of typed arrays of one non-zero length and `f` a
 * non-negative integer. Returns the dimension. Finite values are checked by each rule while it
 * reads the data (see {@link failNonFinite}), so a clean input is read once.
 */
export function checkShape(rule: AggregationRule, vectors: Vectors, f: number): number {
  if (typeof f !== 'number' || !Number.isSafeInteger(f) || f < 0) {
    preconditionFailed(
      rule,
      'f is a non-negative integer',
      `f must be a non-negative integer, got ${describeValue(f)}`,
      {
        f,
      },
    );
  }
  if (!Array.isArray(vectors) || vectors.length === 0) {
    preconditionFailed(rule, 'n >= 1', 'needs at least one input vector, got none', { n: 0, f });
  }
  const d = vectorLength(rule, vectors, 0);
  if (d === 0) preconditionFailed(rule, 'd >= 1', 'input vectors are empty (length 0)', { d });
  for (let i = 1; i < vectors.length; i++) {
    const len = vectorLength(rule, vectors, i);
    if (len !== d) {
      preconditionFailed(rule, 'equal lengths', `vector ${i} has length ${len}, vector 0 has length ${d}`, {
        index: i,
        length: len,
        expected: d,
      });
    }
  }
  return d;
}

/**
 * Checks `out`, the caller's result buffer: a Float64Array of length d that shares no memory with
 * an input or the momentum (the rules read those while they write the result). Returns a fresh
 * zeroed array when there is none.
 */
export function resultBuffer(
  rule: AggregationRule,
  out: unknown,
  d: number,
  vectors: Vectors,
  momentum?: ArrayBufferView,
): Float64Array {
  if (out === undefined) return new Float64Array(d);
  if (!(out instanceof Float64Array)) {
    preconditionFailed(
      rule,
      'out is a Float64Array',
      `out must be a Float64Array, got ${describeValue(out)}`,
    );
  }
  if (out.length !== d) {
    preconditionFailed(rule, 'out has length d', `out has length ${out.length}, inputs have length ${d}`, {
      length: out.length,
      expected: d,
    });
  }
  const overlaps = (v: ArrayBufferView): boolean =>
    v.buffer === out.buffer &&
    v.byteOffset < out.byteOffset + out.byteLength &&
    out.byteOffset < v.byteOffset + v.byteLength;
  const index = vectors.findIndex(overlaps);
  if (index >= 0) {
    preconditionFailed(rule, 'out shares no memory with the inputs', `out overlaps input vector ${index}`, {
      index,
    });
  }
  if (momentum !== undefined && overlaps(momentum)) {
    preconditionFailed(rule, 'out shares no memory with the inputs', 'out overlaps momentum');
  }
  return out;
}

function vectorLength(rule: AggregationRule, vectors: Vectors, i: number): number {
  const v = vectors[i];
  if (!(v instanceof Float64Array) && !(v instanceof Float32Array)) {
    preconditionFailed(rule, 'typed array inputs', `vector ${i} is not a Float32Array or Float64Array`, {
      index: i,
    });
  }
  return v.length;
}

/** Raises unless `n >= min`, stating the condition as `text` (e.g. "n >= 2f + 3"). */
export function requireN(rule: AggregationRule, n: number, f: number, min: number, text: string): void {
  if (n < min) {
    preconditionFailed(rule, text, `requires ${text}, got n = ${n}, f = ${f} (needs n >= ${min})`, {
      n,
      f,
      min,
    });
  }
}

/** The first non-finite value in the inputs, or undefined. */
export function findNonFinite(
  vectors: Vectors,
): { index: number; coordinate: number; value: number } | undefined {
  for (let i = 0; i < vectors.length; i++) {
    const v = vectors[i]!;
    for (let k = 0; k < v.length; k++) {
      const x = v[k]!;
      if (x - x !== 0) return { index: i, coordinate: k, value: x };
    }
  }
  return undefined;
}

/** Indices of the inputs holding at least one NaN or infinite value, ascending. */
export function nonFiniteInputs(vectors: Vectors): number[] {
  const bad: number[] = [];
  for (let i = 0; i < vectors.length; i++) {
    const v = vectors[i]!;
    let acc = 0;
    for (let k = 0; k < v.length; k++) acc += v[k]! * 0;
    if (Number.isNaN(acc)) bad.push(i);
  }
  return bad;
}

/**
 * Called when a rule saw a non-finite intermediate: names the first non-finite input value, or
 * reports an overflow when every input is finite.
 */
export function failNonFinite(rule: AggregationRule, vectors: Vectors, what = 'intermediate sums'): never {
  const bad = findNonFinite(vectors);
  if (bad) {
    preconditionFailed(
      rule,
      'finite values',
      `vector ${bad.index} has a non-finite value ${String(bad.value)} at coordinate ${bad.coordinate}`,
      { index: bad.index, coordinate: bad.coordinate, value: String(bad.value) },
    );
  }
  preconditionFailed(rule, 'finite values', `${what} overflow: input magnitudes are too large`, {});
}
