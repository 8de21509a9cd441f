/**
 * Heterogeneous 2-rank training, real torch.distributed (gloo): every example costs a fixed time
 * (`slow_s.txt` in each workdir, honoured by the calibration benchmark and the training fixture
 * alike), three times as much on node beta, so the run is bound by per-example work rather than
 * by the tiny model's per-step overhead, as real training is. Measures the training wall time with calibrated (proportional) shards, with
 * equal shards, and the ideal N / (sum of calibrated throughputs), side by side in one run.
 * Goal: calibrated within 15% of the ideal.
 *
 * Run: npm run bench -- train-hetero   (env: BENCH_EXAMPLES, BENCH_BASE_S, BENCH_SLOW_S, BENCH_BATCH)
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeJsonAtomic } from '../src/core/atomic-file.ts';
import { calibrateCluster } from '../src/training/calibrate.ts';
import { loadCluster } from '../src/training/cluster.ts';
import { type CalibrationSource, gatherFacts } from '../src/training/facts.ts';
import { runPlan } from '../src/training/launch/runner.ts';
import { buildPlan } from '../src/training/plan.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const EXAMPLES = Number(process.env.BENCH_EXAMPLES ?? 60_000);
const BASE_S = Number(process.env.BENCH_BASE_S ?? 0.0001);
const SLOW_S = Number(process.env.BENCH_SLOW_S ?? 0.0003);
const BATCH = Number(process.env.BENCH_BATCH ?? 3000);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

const dir = mkdtempSync(join(tmpdir(), 'marshal-bench-hetero-'));
try {
  for (const n of ['a', 'b']) {
    const wd = join(dir, n);
    mkdirSync(wd);
    copyFileSync(join(ROOT, 'python/marshal_train.py'), join(wd, 'marshal_train.py'));
    for (const f of ['train_tiny.py', 'bench_slow.py'])
      copyFileSync(join(ROOT, 'test/fixtures/training', f), join(wd, f));
  }
  writeFileSync(join(dir, 'a/slow_s.txt'), `${BASE_S}\n`);
  writeFileSync(join(dir, 'b/slow_s.txt'), `${SLOW_S}\n`);

  const writeCluster = async () =>
    writeFileSync(
      join(dir, 'cluster.yaml'),
      `master: { addr: 127.0.0.1, port: ${await freePort()} }\nnodes:\n` +
        '  - { name: alpha, host: local, python: /usr/bin/python3, workdir: a }\n' +
        '  - { name: beta, host: local, python: /usr/bin/python3, workdir: b }\n',
    );
  await writeCluster();
  const env = process.env;
  const calibration = await calibrateCluster(
    (await loadCluster(join(dir, 'cluster.yaml'), { cwd: dir, env })).nodes,
    {
      benchmark: 'bench_slow.py',
      durationS: 3,
      repeats: 1,
      env,
    },
  );
  const throughputs = calibration.nodes.map((n) => (n.status === 'ok' ? n.throughput : Number.NaN));
  const ideal = EXAMPLES / throughputs.reduce((s, t) => s + t, 0);

  async function trainWall(
    source: CalibrationSource,
    name: string,
  ): Promise<{ wall: number; shares: number[] }> {
    await writeCluster();
    const cluster = await loadCluster(join(dir, 'cluster.yaml'), { cwd: dir, env });
    const dataset = { source: String(EXAMPLES), kind: 'count' as const, file: null, count: EXAMPLES };
    const facts = await gatherFacts(cluster, {
      script: 'train_tiny.py',
      dataset,
      calibration: source,
      env,
      cwd: dir,
    });
    const plan = buildPlan(facts, {
      planDir: join(dir, name),
      globalBatchSize: BATCH,
      sealKey: randomBytes(32),
    });
    const planPath = join(dir, name, 'plan.json');
    mkdirSync(dirname(planPath), { recursive: true });
    await writeJsonAtomic(planPath, plan);
    const starts: number[] = [];
    const ends: number[] = [];
    const ranks = await runPlan(plan, {
      planPath,
      env,
      onLine: (_label, stream, line) => {
        const m = /MARSHAL_FIXTURE_T (start|end) ([\d.]+)/.exec(line);
        if (stream === 'stderr' && m) (m[1] === 'start' ? starts : ends).push(Number(m[2]));
      },
    });
    for (const r of ranks) {
      if (r.exitCode !== 0 || r.examplesProcessed !== r.expectedExamples) {
        throw new Error(
          `${name}: rank ${r.rank} exit ${r.exitCode}, ${r.examplesProcessed}/${r.expectedExamples}`,
        );
      }
    }
    return {
      wall: Math.max(...ends) - Math.min(...starts),
      shares: plan.distributed_config.ranks.map((r) => r.examples),
    };
  }

  const calibrated = await trainWall({ mode: 'given', report: calibration }, 'calibrated');
  const equal = await trainWall({ mode: 'skip' }, 'equal');
  const f = (x: number) => x.toFixed(2);
  console.log(
    `examples ${EXAMPLES}; ${BASE_S} s/example on alpha, ${SLOW_S} s/example on beta; global batch ${BATCH}`,
  );
  console.log(`calibrated throughput: alpha ${f(throughputs[0]!)} ex/s, beta ${f(throughputs[1]!)} ex/s`);
  console.log(`ideal (N / sum of throughputs): ${f(ideal)} s`);
  console.log(
    `calibrated shards ${calibrated.shares.join('/')}: ${f(calibrated.wall)} s (${f(calibrated.wall / ideal)}x ideal)`,
  );
  console.log(`equal shards ${equal.shares.join('/')}: ${f(equal.wall)} s (${f(equal.wall / ideal)}x ideal)`);
  console.log(`speedup calibrated vs equal: ${f(equal.wall / calibrated.wall)}x`);
  console.log(`goal calibrated <= 1.15x ideal: ${calibrated.wall <= 1.15 * ideal ? 'met' : 'NOT met'}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
