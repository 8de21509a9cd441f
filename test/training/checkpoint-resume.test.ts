/**
 * Checkpoint and resume with real PyTorch (gloo) ranks on two `local` nodes (direct launcher,
 * /usr/bin/python3 with Debian's torch): test/fixtures/training/ckpt_train.py saves every step
 * through marshal_train.save() and starts from marshal_train.resume(). On the first attempt rank 1
 * trains step 4, leaves a torn step-4 file and exits 1; with maxRestarts 1 the whole job runs
 * again from the last complete checkpoint (step 3) and ends on the parameters of an uninterrupted
 * run. Plus the Python helper on its own (atomic files, manifest, retention, a corrupt file) and
 * the pure pieces of the restart loop.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { runCommand } from '../../src/core/run-command.ts';
import { launchPlan } from '../../src/training/index.ts';
import { withLaunchEnv } from '../../src/training/launch/launch-env.ts';
import type { RunReport } from '../../src/training/launch/run-report.ts';
import type { Plan } from '../../src/training/plan-schema.ts';
import { failedRanks, readResumeLine, shouldRestart } from '../../src/training/workflows/run-attempts.ts';
import { freePort } from '../helpers/free-port.ts';
import { memoryIo } from '../helpers/memory-io.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const PYTHON = '/usr/bin/python3';
const CRASH = { MARSHAL_FIXTURE_CRASH_RANK: '1', MARSHAL_FIXTURE_CRASH_STEP: '4' };
/** 2 ranks x 8 examples per step, 10 steps. */
const STEPS = 10;

let dir: string;

function testEnv(extra: Record<string, string> = {}) {
  return { ...process.env, XDG_CONFIG_HOME: join(dir, 'config'), ...extra };
}

async function marshal(args: string[], env: Record<string, string> = {}) {
  const mem = memoryIo({ cwd: dir, env: testEnv(env) });
  const code = await main(args, mem.io);
  return { code, stdout: mem.stdout, stderr: mem.stderr };
}

