/**
 * Robust aggregation inside a real training run: `train plan --aggregation <rule> --byzantine-f 1`
 * and `train launch` of test/fixtures/training/byzantine_train.py, 5 ranks on one `local` node
 * (direct launcher, gloo on loopback, /usr/bin/python3 with Debian's torch). Rank 3 is Byzantine
 * (MARSHAL_FIXTURE_BYZANTINE_RANK): its gradient is scaled by -100 (mean, median) or replaced by
 * Gaussian noise of standard deviation 100 (krum) before the all-gather.
 *
 * - honest run, mean: the baseline final held-out loss L;
 * - Byzantine, mean: the model diverges, final loss above 100 L;
 * - Byzantine, krum and median: final loss within MARGIN x L, and the run report names rank 3 as
 *   the one Byzantine suspect.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../src/cli/main.ts';
import type { RunReport } from '../../src/training/launch/run-report.ts';
import type { Plan } from '../../src/training/plan-schema.ts';
import { freePort } from '../helpers/free-port.ts';
import { memoryIo } from '../helpers/memory-io.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const FIXTURES = join(ROOT, 'test/fixtures/training');
const BYZANTINE = 3;
/** Robust runs end within this factor of the honest run's final loss. */
const MARGIN = 1.5;
/** A mean run with the Byzantine rank ends above this factor of it. */
const DIVERGED = 100;

let dir: string;

async function marshal(args: string[], env: Record<string, string> = {}) {
  const mem = memoryIo({
    cwd: dir,
    env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'config'), ...env },
  });
  const code = await main(args, mem.io);
  return { code, stdout: mem.stdout, stderr: mem.stderr };
}

/** A plan for 5 ranks with `rule` and f = 1 (fresh master port), 1200 examples, 24 steps. */
async function plan(name: string, rule: string, world = 5) {
  writeFileSync(
    join(dir, 'cluster.yaml'),
    [
      'launcher: direct',
      `master: { addr: 127.0.0.1, port: ${await freePort()} }`,
      'nodes:',
      `  - { name: alpha, host: local, slots: ${world}, python: /usr/bin/python3, workdir: node }`,
    ].join('\n'),
  );
  return marshal([
    'train',
    'plan',
    '--cluster',
    'cluster.yaml',
    '--script',
    'byzantine_train.py',
    '--dataset',
    String(240 * world),
    '--skip-calibration',
    '--batch-size',
    String(10 * world),
    '--aggregation',
    rule,
    '--byzantine-f',
    '1',
    '--out',
    `${name}/plan.json`,
    '--json',
  ]);
}

async function launch(name: string, byzantine: boolean, attack = 'scale') {
  const r = await marshal(
    ['train', 'launch', '--plan', `${name}/plan.json`],
    byzantine ? { MARSHAL_FIXTURE_BYZANTINE_RANK: String(BYZANTINE), MARSHAL_FIXTURE_ATTACK: attack } : {},
  );
  const report = JSON.parse(readFileSync(join(dir, name, 'run-report.json'), 'utf8')) as RunReport;
  const losses = report.ranks.map((x) => Number(x.lastTelemetry?.loss));
  console.log(
    `${name}${byzantine ? ` with Byzantine rank ${BYZANTINE}` : ', honest'}: final loss ${losses[0]}`,
  );
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, report, loss: losses[0]!, losses };
}

