/**
 * The WebAssembly SIMD kernels (src/training/aggregate/wasm-kernels.ts) against the TypeScript
 * loops and plain sums, and the geometric median's two ways of taking distances against the
 * float64 reference. setWasmKernels(false) forces the TypeScript loops; every test turns the
 * kernels back on when it ends.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { aggregate, referenceAggregate } from '../../src/training/aggregate/index.ts';
import { combine } from '../../src/training/aggregate/mean.ts';
import { pairsPass, pairwiseSquaredDistances } from '../../src/training/aggregate/pairwise.ts';
import { setWasmKernels, wasmKernels } from '../../src/training/aggregate/wasm.ts';
import { pinPropertySeed } from '../helpers/property-seed.ts';
import { assertClose } from './aggregate-helpers.ts';

pinPropertySeed();
afterEach(() => setWasmKernels(true));

/** Reproducible rows of integers in [-1000, 1000]: every sum of squares below is exact. */
function integerRows(n: number, d: number, seed: number): number[][] {
  let s = seed | 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) % 2001) - 1000;
  };
  return Array.from({ length: n }, () => Array.from({ length: d }, next));
}

function directSquared(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += (a[k]! - b[k]!) ** 2;
  return s;
}

/** n from 2 to 37 covers every count of four-column tiles and remainders; d crosses block ends. */
const shapeArb = fc.record({
  n: fc.integer({ min: 2, max: 37 }),
  d: fc.integer({ min: 1, max: 9000 }),
  seed: fc.integer(),
});

describe('WebAssembly aggregation kernels', () => {
  it('the runtime has WebAssembly SIMD (otherwise every test below checks the TypeScript loops only)', () => {
    assert.ok(wasmKernels() !== null);
  });

  it('pairs: every pairwise squared distance exactly, with and without WebAssembly', () => {
    fc.assert(
      fc.property(shapeArb, ({ n, d, seed }) => {
        const rows = integerRows(n, d, seed);
        const vs = rows.map((r) => Float32Array.from(r));
        for (const on of [true, false]) {
          setWasmKernels(on);
          const D = pairsPass(vs, d, 1);
          for (let i = 0; i < n; i++) {
            assert.equal(D[i * n + i], 0);
            for (let j = 0; j < n; j++) {
              if (j !== i) assert.equal(D[i * n + j], directSquared(rows[i]!, rows[j]!), `${on} ${i} ${j}`);
            }
          }
        }
      }),
      { numRuns: 30 },
    );
  });

  it('pairs: tiny and huge differences are rescaled by a power of two instead of underflowing', () => {
    const rows = integerRows(6, 300, 7);
    for (const magnitude of [1e-170, 1e160]) {
      const vs = rows.map((r) => Float64Array.from(r, (x) => x * magnitude));
      const { D, scale } = pairwiseSquaredDistances(vs, 300)!;
      assert.notEqual(scale, 1);
      assert.ok(Number.isInteger(Math.log2(scale)), `scale ${scale}`);
      for (let i = 0; i < 6; i++) {
        for (let j = i + 1; j < 6; j++) {
          const expected = directSquared(rows[i]!, rows[j]!);
          const got = D[i * 6 + j]! / (scale * magnitude) ** 2;
          assert.ok(Math.abs(got - expected) <= 1e-12 * expected, `${magnitude}: ${got} vs ${expected}`);
        }
      }
    }
  });

  it('combine: Float32 rows through WebAssembly and the same values as Float64 give the same bits', () => {
    fc.assert(
      fc.property(shapeArb, fc.boolean(), ({ n, d, seed }, unit) => {
        const rows = integerRows(n, d, seed).map((r) => r.map((x) => x / 7));
        const f32 = rows.map((r) => Float32Array.from(r));
        const f64 = f32.map((v) => Float64Array.from(v));
        const weights = Float64Array.from({ length: n }, (_, i) => (unit ? 1 : 1 / (i + 3)));
        const order = Array.from({ length: n }, (_, i) => i).filter((i) => i % 3 !== 1);
        const divisor = unit ? order.length : 1;
        const a = combine(f32, order, weights, d, divisor, new Float64Array(d));
        const b = combine(f64, order, weights, d, divisor, new Float64Array(d));
        assert.equal(a.bad, 0);
        assert.deepEqual(a.out, b.out);
      }),
      { numRuns: 30 },
    );
  });

  it('mean: the reference kernel to the last bit, and a NaN in a Float32 input is Byzantine', () => {
    const rows = integerRows(9, 5000, 3).map((r) => r.map((x) => x / 3));
    const vs = rows.map((r) => Float32Array.from(r));
    const asRead = vs.map((v) => Array.from(v));
    assert.deepEqual(
      Array.from(aggregate('mean', vs, { f: 0 }).result),
      referenceAggregate('mean', asRead, { f: 0 }).result,
    );
    vs[4]![4321] = Number.NaN;
    const out = aggregate('mean', vs, { f: 1 });
    assert.deepEqual(out.nonFinite, [4]);
    const kept = asRead.filter((_, i) => i !== 4);
    assert.deepEqual(Array.from(out.result), referenceAggregate('mean', kept, { f: 0 }).result);
  });

  it('every rule gives the same result with and without WebAssembly on exact data', () => {
    const rows = integerRows(11, 6000, 11);
    rows[0] = rows[0]!.map((x) => x + 1e5);
    const vs = rows.map((r) => Float32Array.from(r));
    for (const rule of ['mean', 'krum', 'multi-krum', 'geometric-median'] as const) {
      setWasmKernels(true);
      const a = aggregate(rule, vs, { f: 2 });
      setWasmKernels(false);
      const b = aggregate(rule, vs, { f: 2 });
      assert.deepEqual(a.selected, b.selected, rule);
      assertClose(a.result, b.result, 1e-13, rule);
    }
  });
});

