import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MarshalError } from '../../src/core/errors.ts';
import { HETEROGENEITY_WARNING_SPREAD, shard } from '../../src/training/shard.ts';
import { pinPropertySeed } from '../helpers/property-seed.ts';

pinPropertySeed();

/** Workers with distinct ranks in shuffled order, throughputs >= 0 with at least one > 0. */
const workersArb = fc
  .array(
    fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 1e4, noNaN: true }), fc.integer({ min: 1, max: 5 })),
    {
      minLength: 1,
      maxLength: 20,
    },
  )
  .filter((ts) => ts.some((t) => t > 0))
  .chain((ts) =>
    fc.shuffledSubarray(
      ts.map((throughput, rank) => ({ rank, node: `node-${rank}`, throughput })),
      { minLength: ts.length, maxLength: ts.length },
    ),
  );
const totalArb = fc.oneof(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 10_000_000 }));

describe('shard', () => {
  it('hands out exactly `total` examples, each within one of its proportional quota', () => {
    fc.assert(
      fc.property(workersArb, totalArb, (workers, total) => {
        const { distribution } = shard(workers, total);
        assert.equal(
          distribution.reduce((s, e) => s + e.examples, 0),
          total,
        );
        const sum = workers.reduce((s, w) => s + w.throughput, 0);
        for (const e of distribution) {
          const quota = (e.throughput / sum) * total;
          assert.ok(Number.isInteger(e.examples) && e.examples >= 0);
          assert.ok(
            Math.abs(e.examples - quota) < 1 + 1e-9,
            `rank ${e.rank}: ${e.examples} vs quota ${quota}`,
          );
          assert.ok(e.examples === Math.floor(quota) || e.examples === Math.ceil(quota));
        }
      }),
    );
  });

  it('gives zero-throughput workers nothing and warns about them', () => {
    fc.assert(
      fc.property(workersArb, totalArb, (workers, total) => {
        const { distribution, warnings } = shard(workers, total);
        const offline = distribution.filter((e) => e.throughput === 0);
        for (const e of offline) {
          assert.equal(e.examples, 0);
          assert.equal(e.share, 0);
          assert.equal(e.start, e.end);
        }
        assert.equal(
          warnings.some((w) => w.includes('zero throughput')),
          offline.length > 0,
        );
      }),
    );
  });

  it('lays out contiguous half-open ranges in rank order covering [0, total)', () => {
    fc.assert(
      fc.property(workersArb, totalArb, (workers, total) => {
        const { distribution } = shard(workers, total);
        assert.deepEqual(
          distribution.map((e) => e.rank),
          [...workers.map((w) => w.rank)].sort((a, b) => a - b),
        );
        let next = 0;
        for (const e of distribution) {
          assert.equal(e.start, next);
          assert.equal(e.end - e.start, e.examples);
          next = e.end;
        }
        assert.equal(next, total);
        assert.ok(Math.abs(distribution.reduce((s, e) => s + e.share, 0) - 1) < 1e-9);
      }),
    );
  });

  it('reports heterogeneity and warns above 20% spread', () => {
    fc.assert(
      fc.property(workersArb, (workers) => {
        const { heterogeneity: h, warnings } = shard(workers, 1000);
        const active = workers.map((w) => w.throughput).filter((t) => t > 0);
        assert.equal(h.min, Math.min(...active));
        assert.equal(h.max, Math.max(...active));
        assert.ok(Math.abs(h.spread - (h.max - h.min) / h.mean) < 1e-12);
        assert.equal(
          warnings.some((w) => w.startsWith('heterogeneous')),
          h.spread > HETEROGENEITY_WARNING_SPREAD,
        );
      }),
    );
  });

  it('matches hand-computed largest-remainder splits', () => {
    // Quotas 5.853.. and 4.146..: floors 5 + 4 = 9, the one left over goes to the larger remainder (0.853).
    const a = shard(
      [
        { rank: 0, node: 'a', throughput: 1.2 },
        { rank: 1, node: 'b', throughput: 0.85 },
      ],
      10,
    );
    assert.deepEqual(
      a.distribution.map((e) => [e.examples, e.start, e.end]),
      [
        [6, 0, 6],
        [4, 6, 10],
      ],
    );
    assert.ok(Math.abs(a.distribution[0]!.share - 0.58537) < 1e-5);
    // Equal quotas 3.33..: remainders tie, so the lower ranks get the extra example.
    const b = shard(
      [2, 0, 1].map((rank) => ({ rank, node: `n${rank}`, throughput: 0.85 })),
      10,
    );
    assert.deepEqual(
      b.distribution.map((e) => e.examples),
      [4, 3, 3],
    );
    assert.equal(b.heterogeneity.spread, 0);
    assert.deepEqual(b.warnings, []);
    // 120 vs 50 ex/s (issue #280): spread 70/85 = 82% gets a warning; 500 examples split 353/147.
    const c = shard(
      [
        { rank: 0, node: 'm4', throughput: 120 },
        { rank: 1, node: 'm3', throughput: 50 },
        { rank: 2, node: 'off', throughput: 0 },
      ],
      500,
    );
    assert.deepEqual(
      c.distribution.map((e) => e.examples),
      [353, 147, 0],
    );
    assert.equal(c.warnings.length, 2);
    assert.match(c.warnings[0]!, /rank 2 \(off\)/);
    assert.ok(Math.abs(c.heterogeneity.spread - 70 / 85) < 1e-12);
  });

  it('rejects bad input naming the field and value', () => {
    const w = [{ rank: 0, node: 'a', throughput: 1 }];
    const cases: Array<[() => unknown, RegExp]> = [
      [() => shard(w, 0), /^total: .*got 0$/],
      [() => shard(w, -100), /^total: .*got -100$/],
      [() => shard(w, 1.5), /^total: .*got 1.5$/],
      [() => shard(w, 2 ** 53), /^total: /],
      [() => shard([], 10), /^workers: at least one worker/],
      [() => shard([{ rank: 0, node: 'a', throughput: -1 }], 10), /^workers\[0\]\.throughput: .*got -1$/],
      [() => shard([{ rank: 0, node: 'a', throughput: Number.NaN }], 10), /^workers\[0\]\.throughput: /],
      [() => shard([{ rank: 0, node: 'a', throughput: 0 }], 10), /all workers are offline/],
      [() => shard([...w, { rank: 0, node: 'b', throughput: 1 }], 10), /^workers\[1\]\.rank: .*got 0$/],
      [() => shard([{ rank: -1, node: 'a', throughput: 1 }], 10), /^workers\[0\]\.rank: /],
    ];
    for (const [fn, message] of cases) {
      assert.throws(fn, (err: unknown) => {
        assert.ok(err instanceof MarshalError);
        assert.equal(err.code, 'E_INVALID_INPUT');
        assert.equal(err.exitCode, 2);
        assert.match(err.message, message);
        return true;
      });
    }
  });
});
