import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPlan } from '../../src/training/plan.ts';
import { CHECK_NAMES, preflight } from '../../src/training/preflight.ts';
import { calibration, cluster, facts, HASH_B, okProbe, TEST_SEAL_KEY } from './plan-facts.ts';

const statusOf = (r: ReturnType<typeof preflight>, name: string) =>
  r.checks.find((c) => c.name === name)?.status;

describe('preflight', () => {
  it('runs the eight checks in the original order', () => {
    const r = preflight(facts());
    assert.deepEqual(
      r.checks.map((c) => c.name),
      [...CHECK_NAMES],
    );
    assert.equal(r.block_on_failure, true);
    for (const c of r.checks) assert.ok(c.message.length > 0, `${c.name} has a message`);
  });

  it('skips checks without inputs instead of passing them', () => {
    const r = preflight(
      facts({ checkpoint: null, calibration: { source: 'skipped', reason: 'skipped', report: null } }),
    );
    assert.equal(statusOf(r, 'checkpoint_layer'), 'skipped');
    assert.equal(statusOf(r, 'hardware_layer'), 'skipped');
    assert.equal(statusOf(r, 'performance_layer'), 'skipped');
    assert.equal(statusOf(r, 'pre_rdma_sync'), 'skipped');
    assert.equal(r.overall_status, 'pass');
  });

  it('a missing sync script warns, a failing one fails with its output', () => {
    const missing = preflight(facts({ sync: { status: 'missing', script: '/c/sync.sh' } }));
    assert.equal(statusOf(missing, 'pre_rdma_sync'), 'warn');
    assert.equal(missing.overall_status, 'warn');
    const failed = preflight(
      facts({
        sync: {
          status: 'failed',
          script: '/c/sync.sh',
          exitCode: 3,
          output: 'rsync: host down',
          durationMs: 5,
        },
      }),
    );
    const check = failed.checks.find((c) => c.name === 'pre_rdma_sync')!;
    assert.equal(check.status, 'fail');
    assert.match(check.message, /rsync: host down/);
    assert.equal(failed.overall_status, 'fail');
  });

  it('fails the checkpoint layer when it is not writable or lacks room', () => {
    const f = facts();
    const ro = preflight(facts({ checkpoint: { ...f.checkpoint!, writable: false } }));
    assert.equal(statusOf(ro, 'checkpoint_layer'), 'fail');
    const small = preflight(facts({ checkpoint: { ...f.checkpoint!, freeBytes: 1024 } }));
    assert.equal(statusOf(small, 'checkpoint_layer'), 'fail');
    assert.equal(statusOf(preflight(f), 'checkpoint_layer'), 'pass');
  });

  it('health check fails on differing torch versions or missing torch', () => {
    const differ = preflight(facts({ probes: [okProbe('a'), okProbe('b', undefined, '2.1.0')] }));
    assert.equal(statusOf(differ, 'health_check'), 'fail');
    const none = preflight(facts({ probes: [okProbe('a'), okProbe('b', undefined, null)] }));
    assert.equal(statusOf(none, 'health_check'), 'fail');
  });

  it('worker layer fails when a node cannot be reached', () => {
    const r = preflight(
      facts({ probes: [okProbe('a'), { node: 'b', status: 'failed', reason: 'ssh: timeout' }] }),
    );
    assert.equal(statusOf(r, 'worker_layer'), 'fail');
    assert.match(r.checks[1]!.message, /ssh: timeout/);
  });

  it('a divergent script fails consistency between two nodes', () => {
    const r = preflight(facts({ probes: [okProbe('a'), okProbe('b', HASH_B)] }));
    assert.equal(statusOf(r, 'worker_consistency'), 'fail');
    assert.equal(r.overall_status, 'fail');
  });

  it('a single rank skips gradient sync and consistency', () => {
    const c = cluster([{ name: 'a' }]);
    const r = preflight(
      facts({
        cluster: c,
        probes: [okProbe('a')],
        calibration: { source: 'file', report: calibration({ a: 10 }) },
      }),
    );
    assert.equal(statusOf(r, 'gradient_layer'), 'skipped');
    assert.equal(statusOf(r, 'worker_consistency'), 'skipped');
  });

  it('hardware layer warns when a node failed calibration and fails when all did', () => {
    const report = calibration({ a: 100 });
    report.nodes.push({ node: 'b', status: 'failed', reason: 'benchmark exited with 1' });
    assert.equal(
      statusOf(preflight(facts({ calibration: { source: 'file', report } })), 'hardware_layer'),
      'warn',
    );
    const none = calibration({});
    none.nodes.push(
      { node: 'a', status: 'failed', reason: 'x' },
      { node: 'b', status: 'failed', reason: 'y' },
    );
    const r = preflight(facts({ calibration: { source: 'file', report: none } }));
    assert.equal(statusOf(r, 'hardware_layer'), 'fail');
    assert.equal(statusOf(r, 'worker_layer'), 'fail');
  });
});

