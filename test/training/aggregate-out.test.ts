/**
 * `out`, the caller's result buffer: every rule writes its result there, to the bit what it returns
 * without one, whatever the buffer held before (NaN garbage here), on every kernel path (the
 * WebAssembly one for Float32Array inputs, the TypeScript one for Float64Array inputs or with the
 * kernels off, the geometric median's steps from the data, the retry without non-finite inputs),
 * and a buffer of the wrong type or length, or sharing memory with an input, is refused by name.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { MarshalError } from '../../src/core/errors.ts';
import {
  AGGREGATION_RULES,
  type AggregateOptions,
  type AggregationRule,
  aggregate,
  type Vectors,
} from '../../src/training/aggregate/index.ts';
import { setWasmKernels } from '../../src/training/aggregate/wasm.ts';

afterEach(() => setWasmKernels(true));

/** n vectors of dimension d (not a multiple of any block size), f of them far off. */
function data(n: number, d: number, f: number, far: number, type: 'f32' | 'f64'): Vectors {
  let s = 0x2545f491;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32 - 0.5;
  };
  return Array.from({ length: n }, (_, i) => {
    const v = type === 'f32' ? new Float32Array(d) : new Float64Array(d);
    for (let k = 0; k < d; k++) v[k] = (i < f ? far : 0) + next();
    return v;
  });
}

const garbage = (d: number) => new Float64Array(d).fill(Number.NaN);

function sameResult(rule: AggregationRule, vectors: Vectors, options: AggregateOptions): void {
  const fresh = aggregate(rule, vectors, options);
  const out = garbage(fresh.result.length);
  const reused = aggregate(rule, vectors, { ...options, out });
  assert.equal(reused.result, out, `${rule}: the result is the caller's buffer`);
  assert.deepEqual(reused.result, fresh.result, `${rule}: same values as without out`);
  const { result: _a, ...restFresh } = fresh;
  const { result: _b, ...restReused } = reused;
  assert.deepEqual(restReused, restFresh, `${rule}: same selection, scores and counts`);
}

describe('aggregate: out, the caller-owned result buffer', () => {
  for (const type of ['f32', 'f64'] as const) {
    for (const wasm of [true, false]) {
      it(`every rule writes into out what it returns without it (${type}, kernels ${wasm ? 'on' : 'off'})`, () => {
        setWasmKernels(wasm);
        const vectors = data(9, 20_003, 2, 5, type);
        for (const rule of AGGREGATION_RULES) sameResult(rule, vectors, { f: 2 });
      });
    }
  }

  it('geometric median from the data (an outlier at 1e10) and multi-krum with m', () => {
    const vectors = data(7, 3001, 1, 1e10, 'f64');
    sameResult('geometric-median', vectors, { f: 1 });
    sameResult('multi-krum', vectors, { f: 1, m: 3 });
  });

  it('centered clipping from a momentum, and the retry without a non-finite input', () => {
    const vectors = data(7, 3001, 1, 3, 'f32');
    const momentum = new Float64Array(3001).fill(0.25);
    sameResult('centered-clipping', vectors, { f: 1, momentum });
    (vectors[4] as Float32Array)[17] = Number.NaN;
    for (const rule of AGGREGATION_RULES) sameResult(rule, vectors, { f: 2 });
  });

  it('reused across rounds: each round overwrites the last one', () => {
    const out = garbage(2048);
    for (const far of [1, 100, -3]) {
      const vectors = data(5, 2048, 1, far, 'f32');
      const expected = aggregate('median', vectors, { f: 1 }).result;
      assert.deepEqual(aggregate('median', vectors, { f: 1, out }).result, expected);
    }
  });

  const refused = (options: AggregateOptions, vectors: Vectors, condition: string, message: RegExp) => {
    assert.throws(
      () => aggregate('centered-clipping', vectors, options),
      (err: unknown) => {
        assert.ok(err instanceof MarshalError);
        assert.equal(err.code, 'E_AGGREGATION_PRECONDITION');
        assert.equal(err.details?.condition, condition);
        assert.match(err.message, message);
        return true;
      },
    );
  };

  it('refuses an out of the wrong type or length, naming it', () => {
    const vectors = data(5, 64, 1, 5, 'f64');
    refused(
      { f: 1, out: new Float32Array(64) as unknown as Float64Array },
      vectors,
      'out is a Float64Array',
      /out must be a Float64Array/,
    );
    refused(
      { f: 1, out: new Float64Array(63) },
      vectors,
      'out has length d',
      /out has length 63, inputs have length 64/,
    );
  });

  it('refuses an out that shares memory with an input or the momentum', () => {
    const slab = new Float64Array(5 * 64 + 64);
    const vectors = Array.from({ length: 5 }, (_, i) => slab.subarray(i * 64, (i + 1) * 64).fill(i));
    refused(
      { f: 1, out: slab.subarray(100, 164) },
      vectors,
      'out shares no memory with the inputs',
      /out overlaps input vector 1/,
    );
    // The free tail of the same buffer is fine.
    const tail = slab.subarray(5 * 64);
    assert.equal(aggregate('median', vectors, { f: 1, out: tail }).result, tail);
    const momentum = new Float64Array(128);
    refused(
      { f: 1, momentum: momentum.subarray(0, 64), out: momentum.subarray(32, 96) },
      vectors,
      'out shares no memory with the inputs',
      /out overlaps momentum/,
    );
  });
});
