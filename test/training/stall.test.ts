/**
 * Stalls (issue 12): the pure judgement (stall.ts) table-driven, then real 3-rank gloo runs
 * (direct launcher, one `local` node, /usr/bin/python3 with Debian's torch) of
 * test/fixtures/training/stall_train.py in which rank 1 stops at step 3, by SIGSTOP or by sleeping
 * forever: the run is stopped by the stall watch (not torch's 120 s timeout: each launch runs
 * under a 60 s deadline, and an aborted run would flag every rank `stopped_aborted`), rank 1 is
 * flagged `stalled`, and ranks 0 and 2, blocked in the all-reduce of step 3, `waiting`.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { deadline } from '../../src/core/deadline.ts';
import { launchPlan } from '../../src/training/index.ts';
import type { RunReport } from '../../src/training/launch/run-report.ts';
import {
  judgeStall,
  ProgressTracker,
  type RankProgress,
  type StallPolicy,
} from '../../src/training/launch/stall.ts';
import { freePort } from '../helpers/free-port.ts';
import { memoryIo } from '../helpers/memory-io.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const POLICY: StallPolicy = { factor: 10, minMs: 5000 };

/** A rank at step `step`, last progress at `progressAt`, heartbeat at `hb` (null: none) in `collective`. */
function rank(
  r: number,
  step: number | null,
  progressAt: number,
  hb: number | null,
  collective: string | null = null,
  more: Partial<RankProgress> = {},
): RankProgress {
  return { rank: r, step, progressAt, heartbeatAt: hb, collective, done: false, ended: false, ...more };
}

describe('stall judgement (pure)', () => {
  const now = 100_000;
  const rows: Array<[string, RankProgress[], number | null, number[] | { recheckInMs: number }]> = [
    ['no step time measured yet: no verdict', [rank(0, 0, 0, null)], null, { recheckInMs: 5000 }],
    [
      'everyone progressing: recheck when the oldest could cross the limit',
      [rank(0, 9, now - 1000, now), rank(1, 9, now - 3000, now)],
      100,
      { recheckInMs: 2000 },
    ],
    [
      'a silent rank (SIGSTOP) while the others wait in a collective is the culprit',
      [
        rank(0, 3, now - 6000, now - 500, 'all_reduce'),
        rank(1, 3, now - 6500, now - 6500),
        rank(2, 3, now - 6000, now - 500, 'all_reduce'),
      ],
      100,
      [1],
    ],
    [
      'a rank sleeping outside any collective while the others wait is the culprit',
      [
        rank(0, 3, now - 6000, now - 500, 'all_reduce'),
        rank(1, 3, now - 7000, now - 500, null),
        rank(2, 3, now - 6000, now - 500, 'all_reduce'),
      ],
      100,
      [1],
    ],
    [
      'waiting ranks idle before the culprit is: not yet',
      [
        rank(0, 3, now - 6000, now - 500, 'all_reduce'),
        rank(1, 3, now - 4000, now - 500, null),
        rank(2, 3, now - 6000, now - 500, 'all_reduce'),
      ],
      100,
      { recheckInMs: 1000 },
    ],
    [
      'everyone waiting in a collective: the lowest step is blamed',
      [rank(0, 5, now - 9000, now, 'barrier'), rank(1, 4, now - 9000, now, 'all_reduce')],
      100,
      [1],
    ],
    [
      'the limit is factor x the median step time when that is above the minimum',
      [rank(0, 3, now - 9000, now - 9000), rank(1, 3, now - 1000, now - 100)],
      1000,
      { recheckInMs: 1000 },
    ],
    [
      'ranks past their steps or whose process ended are not judged',
      [rank(0, 3, 0, 0, null, { done: true }), rank(1, 3, 0, 0, null, { ended: true })],
      100,
      { recheckInMs: 5000 },
    ],
  ];
  for (const [name, ranks, stepMs, expected] of rows) {
    it(name, () => {
      const v = judgeStall(ranks, stepMs, POLICY, now);
      if (Array.isArray(expected)) {
        assert.equal(v.kind, 'stalled', JSON.stringify(v));
        assert.deepEqual(v.kind === 'stalled' ? v.culprits : null, expected);
      } else assert.deepEqual(v, { kind: 'ok', ...expected });
    });
  }

  it('the tracker measures step times from metric lines and heartbeats, and progress from collective changes', () => {
    const t = new ProgressTracker([0], 0);
    t.metric(0, 0, 1000); // 1 step done
    t.metric(0, 2, 1400); // 3 steps done: 200 ms per step
    assert.equal(t.stepMs(), 200);
    t.heartbeat(0, { rank: 0, step: 3, done: false, collective: null }, 1500); // no higher step
    assert.equal(t.snapshot()[0]!.progressAt, 1400);
    t.heartbeat(0, { rank: 0, step: 3, done: false, collective: 'all_reduce' }, 1600);
    assert.deepEqual(
      [t.snapshot()[0]!.progressAt, t.snapshot()[0]!.heartbeatAt, t.snapshot()[0]!.collective],
      [1600, 1600, 'all_reduce'],
    );
    t.heartbeat(0, { rank: 0, step: 3, done: false, collective: 'all_reduce' }, 9000);
    assert.equal(t.snapshot()[0]!.progressAt, 1600, 'still blocked is no progress');
  });
});