/** Plans `name/plan.json` (fresh master port) with its own checkpoint dir `ckpt-<name>`. */
async function plan(name: string, launcher = 'direct'): Promise<Plan> {
  writeFileSync(
    join(dir, 'cluster.yaml'),
    [
      `launcher: ${launcher}`,
      `master: { addr: 127.0.0.1, port: ${await freePort()} }`,
      'nodes:',
      `  - { name: alpha, host: local, slots: 1, python: ${PYTHON}, workdir: nodes/a }`,
      `  - { name: beta, host: local, slots: 1, python: ${PYTHON}, workdir: nodes/b }`,
    ].join('\n'),
  );
  const r = await marshal([
    'train',
    'plan',
    '--cluster',
    'cluster.yaml',
    '--script',
    'ckpt_train.py',
    '--dataset',
    String(16 * STEPS),
    '--skip-calibration',
    '--batch-size',
    '16',
    '--checkpoint-dir',
    `ckpt-${name}`,
    '--out',
    `${name}/plan.json`,
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).plan as Plan;
}

async function launch(name: string, env: Record<string, string>, maxRestarts?: number) {
  const lines: string[] = [];
  const outcome = await launchPlan({
    plan: `${name}/plan.json`,
    cwd: dir,
    env: testEnv(env),
    stopGraceMs: 2000,
    ...(maxRestarts !== undefined ? { maxRestarts } : {}),
    onLine: (label, _s, line) => lines.push(`[${label}] ${line}`),
  });
  assert.equal(outcome.kind, 'ran');
  if (outcome.kind !== 'ran') throw new Error('unreachable');
  return { report: outcome.report, lines };
}

const hashes = (r: RunReport) => r.ranks.map((x) => x.finalParamHash);
const steps = (ckpt: string) =>
  readdirSync(join(dir, ckpt))
    .filter((n) => /^step-\d+$/.test(n))
    .sort();

describe('checkpoint and resume, a real 2-rank job', () => {
  let baseline: Array<string | null> = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-ckpt-'));
    for (const node of ['a', 'b']) {
      const wd = join(dir, 'nodes', node);
      mkdirSync(wd, { recursive: true });
      copyFileSync(join(ROOT, 'python/marshal_train.py'), join(wd, 'marshal_train.py'));
      copyFileSync(join(ROOT, 'test/fixtures/training/ckpt_train.py'), join(wd, 'ckpt_train.py'));
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('an uninterrupted run: the ranks get MARSHAL_CHECKPOINT_DIR; the last 2 steps are kept, each with a manifest of every rank file', async () => {
    const p = await plan('base');
    const { report, lines } = await launch('base', {});
    assert.equal(report.status, 'succeeded', JSON.stringify(report.reasons));
    assert.equal(report.attempts?.length, 1);
    assert.deepEqual(
      { ...report.attempts![0]!, startedAt: '', finishedAt: '' },
      {
        attempt: 0,
        startedAt: '',
        finishedAt: '',
        status: 'succeeded',
        failedRanks: [],
        resumedFromStep: null,
      },
    );
    assert.ok(lines.some((l) => l.includes('ckpt attempt=0 start=0')));
    baseline = hashes(report);
    assert.ok(baseline[0] && baseline[0] === baseline[1], `equal final params: ${baseline}`);
    assert.equal(p.checkpoint_strategy.dir, join(dir, 'ckpt-base'));
    assert.deepEqual(steps('ckpt-base'), [`step-${STEPS - 2}`, `step-${STEPS - 1}`]);
    const stepDir = join(dir, 'ckpt-base', `step-${STEPS - 1}`);
    const manifest = JSON.parse(readFileSync(join(stepDir, 'COMPLETE'), 'utf8'));
    assert.equal(manifest.kind, 'marshal.checkpoint');
    assert.equal(manifest.step, STEPS - 1);
    assert.equal(manifest.world_size, 2);
    for (const e of manifest.ranks as Array<{ rank: number; file: string; sha256: string }>) {
      const sha = createHash('sha256')
        .update(readFileSync(join(stepDir, e.file)))
        .digest('hex');
      assert.equal(sha, e.sha256, `rank ${e.rank}'s file matches the manifest`);
    }
    assert.deepEqual(
      readdirSync(stepDir).sort(),
      ['COMPLETE', 'rank-0.pt', 'rank-1.pt'],
      'no temp files left',
    );
  });

  it('rank 1 crashes at step 4 with maxRestarts 1: the job resumes from step 3 (not the torn step 4) and ends on the uninterrupted run params', async () => {
    await plan('restart');
    const { report, lines } = await launch('restart', CRASH, 1);
    assert.equal(report.status, 'succeeded', JSON.stringify(report.reasons));
    assert.deepEqual(
      report.attempts!.map((a) => [a.attempt, a.status, a.failedRanks, a.resumedFromStep]),
      [
        [0, 'failed', [1], null],
        [1, 'succeeded', [], 3],
      ],
    );
    assert.ok(lines.some((l) => l.includes('[rank 1] rank 1: crashing at step 4')));
    assert.ok(lines.some((l) => l.includes('[rank 0] ckpt attempt=1 start=4')));
    assert.ok(lines.some((l) => l.includes('[rank 1] ckpt attempt=1 start=4')));
    assert.deepEqual(hashes(report), baseline, 'same final parameters as the uninterrupted run');
    // The steps trained before the checkpoint count: each rank processed its whole shard.
    assert.deepEqual(
      report.ranks.map((r) => [r.examplesProcessed, r.expectedExamples, r.flags]),
      [
        [80, 80, []],
        [80, 80, []],
      ],
    );
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'restart/run-report.json'), 'utf8')), report);
  });

  it('without maxRestarts the same crash fails the run as before, one attempt, and step 4 stays incomplete', async () => {
    await plan('norestart');
    const { report } = await launch('norestart', CRASH);
    assert.equal(report.status, 'failed');
    assert.deepEqual(
      report.attempts!.map((a) => [a.attempt, a.status, a.failedRanks]),
      [[0, 'failed', [1]]],
    );
    assert.ok(report.ranks[1]!.flags.includes('failed'));
    assert.ok(existsSync(join(dir, 'ckpt-norestart/step-3/COMPLETE')));
    assert.ok(existsSync(join(dir, 'ckpt-norestart/step-4/rank-1.pt')), 'the torn file is there');
    assert.ok(!existsSync(join(dir, 'ckpt-norestart/step-4/COMPLETE')), 'but no manifest');
  });

  // The launch env reaches the ranks under the launchers that start them: without the attempt
  // number the second attempt would crash again, without the directory nothing would resume.
  for (const launcher of ['torchrun', 'mpirun']) {
    it(`under ${launcher}, the restarted job resumes from step 3 and ends on the same params`, async () => {
      await plan(launcher, launcher);
      const { report } = await launch(launcher, CRASH, 1);
      assert.equal(report.status, 'succeeded', JSON.stringify(report.reasons));
      assert.deepEqual(
        report.attempts!.map((a) => [a.status, a.resumedFromStep]),
        [
          ['failed', null],
          ['succeeded', 3],
        ],
      );
      assert.deepEqual(hashes(report), baseline);
    });
  }

  it('marshal train launch --max-restarts 1, end to end: exit 0, the attempts printed and in run-report.json', async () => {
    await plan('cli');
    const dry = await marshal(['train', 'launch', '--plan', 'cli/plan.json', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.stdout.match(/MARSHAL_RESTART_ATTEMPT=0\n/g)?.length, 2, dry.stdout);
    assert.equal(
      dry.stdout.split('\n').filter((l) => l.trim() === `MARSHAL_CHECKPOINT_DIR=${join(dir, 'ckpt-cli')}`)
        .length,
      2,
      dry.stdout,
    );
    const r = await marshal(['train', 'launch', '--plan', 'cli/plan.json', '--max-restarts', '1'], CRASH);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /attempt 0: failed \(fresh start, failed rank\(s\) 1\)\n/);
    assert.match(r.stdout, /attempt 1: succeeded \(resumed from step 3\)\n/);
    const report = JSON.parse(readFileSync(join(dir, 'cli/run-report.json'), 'utf8')) as RunReport;
    assert.equal(report.attempts?.length, 2);
    assert.deepEqual(hashes(report), baseline);
    const bad = await marshal(['train', 'launch', '--plan', 'cli/plan.json', '--max-restarts', '-1']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--max-restarts/);
  });
});