describe('geometric median: distances from the identity, from the data, and the reference', () => {
  const clusterRows = (n: number, d: number, seed: number, offset: number, far: number) =>
    integerRows(n, d, seed).map((r, i) => r.map((x) => offset + x / 1000 + (i === 0 ? far : 0)));

  it('a well-conditioned cluster (identity distances) agrees with the reference to 1e-12', () => {
    const rows = clusterRows(9, 3000, 5, 0, 5);
    const ours = aggregate(
      'geometric-median',
      rows.map((r) => Float64Array.from(r)),
      { f: 1 },
    );
    const ref = referenceAggregate('geometric-median', rows, { f: 1 });
    assertClose(ours.result, ref.result, 1e-12, 'well-conditioned');
  });

  it('a far outlier (the identity would cancel: steps from the data) agrees with the reference', () => {
    // far 1e6 with tolerance 1e-5: past the cancellation bound, not at the rounding level.
    for (const [far, tolerance] of [
      [1e6, 1e-5],
      [1e12, 1e-9],
    ] as const) {
      const rows = clusterRows(7, 2000, 9, 0, far);
      const vs = rows.map((r) => Float64Array.from(r));
      const ours = aggregate('geometric-median', vs, { f: 1, tolerance });
      const ref = referenceAggregate('geometric-median', rows, { f: 1, tolerance });
      assertClose(ours.result, ref.result, 1e-9, `far outlier ${far}`);
      for (const x of ours.result) assert.ok(Math.abs(x) < 1.1, `${x} stays in the honest box`);
    }
  });

  it('a threshold at the rounding level of the iterate follows the reference to the last bit', () => {
    // Centre 1e3, spread 1e-6: tolerance 1e-9 x the spread is below the coordinates' ulps.
    const rows = clusterRows(6, 40, 13, 1000, 0).map((r) => r.map((x) => 1000 + (x - 1000) / 1000));
    rows[2] = [...rows[1]!];
    const ours = aggregate(
      'geometric-median',
      rows.map((r) => Float64Array.from(r)),
      { f: 1 },
    );
    const ref = referenceAggregate('geometric-median', rows, { f: 1 });
    assert.deepEqual(Array.from(ours.result), ref.result);
  });
});
