/**
 * A failing rank under torchrun (issue 13), on one machine: two `local` nodes, one torchrun agent
 * each, test/fixtures/training/train_tiny.py with rank 1 exiting 3 before joining the group. Alone,
 * torch 1.13 ends this only after minutes (rank 1's agent waits in its exit barrier, rank 0 in the
 * rendezvous until its 120 s timeout); the rank's MARSHAL_RANK_FAILED line, printed by the
 * rank-side entry, stops both agents at once. The launch runs under a 60 s deadline: were the line
 * not acted on, the abort would flag both ranks `stopped_aborted`.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { deadline } from '../../src/core/deadline.ts';
import type { RunReport } from '../../src/training/launch/run-report.ts';
import { freePort } from '../helpers/free-port.ts';
import { memoryIo } from '../helpers/memory-io.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
let dir: string;

async function marshal(args: string[], env: Record<string, string> = {}, signal?: AbortSignal) {
  const mem = memoryIo({ cwd: dir, env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'config'), ...env } });
  const code = await main(args, mem.io, signal ? { signal } : {});
  return { code, stdout: mem.stdout, stderr: mem.stderr };
}

describe('a failing rank under torchrun, two local nodes', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-rank-failure-'));
    for (const n of ['a', 'b']) {
      mkdirSync(join(dir, 'nodes', n), { recursive: true });
      copyFileSync(join(ROOT, 'python/marshal_train.py'), join(dir, 'nodes', n, 'marshal_train.py'));
      copyFileSync(
        join(ROOT, 'test/fixtures/training/train_tiny.py'),
        join(dir, 'nodes', n, 'train_tiny.py'),
      );
    }
    writeFileSync(
      join(dir, 'cluster.yaml'),
      [
        'launcher: torchrun',
        `master: { addr: 127.0.0.1, port: ${await freePort()} }`,
        'nodes:',
        '  - { name: alpha, host: local, slots: 1, python: /usr/bin/python3, workdir: nodes/a }',
        '  - { name: beta, host: local, slots: 1, python: /usr/bin/python3, workdir: nodes/b }',
      ].join('\n'),
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("stops every agent at once on the rank's failure line and blames only that rank", async () => {
    const p = await marshal([
      'train',
      'plan',
      '--cluster',
      'cluster.yaml',
      '--script',
      'train_tiny.py',
      '--dataset',
      '2000',
      '--skip-calibration',
      '--out',
      'run/plan.json',
    ]);
    assert.equal(p.code, 0, p.stderr);
    const bound = deadline(60_000, [], 'the failing torchrun run');
    const started = performance.now();
    try {
      const r = await marshal(
        ['train', 'launch', '--plan', 'run/plan.json', '--json'],
        { MARSHAL_FIXTURE_FAIL_RANK: '1' },
        bound.signal,
      );
      console.log(
        `failing rank under torchrun: the launch took ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
      assert.equal(bound.signal.aborted, false, `not stopped by the failure line:\n${r.stderr.slice(-3000)}`);
      assert.equal(r.code, 1, r.stderr.slice(-3000));
      const report = JSON.parse(readFileSync(join(dir, 'run/run-report.json'), 'utf8')) as RunReport;
      assert.equal(report.status, 'failed');
      assert.deepEqual(
        report.ranks.map((x) => x.flags.filter((f) => f === 'failed' || f.startsWith('stopped_'))),
        [['stopped_peer_failed'], ['failed']],
      );
      assert.deepEqual(report.reasons, [
        'rank 0 was stopped (peer_failed)',
        'rank 1 failed: exited with 3; the others were stopped',
      ]);
    } finally {
      bound.clear();
    }
  });
});
