import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MarshalError } from '../../src/core/errors.ts';
import { AGGREGATION_RULES, aggregate } from '../../src/training/aggregate/index.ts';
import { pinPropertySeed } from '../helpers/property-seed.ts';
import { caseArb, toVectors } from './aggregate-helpers.ts';

pinPropertySeed();

const badValue = fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY);

describe('aggregate: non-finite inputs count as Byzantine', () => {
  for (const rule of AGGREGATION_RULES) {
    it(`${rule}: up to f non-finite vectors are left out, reported, and never selected`, () => {
      fc.assert(
        fc.property(
          caseArb(rule, 2)
            .filter((c) => c.f >= 1)
            .chain((c) =>
              fc.record({
                c: fc.constant(c),
                hits: fc.array(fc.record({ at: fc.nat(), k: fc.nat(), value: badValue }), {
                  minLength: 1,
                  maxLength: c.f,
                }),
              }),
            ),
          ({ c, hits }) => {
            const rows = c.rows.map((r) => [...r]);
            for (const h of hits) rows[h.at % rows.length]![h.k % rows[0]!.length] = h.value;
            const bad = [...new Set(hits.map((h) => h.at % rows.length))].sort((a, b) => a - b);
            const kept = rows.map((_, i) => i).filter((i) => !bad.includes(i));
            const out = aggregate(rule, toVectors(rows), { f: c.f });
            assert.deepEqual(out.nonFinite, bad);
            assert.equal(out.f, c.f);
            // The same as aggregating the finite inputs with f reduced by the non-finite ones.
            const alone = aggregate(rule, toVectors(kept.map((i) => rows[i]!)), { f: c.f - bad.length });
            assert.deepEqual(out.result, alone.result);
            assert.ok(out.result.every((x) => Number.isFinite(x)));
            if (out.selected) {
              assert.deepEqual(
                out.selected,
                alone.selected!.map((i) => kept[i]!),
              );
              for (const i of bad) {
                assert.ok(!out.selected.includes(i));
                assert.equal(out.scores![i], Number.POSITIVE_INFINITY);
              }
            }
            assert.throws(
              () => aggregate(rule, toVectors(rows), { f: c.f, strict: true }),
              (err: unknown) =>
                err instanceof MarshalError &&
                err.details?.condition === 'finite values' &&
                err.details.index === bad[0],
            );
          },
        ),
        { numRuns: 40 },
      );
    });
  }

  it('clean inputs report no non-finite vector', () => {
    const out = aggregate('median', toVectors([[1], [2], [3]]), { f: 1 });
    assert.deepEqual(out.nonFinite, []);
  });

  it('more non-finite vectors than f is refused, naming them', () => {
    const rows = toVectors([[1], [Number.NaN], [3], [Number.POSITIVE_INFINITY], [5], [6], [7]]);
    assert.throws(
      () => aggregate('krum', rows, { f: 1 }),
      (err: unknown) =>
        err instanceof MarshalError &&
        err.details?.condition === 'at most f non-finite inputs' &&
        /vectors 1, 3\), more than f = 1/.test(err.message),
    );
    assert.deepEqual(aggregate('krum', rows, { f: 2 }).nonFinite, [1, 3]);
  });

  it('trimmed-mean trims the non-finite vectors first: trim shrinks by their number', () => {
    const rows = toVectors([[1], [2], [Number.NaN], [4], [100], [-100], [3]]);
    // trim 2 of 7 with one non-finite: the 6 finite values trimmed by 1 at each end.
    assert.deepEqual(Array.from(aggregate('trimmed-mean', rows, { f: 1, trim: 2 }).result), [
      (1 + 2 + 3 + 4) / 4,
    ]);
  });
});