describe('worker_layer: the code a launch needs', () => {
  it('fails, naming node and file, when a code file is missing at planning on a node that takes part', () => {
    const f = facts();
    const code = {
      ...f.code,
      nodes: [
        f.code.nodes[0]!,
        {
          node: 'b',
          files: { 'train.py': 'a'.repeat(64), 'marshal_train.py': null },
          errors: { 'marshal_train.py': 'FileNotFoundError' },
        },
      ],
    };
    const r = preflight(facts({ code }));
    const w = r.checks.find((c) => c.name === 'worker_layer')!;
    assert.equal(w.status, 'fail');
    assert.match(
      w.message,
      /code files missing on nodes that take part .*: b: marshal_train\.py \(FileNotFoundError\)/,
    );
    assert.equal(r.overall_status, 'fail');
  });
});

describe('hardware_layer: how far the calibration can be trusted', () => {
  const hw = (r: ReturnType<typeof preflight>) => r.checks.find((c) => c.name === 'hardware_layer')!;

  it('fails when the calibration names none of the cluster nodes (another cluster was measured)', () => {
    const r = preflight(facts({ calibration: { source: 'file', report: calibration({ x: 100, y: 50 }) } }));
    assert.equal(hw(r).status, 'fail');
    assert.match(
      hw(r).message,
      /names none of this cluster's nodes \(it measured x, y; the cluster has a, b\)/,
    );
  });

  it('warns when a node repeats disagree by more than 20% and records the spread in the plan', () => {
    // Two identical machines measured 21,580 and 38,253 examples in the original report.
    const report = calibration({ a: 30_000, b: 30_000 });
    const samples = [
      [21_580, 30_000, 38_253],
      [29_900, 30_000, 30_100],
    ];
    report.nodes = report.nodes.map((n, i) => (n.status === 'ok' ? { ...n, samples: samples[i]! } : n));
    const f = facts({ calibration: { source: 'file', report } });
    const check = hw(preflight(f));
    assert.equal(check.status, 'warn');
    assert.match(check.message, /^a: its 3 calibration repeats spread 56%/);
    assert.doesNotMatch(check.message, /\bb: /);
    const plan = buildPlan(f, { sealKey: TEST_SEAL_KEY, planDir: '/c' });
    assert.equal(plan.hardware_calibration.noise.a!.repeats, 3);
    assert.ok(Math.abs(plan.hardware_calibration.noise.a!.spread - (38_253 - 21_580) / 30_000) < 1e-12);
    assert.ok(plan.hardware_calibration.noise.b!.spread < 0.01);
    assert.ok(plan.hardware_calibration.warnings.some((w) => w.startsWith('a: its 3 calibration repeats')));
  });

  it('warns when the calibration is older than 7 days at planning', () => {
    const report = calibration({ a: 100, b: 50 });
    report.measured_at = '2025-12-01T00:00:00.000Z';
    const check = hw(preflight(facts({ calibration: { source: 'file', report } })));
    assert.equal(check.status, 'warn');
    assert.match(check.message, /the calibration is 31 days old/);
  });

  it('warns when the calibration age cannot be told: measured_at not a date, or in the future', () => {
    const report = calibration({ a: 100, b: 50 });
    report.measured_at = 'yesterday';
    const bad = hw(preflight(facts({ calibration: { source: 'file', report } })));
    assert.equal(bad.status, 'warn');
    assert.match(bad.message, /the calibration's age is unknown \(measured_at "yesterday" is not a date\)/);
    report.measured_at = '2026-06-01T00:00:00.000Z';
    const future = hw(preflight(facts({ calibration: { source: 'file', report } })));
    assert.equal(future.status, 'warn');
    assert.match(future.message, /dated 151 days in the future/);
  });

  it('warns when the calibration measured another benchmark than the plan names', () => {
    const report = calibration({ a: 100, b: 50 });
    report.benchmark = 'bench.py';
    const other = hw(
      preflight(
        facts({ calibration: { source: 'file', report, expectedBenchmark: 'builtin:marshal_benchmark.py' } }),
      ),
    );
    assert.equal(other.status, 'warn');
    assert.match(other.message, /the calibration measured bench\.py, not builtin:marshal_benchmark\.py/);
    const same = hw(
      preflight(facts({ calibration: { source: 'file', report, expectedBenchmark: 'bench.py' } })),
    );
    assert.equal(same.status, 'pass', same.message);
  });

  it('warns when the nodes ran different batch sizes or models (their throughputs do not compare)', () => {
    const report = calibration({ a: 100, b: 50 });
    report.nodes = report.nodes.map((n, i) =>
      n.status === 'ok' ? { ...n, model: 'mlp-64-256-1-sgd', batch: i === 0 ? 64 : 128 } : n,
    );
    const check = hw(preflight(facts({ calibration: { source: 'file', report } })));
    assert.equal(check.status, 'warn');
    assert.match(check.message, /different benchmark batch sizes \(a 64, b 128\)/);
    assert.doesNotMatch(check.message, /models/);
  });
});
