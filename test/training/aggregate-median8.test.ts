/**
 * The coordinate median's n = 8 path (a sorting network read straight from the rows): exact
 * against the reference on every 0-1 input (the 0-1 principle proves a comparator network on
 * that), on ties, on Float32 and Float64 rows, and non-finite values still count as Byzantine.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aggregate, referenceAggregate } from '../../src/training/aggregate/index.ts';

type Rows = Parameters<typeof aggregate>[1];

/** Equal to the reference coordinate by coordinate (0 and -0 are the same median). */
function same(rows: Rows, f: number, reference: Rows = rows): void {
  const got = aggregate('median', rows, { f }).result;
  const want = referenceAggregate('median', reference, { f }).result;
  assert.equal(got.length, want.length);
  for (let k = 0; k < got.length; k++) {
    if (got[k] !== want[k]) assert.fail(`coordinate ${k}: ${got[k]} vs the reference's ${want[k]}`);
  }
}

describe('median of 8 inputs', () => {
  it('equals the reference on all 256 zero-one inputs and across block edges', () => {
    // d = 256 * 3 + 5: every 0-1 pattern once per block, over several blocks and a tail.
    const d = 256 * 3 + 5;
    const rows = Array.from({ length: 8 }, (_, i) =>
      Float64Array.from({ length: d }, (_, k) => ((k % 256) >> i) & 1),
    );
    same(rows, 1);
  });

  it('equals the reference on ties and mixed magnitudes, for Float32 and Float64 rows', () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (const make of [(n: number) => new Float32Array(n), (n: number) => new Float64Array(n)]) {
      const rows = Array.from({ length: 8 }, () => {
        const v = make(3000);
        for (let k = 0; k < v.length; k++)
          v[k] = Math.round(rand() * 6 - 3) * 10 ** Math.floor(rand() * 40 - 20);
        return v;
      });
      same(rows, 3);
    }
  });

  it('a non-finite row is left out as Byzantine, as for other n', () => {
    const rows = Array.from({ length: 8 }, (_, i) => Float64Array.from({ length: 300 }, () => i));
    rows[5]![123] = Number.NaN;
    assert.deepEqual(aggregate('median', rows, { f: 1 }).nonFinite, [5]);
    // The median of the seven finite rows (the reference takes finite inputs only).
    same(
      rows,
      1,
      rows.filter((_, i) => i !== 5),
    );
  });
});