describe('a real 5-rank training run with one Byzantine rank', () => {
  let honest = Number.NaN;
  const started = Date.now();
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-byzantine-'));
    mkdirSync(join(dir, 'node'));
    for (const f of ['marshal_train.py', 'marshal_robust.py'])
      copyFileSync(join(ROOT, 'python', f), join(dir, 'node', f));
    copyFileSync(join(FIXTURES, 'byzantine_train.py'), join(dir, 'node', 'byzantine_train.py'));
  });
  after(() => {
    console.log(`byzantine-run: ${((Date.now() - started) / 1000).toFixed(1)} s wall time`);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the plan carries the rule and f, and the launch passes them to every rank', async () => {
    const r = await plan('mean', 'mean');
    assert.equal(r.code, 0, r.stderr);
    const p = JSON.parse(r.stdout).plan as Plan;
    assert.deepEqual(p.gradient_aggregation, {
      rule: 'mean',
      byzantine_f: 1,
      requires: 'n >= f + 1 (not robust: the baseline)',
    });
    for (const proc of p.distributed_config.processes) {
      assert.equal(proc.env.MARSHAL_AGGREGATION, 'mean');
      assert.equal(proc.env.MARSHAL_BYZANTINE_F, '1');
    }
  });

  it('honest run with mean: the baseline loss, no suspect', async () => {
    const { code, stderr, report, loss, losses } = await launch('mean', false);
    assert.equal(code, 0, stderr);
    assert.equal(report.status, 'succeeded', JSON.stringify(report.reasons));
    assert.ok(
      losses.every((x) => x === loss),
      `every rank took the same steps: ${losses}`,
    );
    assert.ok(Number.isFinite(loss) && loss < 0.5, `honest final loss ${loss}`);
    assert.deepEqual(report.byzantine_suspects?.suspects, []);
    honest = loss;
  });

  it(`one Byzantine rank (gradient x -100) with mean: the loss ends above ${DIVERGED}x the honest run's`, async () => {
    const { code, report, loss } = await launch('mean', true);
    console.log(
      `mean with a Byzantine rank: exit ${code}, status ${report.status}, ${JSON.stringify(report.reasons)}`,
    );
    assert.ok(Number.isNaN(loss) || loss > DIVERGED * honest, `mean final loss ${loss} vs honest ${honest}`);
  });

  for (const [rule, attack] of [
    ['krum', 'noise'],
    ['median', 'scale'],
  ] as const) {
    it(`one Byzantine rank (${attack === 'noise' ? 'gradient replaced by noise' : 'gradient x -100'}) with ${rule}: loss within ${MARGIN}x the honest run's; rank ${BYZANTINE} is the suspect`, async () => {
      const p = await plan(rule, rule);
      assert.equal(p.code, 0, p.stderr);
      const { code, stdout, stderr, report, loss, losses } = await launch(rule, true, attack);
      assert.equal(code, 0, stderr);
      assert.ok(
        losses.every((x) => x === loss),
        `every rank took the same steps: ${losses}`,
      );
      assert.ok(loss <= MARGIN * honest, `${rule} final loss ${loss} vs honest ${honest}`);
      const s = report.byzantine_suspects!;
      assert.equal(s.rule, rule);
      assert.equal(s.f, 1);
      assert.deepEqual(s.suspects, [BYZANTINE]);
      assert.equal(s.rejections[String(BYZANTINE)], s.steps, 'rejected at every step');
      assert.match(
        stdout,
        new RegExp(`byzantine suspects \\(${rule}, f = 1, ${s.steps} steps\\): rank\\(s\\) ${BYZANTINE}\\n`),
      );
    });
  }

  it('pre-flight fails krum with f = 1 on 4 ranks (needs n >= 2f + 3), naming the rule', async () => {
    const r = await plan('krum4', 'krum', 4);
    assert.equal(r.code, 5, r.stderr);
    const p = JSON.parse(r.stdout).plan as Plan;
    const g = p.pre_flight_checklist.checks.find((c) => c.name === 'gradient_layer')!;
    assert.equal(g.status, 'fail');
    assert.match(g.message, /krum: requires n >= 2f \+ 3, got n = 4, f = 1/);
    assert.equal(p.status, 'blocked');
  });

  it('an unknown rule is refused, naming the setting (exit 2)', async () => {
    const r = await plan('bad', 'trimmed');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--aggregation: one of mean, median, trimmed-mean, krum/);
  });
});
