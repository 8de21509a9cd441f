/**
 * Planning at scale: the limits are arithmetic, checked before any list is built, and chunk lists
 * are described beyond MAX_LISTED_CHUNKS instead of materialised, so `--dataset 100000000
 * --chunk-size 1` or `--dataset 1e15` plans in a small heap (a child process with 128 MiB of old
 * space: materialising 1e8 chunk objects would need gigabytes and die out of memory). A `.jsonl`
 * dataset is counted by streaming, in constant memory.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chunk, MAX_LISTED_CHUNKS } from '../../src/training/chunk.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** Runs `code` (an ES module body) in a child node with a small heap; its stdout and exit. */
function inSmallHeap(code: string) {
  const r = spawnSync(
    process.execPath,
    ['--max-old-space-size=128', '--import', 'tsx', '--input-type=module', '-e', code],
    {
      cwd: ROOT,
      encoding: 'utf8',
      // A safety bound only (an out-of-memory death takes long under load); no timing is asserted.
      timeout: 600_000,
    },
  );
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr.slice(-2000) };
}

let dir: string;

describe('planning at scale', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-scale-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('describes rather than lists chunks past MAX_LISTED_CHUNKS, with exact counts', () => {
    const plan = chunk(
      [
        { rank: 0, start: 0, end: 600_000_000_000_000 },
        { rank: 1, start: 600_000_000_000_000, end: 1e15 },
      ],
      { chunkSize: 1 },
    );
    assert.equal(plan.enabled, true);
    assert.equal(plan.chunks, null);
    assert.equal(plan.numChunks, 1e15);
    assert.deepEqual(plan.chunksPerRank, [
      { rank: 0, count: 600_000_000_000_000 },
      { rank: 1, count: 400_000_000_000_000 },
    ]);
    const small = chunk([{ rank: 0, start: 0, end: MAX_LISTED_CHUNKS }], { chunkSize: 1, threshold: 1 });
    assert.equal(small.chunks?.length, MAX_LISTED_CHUNKS);
  });

  it('buildPlan with 100,000,000 examples and chunk size 1, and with 1e15 examples, fits in a 128 MiB heap', () => {
    const r = inSmallHeap(`
      import { buildPlan } from './src/training/plan.ts';
      import { readDataset } from './src/training/dataset.ts';
      import { facts, TEST_SEAL_KEY } from './test/training/plan-facts.ts';
      const out = [];
      for (const [arg, chunkSize] of [['100000000', 1], ['1e15', undefined]]) {
        const dataset = await readDataset(arg, '/');
        const plan = buildPlan(facts({ dataset }), { planDir: '/c', sealKey: TEST_SEAL_KEY, ...(chunkSize ? { chunkSize } : {}) });
        out.push([plan.dataset.count, plan.coordinator_chunking.num_chunks, plan.coordinator_chunking.chunks_per_rank,
          plan.hardware_calibration.workload_distribution.reduce((s, w) => s + w.examples, 0)]);
      }
      console.log(JSON.stringify(out));
    `);
    assert.equal(r.code, 0, `exit ${r.code} ${r.signal}: ${r.stderr}`);
    assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), [
      [100_000_000, 100_000_000, { 0: 66_666_667, 1: 33_333_333 }, 100_000_000],
      [1e15, 100_000_000_001, { 0: 66_666_666_667, 1: 33_333_333_334 }, 1e15],
    ]);
  });

  it('counts a 600 MB .jsonl by streaming, in constant memory', () => {
    // A sparse file: 600 MB long, a line end every 100 MB, almost no disk used.
    const file = join(dir, 'big.jsonl');
    const fd = openSync(file, 'w');
    try {
      for (let i = 1; i <= 6; i++) writeSync(fd, '\n', i * 100_000_000 - 1);
    } finally {
      closeSync(fd);
    }
    const r = inSmallHeap(`
      import { readDataset } from './src/training/dataset.ts';
      const d = await readDataset(${JSON.stringify(file)}, '/');
      console.log(JSON.stringify({ count: d.count, kind: d.kind, maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
    `);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(out.count, 6);
    assert.equal(out.kind, 'lines');
    // Far below the file's size: the file is read in 1 MiB blocks.
    assert.ok(out.maxRssMb < 300, `max RSS ${out.maxRssMb} MB`);
  });
});