describe('marshal_train save() and resume(), one process', () => {
  const program = [
    'import os, sys, torch',
    'import marshal_train as mt',
    'op = sys.argv[1]',
    'if op == "save":',
    '    for step in range(3):',
    '        mt.save({"w": torch.full((4,), float(step))}, step, keep=2)',
    'else:',
    '    state, start = mt.resume()',
    '    print("resumed", None if state is None else state["w"][0].item(), start)',
  ].join('\n');
  let work: string;
  const run = async (op: string) => {
    const r = await runCommand([PYTHON, '-c', program, op], {
      cwd: work,
      env: { ...process.env, RANK: '0', WORLD_SIZE: '1', MARSHAL_CHECKPOINT_DIR: join(work, 'ckpt') },
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'marshal-ckpt-py-'));
    copyFileSync(join(ROOT, 'python/marshal_train.py'), join(work, 'marshal_train.py'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('keeps the newest 2; resume skips a step whose file fails its hash, then one without a manifest', async () => {
    await run('save');
    assert.deepEqual(readdirSync(join(work, 'ckpt')).sort(), ['step-1', 'step-2']);
    assert.match(await run('resume'), /MARSHAL_RESUME \{"rank":0,"step":2\}\nresumed 2\.0 3\n/);
    // A torn rank file under a manifest: its sha256 no longer matches.
    const file = join(work, 'ckpt/step-2/rank-0.pt');
    writeFileSync(file, readFileSync(file).subarray(0, 10));
    assert.match(await run('resume'), /resumed 1\.0 2\n/);
    rmSync(join(work, 'ckpt/step-1/COMPLETE'));
    assert.equal(await run('resume'), 'resumed None 0\n');
  });
});

describe('restart loop pieces (pure)', () => {
  it('failed ranks are those the report blames, not those marshal stopped because of them', () => {
    const r = (rank: number, ...flags: string[]) => ({ rank, flags });
    assert.deepEqual(
      failedRanks([
        r(0, 'stopped_peer_failed'),
        r(1, 'failed', 'examples_mismatch'),
        r(2, 'stalled'),
        r(3, 'stopped_spawn_failed'),
        r(4),
        r(5, 'stopped_aborted'),
      ]),
      [1, 2, 3],
    );
  });

  it('restarts only a failed attempt, not aborted, while restarts are left', () => {
    const table: Array<[Parameters<typeof shouldRestart>, boolean]> = [
      [['failed', 0, 1, false], true],
      [['failed', 1, 1, false], false],
      [['failed', 0, 0, false], false],
      [['failed', 0, 3, true], false],
      [['degraded', 0, 3, false], false],
      [['succeeded', 0, 3, false], false],
    ];
    for (const [args, want] of table) assert.equal(shouldRestart(...args), want, JSON.stringify(args));
  });

  it('reads resume lines, with a launcher prefix; refuses bad ones', () => {
    assert.deepEqual(readResumeLine('[default0]:MARSHAL_RESUME {"rank":1,"step":3}'), { rank: 1, step: 3 });
    assert.equal(readResumeLine('MARSHAL_RESUME {"rank":1,"step":-3}'), null);
    assert.equal(readResumeLine('MARSHAL_RESUME {"rank":1'), null);
    assert.equal(readResumeLine('step 3'), null);
  });

  it('the launch env reaches mlx.launch ranks as --env words before its --', () => {
    const p = {
      distributed_config: {
        processes: [{ argv: ['mlx.launch', '--env', 'A=1', '--', 'env', 'python3'], env: { A: '1' } }],
      },
    } as unknown as Plan;
    const out = withLaunchEnv(p, { MARSHAL_RESTART_ATTEMPT: '2' });
    assert.deepEqual(out.distributed_config.processes[0]!.argv, [
      'mlx.launch',
      '--env',
      'A=1',
      '--env',
      'MARSHAL_RESTART_ATTEMPT=2',
      '--',
      'env',
      'python3',
    ]);
    assert.deepEqual(p.distributed_config.processes[0]!.env, { A: '1' }, 'the plan itself is unchanged');
  });
});
