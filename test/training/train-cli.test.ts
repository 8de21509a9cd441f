/**
 * End to end through the CLI, with real processes: a cluster of two `local` nodes with their own
 * workdirs, real calibration runs, real SHA-256 probes and a real 2-rank torch.distributed (gloo)
 * job. Nodes use /usr/bin/python3 (Debian's torch).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { sha256CanonicalJson } from '../../src/core/hash.ts';
import { sealPlan } from '../../src/training/index.ts';
import type { RunReport } from '../../src/training/launch/run-report.ts';
import type { Plan } from '../../src/training/plan-schema.ts';
import { freePort } from '../helpers/free-port.ts';
import { memoryIo } from '../helpers/memory-io.ts';
import { PLAN_SECTIONS } from './plan-facts.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const FIXTURES = join(ROOT, 'test/fixtures/training');

let dir: string;

/** Rewrites the cluster file with a fresh master port (each launch gets its own rendezvous). */
async function writeCluster(extra = '', launcher = 'direct'): Promise<void> {
  const port = await freePort();
  writeFileSync(
    join(dir, 'cluster.yaml'),
    [
      `launcher: ${launcher}`,
      `master: { addr: 127.0.0.1, port: ${port} }`,
      'nodes:',
      '  - { name: alpha, host: local, slots: 1, python: /usr/bin/python3, workdir: nodes/a }',
      '  - { name: beta, host: local, slots: 1, python: /usr/bin/python3, workdir: nodes/b }',
      extra,
    ].join('\n'),
  );
}

async function marshal(args: string[], env: Record<string, string> = {}) {
  // The plan key lives in this test's own config directory, never the user's.
  const mem = memoryIo({ cwd: dir, env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'config'), ...env } });
  const code = await main(args, mem.io);
  return { code, stdout: mem.stdout, stderr: mem.stderr };
}

async function plan(out: string, extra: string[] = []) {
  return marshal([
    'train',
    'plan',
    '--cluster',
    'cluster.yaml',
    '--script',
    'train_tiny.py',
    '--dataset',
    '120000',
    '--calibration',
    'cal.json',
    '--checkpoint-dir',
    'ckpt',
    '--batch-size',
    '8000',
    '--out',
    out,
    '--json',
    ...extra,
  ]);
}

const readJson = <T>(p: string): T => JSON.parse(readFileSync(join(dir, p), 'utf8')) as T;