describe('stall settings', () => {
  it('the CLI refuses a stall minimum below 5 s or a negative factor, naming the flag and value', async () => {
    for (const [flag, value, bounds] of [
      ['--stall-min', '1', 'a number from 5 to 86400'],
      ['--stall-factor', '-1', 'a number from 0 to 1000000'],
    ] as const) {
      const mem = memoryIo({ cwd: tmpdir(), env: process.env });
      const code = await main(['train', 'launch', '--plan', 'plan.json', flag, value], mem.io);
      assert.equal(code, 2);
      assert.match(mem.stderr, new RegExp(`${flag} must be ${bounds}, got "${value}"`));
    }
  });

  it('the library refuses them too, naming the setting', async () => {
    await assert.rejects(
      launchPlan({ plan: 'plan.json', cwd: tmpdir(), env: {}, stallMinS: 0.5 }),
      (err: Error) => /stallMinS/.test(err.message) && /0\.5/.test(err.message),
    );
  });
});

let dir: string;

async function marshal(args: string[], env: Record<string, string> = {}, signal?: AbortSignal) {
  const mem = memoryIo({ cwd: dir, env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'config'), ...env } });
  const code = await main(args, mem.io, signal ? { signal } : {});
  return { code, stdout: mem.stdout, stderr: mem.stderr };
}

/** Plans a 3-rank run (fresh master port), 20 steps of 0.05 s, then launches it under a 60 s deadline. */
async function stalledRun(name: string, how: 'sigstop' | 'sleep') {
  writeFileSync(
    join(dir, 'cluster.yaml'),
    [
      'launcher: direct',
      `master: { addr: 127.0.0.1, port: ${await freePort()} }`,
      'nodes:',
      '  - { name: alpha, host: local, slots: 3, python: /usr/bin/python3, workdir: node }',
    ].join('\n'),
  );
  const p = await marshal([
    'train',
    'plan',
    '--cluster',
    'cluster.yaml',
    '--script',
    'stall_train.py',
    '--dataset',
    '600',
    '--batch-size',
    '30',
    '--skip-calibration',
    '--out',
    `${name}/plan.json`,
  ]);
  assert.equal(p.code, 0, p.stderr);
  const bound = deadline(60_000, [], `the ${how} run`);
  const started = performance.now();
  try {
    const r = await marshal(
      ['train', 'launch', '--plan', `${name}/plan.json`, '--stall-min', '5', '--json'],
      {
        MARSHAL_FIXTURE_STALL_RANK: '1',
        MARSHAL_FIXTURE_STALL_STEP: '3',
        MARSHAL_FIXTURE_STALL: how,
        MARSHAL_HEARTBEAT_S: '1',
      },
      bound.signal,
    );
    const seconds = (performance.now() - started) / 1000;
    const report = JSON.parse(readFileSync(join(dir, name, 'run-report.json'), 'utf8')) as RunReport;
    console.log(`stall (${how}): the launch took ${seconds.toFixed(1)} s; ${report.reasons.join(' | ')}`);
    return { ...r, report, aborted: bound.signal.aborted };
  } finally {
    bound.clear();
  }
}

describe('a real 3-rank gloo run in which rank 1 stops at step 3', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-stall-'));
    mkdirSync(join(dir, 'node'));
    copyFileSync(join(ROOT, 'python/marshal_train.py'), join(dir, 'node/marshal_train.py'));
    copyFileSync(join(ROOT, 'test/fixtures/training/stall_train.py'), join(dir, 'node/stall_train.py'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const how of ['sigstop', 'sleep'] as const) {
    it(`${how}: the stall watch stops the run, flags rank 1 stalled and ranks 0 and 2 waiting`, async () => {
      const { code, stderr, report, aborted } = await stalledRun(how, how);
      assert.equal(aborted, false, `the run was not stopped by the stall watch:\n${stderr.slice(-3000)}`);
      assert.equal(code, 1, stderr.slice(-3000));
      assert.equal(report.status, 'failed');
      assert.deepEqual(
        report.ranks.map((r) => r.flags.filter((f) => f !== 'examples_mismatch' && f !== 'loss_outlier')),
        [['stopped_peer_stalled', 'waiting'], ['stalled'], ['stopped_peer_stalled', 'waiting']],
        JSON.stringify(report.reasons),
      );
      assert.match(report.reasons.join('\n'), /rank 1 stalled: no progress for [\d.]+ s at step 3 /);
      assert.match(
        report.reasons.join('\n'),
        /rank 0 was stopped \(peer_stalled\) while waiting in all_reduce/,
      );
      assert.match(stderr, /marshal: rank\(s\) 1 made no progress/);
    });
  }
});
