import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readPlanFile } from '../../src/training/index.ts';
import { buildPlan } from '../../src/training/plan.ts';
import { PlanSchema, planJsonSchema, verifyPlanSeal } from '../../src/training/plan-schema.ts';
import {
  calibration,
  cluster,
  facts,
  HASH_A,
  HASH_B,
  okProbe,
  PLAN_SECTIONS as SECTIONS,
  TEST_SEAL_KEY,
  useTestPlanKey,
} from './plan-facts.ts';

const GOLDEN = new URL('../fixtures/training/plan-v2.json', import.meta.url);
const GOLDEN_V1 = new URL('../fixtures/training/plan-v1.json', import.meta.url);

describe('buildPlan', () => {
  it('writes every section, proportional shards summing to the dataset, chunking on', () => {
    const plan = buildPlan(facts(), { sealKey: TEST_SEAL_KEY, planDir: '/c' });
    for (const s of SECTIONS) assert.ok(s in plan, `section ${s}`);
    const ranks = plan.distributed_config.ranks;
    assert.equal(
      ranks.reduce((s, r) => s + r.examples, 0),
      120_000,
    );
    assert.deepEqual(
      ranks.map((r) => [r.start, r.end]),
      [
        [0, 80_000],
        [80_000, 120_000],
      ],
    );
    assert.equal(plan.coordinator_chunking.enabled, true);
    assert.equal(plan.status, 'ready');
    assert.ok(PlanSchema.safeParse(plan).success);
    assert.equal(verifyPlanSeal(plan, TEST_SEAL_KEY).ok, true);
    // Every rank covers its shard in the shared number of steps.
    for (const r of ranks) assert.ok(r.batch_size * plan.batch_configuration.steps >= r.examples);
  });

  it('gives each direct rank the env:// contract', () => {
    const plan = buildPlan(facts(), { sealKey: TEST_SEAL_KEY, planDir: '/c' });
    const p = plan.distributed_config.processes[1]!;
    assert.deepEqual(p.argv, ['/usr/bin/python3', '-m', 'marshal_train', 'train.py']);
    assert.equal(p.cwd, '/c/b');
    for (const k of ['MASTER_ADDR', 'MASTER_PORT', 'RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE']) {
      assert.ok(k in p.env, k);
    }
    assert.equal(p.env.MARSHAL_SHARD_START, '80000');
    assert.equal(p.env.MARSHAL_SHARD_END, '120000');
    assert.equal(p.env.MARSHAL_CHUNK_SIZE, '10000');
    assert.equal(p.env.GLOO_SOCKET_IFNAME, 'lo');
  });

  it('marks phases that could not run as disabled with a reason', () => {
    const plan = buildPlan(
      facts({
        checkpoint: null,
        calibration: { source: 'skipped', reason: 'calibration skipped', report: null },
      }),
      { sealKey: TEST_SEAL_KEY, planDir: '/c' },
    );
    assert.equal(plan.hardware_calibration.enabled, false);
    assert.equal(plan.hardware_calibration.reason, 'calibration skipped');
    assert.equal(plan.checkpoint_strategy.enabled, false);
    assert.equal(plan.performance_targets.enabled, false);
    assert.equal(plan.pre_rdma_sync.enabled, false);
    assert.equal(plan.rdma_config.enabled, false);
    assert.match(plan.rdma_config.reason ?? '', /gloo/);
    // Without calibration the split is equal.
    assert.deepEqual(
      plan.distributed_config.ranks.map((r) => r.examples),
      [60_000, 60_000],
    );
  });

  it('blocks the plan when the pre-flight fails and excludes a divergent minority otherwise', () => {
    const blocked = buildPlan(facts({ probes: [okProbe('a', HASH_A), okProbe('b', HASH_B)] }), {
      sealKey: TEST_SEAL_KEY,
      planDir: '/c',
    });
    assert.equal(blocked.status, 'blocked');
    const c = cluster([{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
    const plan = buildPlan(
      facts({
        cluster: c,
        probes: [okProbe('a'), okProbe('b'), okProbe('c', HASH_B)],
        calibration: { source: 'file', report: calibration({ a: 1, b: 1, c: 1 }) },
      }),
      { sealKey: TEST_SEAL_KEY, planDir: '/c' },
    );
    assert.equal(plan.status, 'ready');
    assert.deepEqual(plan.strategy.participating_nodes, ['a', 'b']);
    assert.equal(
      plan.distributed_config.ranks.reduce((s, r) => s + r.examples, 0),
      120_000,
    );
    assert.equal(plan.worker_consistency.status, 'warn');
  });

  it('generates torchrun, mpirun and mlx commands', () => {
    const torch = buildPlan(
      facts({ cluster: cluster([{ name: 'a' }, { name: 'b' }], { launcher: 'torchrun' }) }),
      { sealKey: TEST_SEAL_KEY, planDir: '/p' },
    );
    const argv = torch.distributed_config.processes[0]!.argv;
    assert.ok(argv.includes('torch.distributed.run'));
    assert.ok(argv.includes('--redirects') && argv.includes('--tee'));
    assert.deepEqual(
      JSON.parse(torch.distributed_config.processes[0]!.env.MARSHAL_SHARDS!)[1].slice(0, 2),
      [80_000, 120_000],
    );
    const mpi = buildPlan(
      facts({
        cluster: cluster([{ name: 'a' }, { name: 'b' }], { launcher: 'mpirun' }),
        coordinator: { hostname: 'h', uid: 0 },
      }),
      { sealKey: TEST_SEAL_KEY, planDir: '/p' },
    );
    assert.equal(mpi.distributed_config.processes.length, 1);
    assert.ok(mpi.distributed_config.processes[0]!.argv.includes('--allow-run-as-root'));
    const mlx = buildPlan(facts({ cluster: cluster([{ name: 'a' }, { name: 'b' }], { launcher: 'mlx' }) }), {
      sealKey: TEST_SEAL_KEY,
      planDir: '/p',
    });
    assert.deepEqual(mlx.distributed_config.processes[0]!.argv.slice(0, 3), [
      'mlx.launch',
      '--hostfile',
      'hostfile.json',
    ]);
    assert.ok(Array.isArray(mlx.distributed_config.hostfile));
    // The plan says what the command does: mlx.launch --backend ring (no rdma matrix for jaccl).
    assert.equal(mlx.rdma_config.enabled, false);
    assert.equal(mlx.rdma_config.backend, 'ring');
    assert.equal(mlx.distributed_config.backend, 'ring');
    const mlxArgv = mlx.distributed_config.processes[0]!.argv;
    assert.equal(mlxArgv[mlxArgv.indexOf('--backend') + 1], mlx.distributed_config.backend);
  });

  it('has a JSON Schema', () => {
    const schema = planJsonSchema();
    assert.equal(typeof schema, 'object');
    assert.ok(JSON.stringify(schema).includes('pre_flight_checklist'));
  });
});

describe('hardware_calibration.workload_distribution', () => {
  it('is one entry per rank {rank, node, throughput, share, examples} whose examples sum to the dataset', () => {
    // 3 ranks of unequal throughput over a prime-sized dataset: largest remainders decide the rounding.
    const c = cluster([{ name: 'a', slots: 2 }, { name: 'b' }]);
    const plan = buildPlan(
      facts({
        cluster: c,
        dataset: { source: '100003', kind: 'count', file: null, count: 100_003 },
        calibration: { source: 'file', report: calibration({ a: 70, b: 33 }) },
      }),
      { sealKey: TEST_SEAL_KEY, planDir: '/c' },
    );
    const wd = plan.hardware_calibration.workload_distribution;
    assert.ok(Array.isArray(wd));
    assert.deepEqual(
      wd.map((w) => Object.keys(w).sort()),
      wd.map(() => ['examples', 'node', 'rank', 'share', 'throughput']),
    );
    assert.deepEqual(
      wd.map((w) => [w.rank, w.node, w.throughput]),
      [
        [0, 'a', 35],
        [1, 'a', 35],
        [2, 'b', 33],
      ],
    );
    assert.equal(
      wd.reduce((s, w) => s + w.examples, 0),
      100_003,
    );
    // Largest remainder: quotas 33982.5..., 33982.5..., 32037.9...; each within one example.
    for (const w of wd) assert.ok(Math.abs(w.examples - w.share * 100_003) < 1, JSON.stringify(w));
    assert.deepEqual(
      wd.map((w) => w.examples),
      plan.distributed_config.ranks.map((r) => r.examples),
    );
    // The former node -> share map is kept as node_shares.
    assert.deepEqual(Object.keys(plan.hardware_calibration.node_shares), ['a', 'b']);
    assert.ok(Math.abs(plan.hardware_calibration.node_shares.a! - 70 / 103) < 1e-12);
  });
});

describe('the plan seal', () => {
  it('is an HMAC-SHA256 under the plan key: another key, or an edit, does not verify', () => {
    const plan = buildPlan(facts(), { sealKey: TEST_SEAL_KEY, planDir: '/c' });
    assert.equal(plan.integrity.algorithm, 'hmac-sha256-canonical-json');
    assert.equal(verifyPlanSeal(plan, TEST_SEAL_KEY).ok, true);
    assert.equal(verifyPlanSeal(plan, Buffer.alloc(32, 8)).ok, false);
    const edited = structuredClone(plan);
    edited.distributed_config.processes[0]!.argv = ['/bin/sh', '-c', 'id'];
    assert.equal(verifyPlanSeal(edited, TEST_SEAL_KEY).ok, false);
  });
});

describe('golden plan, schemaVersion 2', () => {
  it('loads, validates and keeps its seal under the test key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'marshal-golden-'));
    try {
      const { plan } = await readPlanFile(GOLDEN.pathname, { cwd: '/', env: useTestPlanKey(dir) });
      assert.equal(plan.schemaVersion, 2);
      for (const s of SECTIONS) assert.ok(s in plan, `section ${s}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a schemaVersion 1 plan, sealed with a plain SHA-256 anyone can recompute', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'marshal-golden-'));
    try {
      await assert.rejects(
        readPlanFile(GOLDEN_V1.pathname, { cwd: '/', env: useTestPlanKey(dir) }),
        (e: unknown) => {
          assert.equal((e as { code?: string }).code, 'E_PLAN_TAMPERED');
          assert.match((e as Error).message, /plain SHA-256/);
          return true;
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // After a deliberate change to the builder (same schemaVersion), regenerate with:
  // node --import tsx -e "import {writeFileSync} from 'node:fs'; import {buildPlan} from './src/training/plan.ts';
  //   import {facts, TEST_SEAL_KEY} from './test/training/plan-facts.ts';
  //   writeFileSync('test/fixtures/training/plan-v2.json', JSON.stringify(buildPlan(facts(), {planDir: '/c', sealKey: TEST_SEAL_KEY}), null, 2) + '\n')"
  it('is what the builder produces for the reference facts', () => {
    const golden = JSON.parse(readFileSync(GOLDEN, 'utf8'));
    assert.deepEqual(buildPlan(facts(), { sealKey: TEST_SEAL_KEY, planDir: '/c' }), golden);
  });
});