describe('marshal train, two local nodes', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-train-'));
    for (const node of ['a', 'b']) {
      const wd = join(dir, 'nodes', node);
      mkdirSync(wd, { recursive: true });
      copyFileSync(join(ROOT, 'python/marshal_train.py'), join(wd, 'marshal_train.py'));
      copyFileSync(join(FIXTURES, 'train_tiny.py'), join(wd, 'train_tiny.py'));
      copyFileSync(join(FIXTURES, 'bench_tiny.py'), join(wd, 'bench_tiny.py'));
      copyFileSync(join(FIXTURES, 'contract_env.py'), join(wd, 'contract_env.py'));
    }
    // beta measures half as fast as alpha.
    writeFileSync(join(dir, 'nodes/b/speed.txt'), '0.5\n');
    await writeCluster();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('calibrate measures both nodes with a benchmark script', async () => {
    const r = await marshal([
      'train',
      'calibrate',
      '--cluster',
      'cluster.yaml',
      '--benchmark',
      'bench_tiny.py',
      '--repeats',
      '3',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(
      doc.nodes.map((n: { node: string; status: string; throughput: number }) => [
        n.node,
        n.status,
        n.throughput,
      ]),
      [
        ['alpha', 'ok', 100],
        ['beta', 'ok', 50],
      ],
    );
    writeFileSync(join(dir, 'cal.json'), r.stdout);
  });

  it('calibrate --remeasure n: a noisy node runs a second round of n runs, a quiet one does not', async () => {
    const bench = `import json, os
runs = int(open("noisy_runs.txt").read()) if os.path.exists("noisy_runs.txt") else 0
values = json.load(open("noisy_values.json"))
open("noisy_runs.txt", "w").write(str(runs + 1))
print(json.dumps({"throughput": values[min(runs, len(values) - 1)], "memory_gb": 0.1, "latency_ms": 2}))
`;
    const values = { a: [21_580, 30_000, 38_253, 29_900, 30_100], b: [30_000, 30_050, 29_950] };
    for (const [node, list] of Object.entries(values)) {
      writeFileSync(join(dir, 'nodes', node, 'bench_noisy.py'), bench);
      writeFileSync(join(dir, 'nodes', node, 'noisy_values.json'), JSON.stringify(list));
    }
    const args = ['train', 'calibrate', '--cluster', 'cluster.yaml', '--benchmark', 'bench_noisy.py'];
    const r = await marshal([...args, '--duration', '0.1', '--repeats', '3', '--remeasure', '2', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const runs = (node: string) => readFileSync(join(dir, 'nodes', node, 'noisy_runs.txt'), 'utf8');
    assert.equal(runs('a'), '5', 'three runs, then two more');
    assert.equal(runs('b'), '3');
    const [a, b] = JSON.parse(r.stdout).nodes;
    assert.deepEqual(a.samples, [29_900, 30_100]);
    assert.deepEqual(a.discarded_samples, [21_580, 30_000, 38_253]);
    assert.equal(b.discarded_samples, undefined);
    const bad = await marshal([...args, '--remeasure', '-1']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--remeasure/);
  });

  it('calibrate measures both nodes with the default PyTorch benchmark', async () => {
    const r = await marshal([
      'train',
      'calibrate',
      '--cluster',
      'cluster.yaml',
      '--duration',
      '0.3',
      '--repeats',
      '1',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.nodes.length, 2);
    for (const n of doc.nodes) {
      assert.equal(n.status, 'ok', JSON.stringify(n));
      assert.ok(n.throughput > 0 && n.latency_ms > 0 && n.memory_gb > 0);
    }
  });

  it('plan on 120,000 examples writes every section, proportional shards and chunking', async () => {
    const r = await plan('run/plan.json');
    assert.equal(r.code, 0, r.stderr);
    const p = readJson<Plan>('run/plan.json');
    for (const s of PLAN_SECTIONS) assert.ok(s in p, s);
    const ranks = p.distributed_config.ranks;
    assert.equal(
      ranks.reduce((s, x) => s + x.examples, 0),
      120_000,
    );
    assert.deepEqual(
      ranks.map((x) => x.examples),
      [80_000, 40_000],
    );
    assert.equal(p.coordinator_chunking.enabled, true);
    assert.equal(p.worker_consistency.status, 'pass');
    assert.notEqual(p.pre_flight_checklist.overall_status, 'fail');
    assert.ok(existsSync(join(dir, 'run/audit.jsonl')));
    const audit = readFileSync(join(dir, 'run/audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(audit.some((a) => a.phase === 'worker_consistency'));
  });

  it('dry-run prints the exact command and env of every rank', async () => {
    const r = await marshal(['train', 'launch', '--plan', 'run/plan.json', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /# rank 0 on alpha/);
    assert.match(r.stdout, /# rank 1 on beta/);
    assert.match(r.stdout, /MARSHAL_SHARD_START=80000/);
    assert.match(r.stdout, /MARSHAL_SHARD_END=120000/);
    assert.match(r.stdout, /\/usr\/bin\/python3 -m marshal_train train_tiny.py/);
    assert.ok(!existsSync(join(dir, 'run/run-report.json')));
  });

  it('launch runs a real 2-rank job; each rank processes exactly its share', async () => {
    const r = await marshal(['train', 'launch', '--plan', 'run/plan.json', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = readJson<RunReport>('run/run-report.json');
    assert.deepEqual(JSON.parse(r.stdout), report);
    assert.equal(report.status, 'succeeded');
    assert.deepEqual(
      report.ranks.map((x) => [x.rank, x.node, x.exitCode, x.examplesProcessed, x.flags]),
      [
        [0, 'alpha', 0, 80_000, []],
        [1, 'beta', 0, 40_000, []],
      ],
    );
    assert.equal(report.ranks[0]!.finalParamHash, report.ranks[1]!.finalParamHash);
    assert.match(r.stderr, /\[rank 1\] .*Processing chunk/);
    assert.ok(existsSync(join(dir, 'ckpt')), 'checkpoint dir created at launch');
  });

  it('a tampered plan exits 2', async () => {
    const p = readJson<Plan>('run/plan.json');
    p.distributed_config.ranks[1]!.end = 130_000;
    mkdirSync(join(dir, 'tampered'), { recursive: true });
    writeFileSync(join(dir, 'tampered/plan.json'), JSON.stringify(p));
    const r = await marshal(['train', 'launch', '--plan', 'tampered/plan.json', '--force']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /modified after it was sealed/);
  });

  it('the plan key is made on first use, private (0600), and never printed or audited', () => {
    const keyFile = join(dir, 'config/marshal/plan-seal.key');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const key = readFileSync(keyFile, 'utf8').trim();
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.ok(!readFileSync(join(dir, 'run/plan.json'), 'utf8').includes(key));
    assert.ok(!readFileSync(join(dir, 'run/audit.jsonl'), 'utf8').includes(key));
  });

  it('a plan edited and re-sealed without the key is refused (exit 2) and runs nothing', async () => {
    const { integrity: _seal, ...body } = readJson<Plan>('run/plan.json');
    body.distributed_config.processes[0]!.argv = ['/bin/sh', '-c', `touch ${join(dir, 'pwned')}`];
    mkdirSync(join(dir, 'resealed'), { recursive: true });
    // With the exported sealPlan and a key of the attacker's own.
    writeFileSync(join(dir, 'resealed/plan.json'), JSON.stringify(sealPlan(body, randomBytes(32))));
    const r = await marshal(['train', 'launch', '--plan', 'resealed/plan.json', '--force', '--json']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(JSON.parse(r.stdout).error.code, 'E_PLAN_TAMPERED');
    assert.match(r.stderr, /not sealed with your plan key/);
    // The old, unkeyed seal anyone can recompute is refused too.
    const unkeyed = {
      ...body,
      integrity: { algorithm: 'sha256-canonical-json', sha256: sha256CanonicalJson(body) },
    };
    writeFileSync(join(dir, 'resealed/plan.json'), JSON.stringify(unkeyed));
    const old = await marshal(['train', 'launch', '--plan', 'resealed/plan.json', '--force']);
    assert.equal(old.code, 2, old.stderr);
    assert.match(old.stderr, /plain SHA-256/);
    // Another user (another config directory, so another key) cannot launch this user's plan.
    const other = await marshal(['train', 'launch', '--plan', 'run/plan.json', '--dry-run'], {
      XDG_CONFIG_HOME: join(dir, 'other-user'),
    });
    assert.equal(other.code, 2, other.stderr);
    assert.match(other.stderr, /E_PLAN_KEY|plan-seal.key does not exist/);
    assert.ok(!existsSync(join(dir, 'pwned')));
  });

  it('launch hashes the code again on every node and refuses a change since planning (exit 5, naming node and file)', async () => {
    for (const [node, file] of [
      ['b', 'train_tiny.py'],
      ['a', 'marshal_train.py'],
    ] as const) {
      const path = join(dir, 'nodes', node, file);
      const original = readFileSync(path, 'utf8');
      writeFileSync(path, `${original}\n# edited after planning\n`);
      try {
        const r = await marshal(['train', 'launch', '--plan', 'run/plan.json', '--json']);
        assert.equal(r.code, 5, r.stderr);
        const err = JSON.parse(r.stdout).error;
        assert.equal(err.code, 'E_CODE_CHANGED');
        assert.match(err.message, new RegExp(`${node === 'a' ? 'alpha' : 'beta'}: ${file} changed`));
        assert.match(r.stderr, /--force/);
      } finally {
        writeFileSync(path, original);
      }
    }
    const audit = readFileSync(join(dir, 'run/audit.jsonl'), 'utf8');
    assert.match(audit, /"phase":"code_check","decision":"refused"/);
  });

  it('../ in --checkpoint-dir exits 2 naming the option and value', async () => {
    const r = await plan('escape/plan.json', ['--checkpoint-dir', '../outside']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--checkpoint-dir/);
    assert.match(r.stderr, /\.\.\/outside/);
    assert.ok(!existsSync(join(dir, 'escape/plan.json')));
  });

  it('invalid dataset counts and an unknown script exit 2', async () => {
    for (const bad of ['0', '-5', '1.5']) {
      const r = await marshal([
        'train',
        'plan',
        '--cluster',
        'cluster.yaml',
        '--script',
        'train_tiny.py',
        `--dataset=${bad}`,
        '--skip-calibration',
      ]);
      assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, /--dataset/);
    }
    const r = await marshal([
      'train',
      'plan',
      '--cluster',
      'cluster.yaml',
      '--script',
      'nope.py',
      '--dataset',
      '10',
      '--skip-calibration',
      '--out',
      'x/plan.json',
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /nope\.py/);
    const outside = await marshal([
      'train',
      'plan',
      '--cluster',
      'cluster.yaml',
      '--script',
      '../../../malicious.py',
      '--dataset',
      '10',
      '--skip-calibration',
      '--out',
      'x/plan.json',
    ]);
    assert.equal(outside.code, 2, outside.stderr);
    assert.match(outside.stderr, /--script.*malicious/);
  });

  it('check flags the worker whose copy of the script was edited', async () => {
    const before = await marshal(['train', 'check', '--plan', 'run/plan.json', '--json']);
    assert.equal(before.code, 0, before.stderr);
    const script = join(dir, 'nodes/b/train_tiny.py');
    const original = readFileSync(script, 'utf8');
    writeFileSync(script, `${original}\n# edited on beta\n`);
    try {
      const r = await marshal(['train', 'check', '--plan', 'run/plan.json', '--json']);
      assert.equal(r.code, 5, r.stderr);
      const doc = JSON.parse(r.stdout);
      assert.deepEqual(doc.divergent_workers, ['beta']);
      const c = doc.checks.find((x: { name: string }) => x.name === 'worker_consistency');
      assert.equal(c.status, 'fail');
      assert.match(c.message, /beta/);
    } finally {
      writeFileSync(script, original);
    }
  });

  it('a failed pre-flight exits 5, writes a blocked plan, and launch refuses it', async () => {
    writeFileSync(join(dir, 'sync.sh'), '#!/bin/sh\necho "rsync: connection refused" >&2\nexit 7\n');
    chmodSync(join(dir, 'sync.sh'), 0o755);
    await writeCluster('sync: { script: sync.sh }');
    try {
      const r = await plan('blocked/plan.json');
      assert.equal(r.code, 5, r.stderr);
      const p = readJson<Plan>('blocked/plan.json');
      assert.equal(p.status, 'blocked');
      const c = p.pre_flight_checklist.checks.find((x) => x.name === 'pre_rdma_sync')!;
      assert.equal(c.status, 'fail');
      assert.match(c.message, /connection refused/);
      const l = await marshal(['train', 'launch', '--plan', 'blocked/plan.json']);
      assert.equal(l.code, 5);
      assert.match(l.stderr, /--force/);
    } finally {
      await writeCluster();
    }
  });

  it('an unreachable ssh node fails the worker layer through a real ssh attempt', async () => {
    writeFileSync(
      join(dir, 'ssh-cluster.yaml'),
      'nodes:\n  - { name: alpha, host: local, python: /usr/bin/python3, workdir: nodes/a }\n' +
        '  - { name: far, host: nobody@127.0.0.1, python: python3, workdir: /srv/train }\n',
    );
    const r = await marshal(
      [
        'train',
        'plan',
        '--cluster',
        'ssh-cluster.yaml',
        '--script',
        'train_tiny.py',
        '--dataset',
        '100',
        '--skip-calibration',
        '--out',
        'ssh/plan.json',
        '--json',
      ],
      { HOME: dir },
    );
    assert.equal(r.code, 5, r.stderr);
    const p = JSON.parse(r.stdout).plan as Plan;
    const worker = p.pre_flight_checklist.checks.find((c) => c.name === 'worker_layer')!;
    assert.equal(worker.status, 'fail');
    assert.match(worker.message, /far/);
    assert.match(worker.fix_command ?? '', /ssh -o BatchMode=yes .*nobody@127\.0\.0\.1 true/);
    assert.deepEqual(
      p.strategy.excluded_nodes.map((e) => e.node),
      ['far'],
    );
  });

  // The fault tests launch the plan made above again (its job ran to completion, so its master
  // port is free; TCPStore binds with SO_REUSEADDR): a plan costs a torch import per node.
  it('--force launches changed code, and the run ends degraded (exit 1) saying so', async () => {
    const path = join(dir, 'nodes/b/train_tiny.py');
    const original = readFileSync(path, 'utf8');
    writeFileSync(path, `${original}\n# edited after planning\n`);
    try {
      const r = await marshal(['train', 'launch', '--plan', 'run/plan.json', '--force', '--json']);
      assert.equal(r.code, 1, r.stderr);
      const report = readJson<RunReport>('run/run-report.json');
      assert.equal(report.status, 'degraded');
      assert.deepEqual(report.code_changes, [{ node: 'beta', file: 'train_tiny.py', problem: 'changed' }]);
      assert.match(r.stderr, /E_RUN_DEGRADED/);
    } finally {
      writeFileSync(path, original);
    }
  });

  it('ranks that exit 0 but process fewer examples than planned end degraded, with the reason', async () => {
    const r = await marshal(['train', 'launch', '--plan', 'run/plan.json', '--json'], {
      MARSHAL_FIXTURE_SHORT_RANK: '1',
    });
    assert.equal(r.code, 1, r.stderr);
    const report = readJson<RunReport>('run/run-report.json');
    assert.deepEqual(
      report.ranks.map((x) => x.exitCode),
      [0, 0],
    );
    assert.equal(report.status, 'degraded');
    assert.match(report.reasons.join('\n'), /rank 1 processed \d+ examples, the plan gave it 40000/);
  });

  it('a rank that fails stops the other', async () => {
    const r = await marshal(['train', 'launch', '--plan', 'run/plan.json', '--json'], {
      MARSHAL_FIXTURE_FAIL_RANK: '1',
    });
    assert.equal(r.code, 1, r.stderr);
    const report = readJson<RunReport>('run/run-report.json');
    assert.equal(report.status, 'failed');
    assert.equal(report.ranks[1]!.exitCode, 3);
    assert.ok(report.ranks[1]!.flags.includes('failed'));
    assert.ok(report.ranks[0]!.flags.includes('stopped_peer_failed'), JSON.stringify(report.ranks[0]));
  });

  for (const launcher of ['torchrun', 'mpirun']) {
    it(`the ${launcher} launcher runs the same job to completion`, async () => {
      await writeCluster('', launcher);
      try {
        const p = await plan(`${launcher}/plan.json`);
        assert.equal(p.code, 0, p.stderr);
        const r = await marshal(['train', 'launch', '--plan', `${launcher}/plan.json`, '--json']);
        assert.equal(r.code, 0, r.stderr);
        const report = readJson<RunReport>(`${launcher}/run-report.json`);
        assert.deepEqual(
          report.ranks.map((x) => [x.rank, x.examplesProcessed, x.flags]),
          [
            [0, 80_000, []],
            [1, 40_000, []],
          ],
        );
      } finally {
        await writeCluster();
      }
    });
  }

  // A script that reads only RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT and
  // MARSHAL_SHARD_START/END (no helper import) works unchanged under every launcher: torchrun
  // sets RANK but no shard, mpirun sets OMPI_COMM_WORLD_* but no RANK; the entry maps both.
  for (const launcher of ['direct', 'torchrun', 'mpirun']) {
    it(`under ${launcher}, an env-only script gets RANK, WORLD_SIZE and its shard through python -m marshal_train`, async () => {
      await writeCluster('', launcher);
      try {
        const p = await marshal([
          'train',
          'plan',
          '--cluster',
          'cluster.yaml',
          '--script',
          'contract_env.py',
          '--dataset',
          '120000',
          '--calibration',
          'cal.json',
          '--out',
          `contract-${launcher}/plan.json`,
        ]);
        assert.equal(p.code, 0, p.stderr);
        const r = await marshal(['train', 'launch', '--plan', `contract-${launcher}/plan.json`, '--json']);
        assert.equal(r.code, 0, r.stderr);
        const report = readJson<RunReport>(`contract-${launcher}/run-report.json`);
        assert.equal(report.status, 'succeeded', JSON.stringify(report.reasons));
        assert.deepEqual(
          report.ranks.map((x) => [x.rank, x.exitCode, x.examplesProcessed, x.flags]),
          [
            [0, 0, 80_000, []],
            [1, 0, 40_000, []],
          ],
        );
        assert.match(r.stderr, /contract rank=0 world=2 local_rank=0 shard=\[0,80000\)/);
        assert.match(r.stderr, /contract rank=1 world=2 local_rank=\d shard=\[80000,120000\)/);
        assert.equal(r.stderr.match(/world_total=120000/g)?.length, 2, r.stderr);
      } finally {
        await writeCluster();
      }
    });
  }

  it('a rank that hangs after the others finished is stopped and flagged', async () => {
    const r = await marshal(['train', 'launch', '--plan', 'run/plan.json', '--grace', '1', '--json'], {
      MARSHAL_FIXTURE_HANG_RANK: '1',
    });
    assert.equal(r.code, 0, r.stderr);
    const report = readJson<RunReport>('run/run-report.json');
    assert.deepEqual(report.ranks[1]!.flags, ['stopped_teardown_hang']);
    assert.equal(report.ranks[1]!.examplesProcessed, 40_000);
    assert.deepEqual(report.ranks[0]!.flags, []);
  });
});
