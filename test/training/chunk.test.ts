import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MarshalError } from '../../src/core/errors.ts';
import {
  chunk,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_CHUNK_THRESHOLD,
  MAX_LISTED_CHUNKS,
} from '../../src/training/chunk.ts';
import { shard } from '../../src/training/shard.ts';
import { pinPropertySeed } from '../helpers/property-seed.ts';

pinPropertySeed();

const distributionArb = fc
  .record({
    throughputs: fc.array(fc.integer({ min: 0, max: 10 }), { minLength: 1, maxLength: 8 }),
    total: fc.integer({ min: 1, max: 300_000 }),
  })
  .filter(({ throughputs }) => throughputs.some((t) => t > 0))
  .map(
    ({ throughputs, total }) =>
      shard(
        throughputs.map((throughput, rank) => ({ rank, node: `n${rank}`, throughput })),
        total,
      ).distribution,
  );

describe('chunk', () => {
  it('covers every worker range exactly once, in order, when enabled', () => {
    fc.assert(
      fc.property(distributionArb, fc.integer({ min: 1, max: 70_000 }), (distribution, chunkSize) => {
        const total = distribution.reduce((s, d) => s + d.examples, 0);
        const plan = chunk(distribution, { chunkSize });
        assert.equal(plan.enabled, total >= DEFAULT_CHUNK_THRESHOLD);
        if (!plan.enabled) {
          assert.equal(plan.chunkSize, null);
          assert.deepEqual(plan.chunks, []);
          return;
        }
        assert.equal(plan.chunkSize, chunkSize);
        const counts = distribution.map((d) => ({
          rank: d.rank,
          count: Math.ceil((d.end - d.start) / chunkSize),
        }));
        assert.deepEqual(plan.chunksPerRank, counts);
        assert.equal(
          plan.numChunks,
          counts.reduce((s, x) => s + x.count, 0),
        );
        if (plan.chunks === null) {
          // Too many to list: described by the counts and the chunk size only.
          assert.ok(plan.numChunks > MAX_LISTED_CHUNKS);
          return;
        }
        const listed = plan.chunks;
        let c = 0;
        for (const d of distribution) {
          let next = d.start;
          let index = 0;
          while (next < d.end) {
            const ch = listed[c++]!;
            assert.deepEqual([ch.rank, ch.index, ch.start], [d.rank, index++, next]);
            assert.ok(ch.end > ch.start && ch.end - ch.start <= chunkSize);
            assert.ok(ch.end - ch.start === chunkSize || ch.end === d.end);
            next = ch.end;
          }
          assert.equal(next, d.end);
        }
        assert.equal(c, listed.length);
      }),
    );
  });

  it('switches on at the threshold (50,000 enables, 49,999 does not) and honours a configured one', () => {
    const one = (n: number) => [{ rank: 0, start: 0, end: n }];
    assert.equal(chunk(one(50_000)).enabled, true);
    assert.equal(chunk(one(50_001)).enabled, true);
    assert.equal(chunk(one(49_999)).enabled, false);
    assert.equal(chunk(one(1)).enabled, false);
    assert.match(chunk(one(49_999)).reason, /49999 examples is below the chunking threshold of 50000/);
    assert.equal(chunk(one(1_000), { threshold: 1_000 }).enabled, true);
    const plan = chunk(one(100_000));
    assert.equal(plan.chunkSize, DEFAULT_CHUNK_SIZE);
    assert.equal(plan.chunks!.length, 10);
  });

  it('derives the chunk size from a memory budget before an explicit size', () => {
    const plan = chunk([{ rank: 0, start: 0, end: 60_000 }], {
      memoryBudgetBytes: 1_000_000,
      bytesPerExample: 64,
      chunkSize: 5,
    });
    assert.equal(plan.chunkSize, 15_625);
    assert.deepEqual(
      plan.chunks!.map((c) => [c.start, c.end]),
      [
        [0, 15_625],
        [15_625, 31_250],
        [31_250, 46_875],
        [46_875, 60_000],
      ],
    );
    assert.match(plan.reason, /memory budget/);
  });

  it('rejects bad options and ranges naming the field and value', () => {
    const d = [{ rank: 0, start: 0, end: 60_000 }];
    const cases: Array<[() => unknown, RegExp]> = [
      [() => chunk(d, { threshold: 0 }), /^threshold: .*got 0$/],
      [() => chunk(d, { chunkSize: -5 }), /^chunkSize: .*got -5$/],
      [() => chunk(d, { chunkSize: 2.5 }), /^chunkSize: .*got 2.5$/],
      [() => chunk(d, { memoryBudgetBytes: 100 }), /^bytesPerExample: /],
      [() => chunk(d, { memoryBudgetBytes: 10, bytesPerExample: 64 }), /^memoryBudgetBytes: .*got 10$/],
      [() => chunk([{ rank: 0, start: 5, end: 2 }]), /^distribution\[0\]\.end: .*got 2$/],
      [() => chunk([{ rank: 0, start: -1, end: 2 }]), /^distribution\[0\]\.start: .*got -1$/],
    ];
    for (const [fn, message] of cases) {
      assert.throws(
        fn,
        (err: unknown) => err instanceof MarshalError && err.exitCode === 2 && message.test(err.message),
      );
    }
  });
});
