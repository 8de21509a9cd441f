import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { calibrateCluster, parseBenchmarkOutput } from '../../src/training/calibrate.ts';
import { calibrationNoise, noiseWarnings } from '../../src/training/calibration-quality.ts';
import type { ClusterNode } from '../../src/training/cluster.ts';

let dir: string;
const node = (name: string): ClusterNode => ({
  name,
  host: 'local',
  transport: 'local',
  slots: 1,
  python: '/usr/bin/python3',
  workdir: join(dir, name),
});

describe('calibration', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-calibrate-'));
    for (const n of ['ok', 'bad', 'crash']) mkdirSync(join(dir, n));
    const good =
      'import json, os\nprint("noise")\nprint(json.dumps({"throughput": float(os.environ["MARSHAL_BENCH_DURATION"]) * 10, "memory_gb": 0.5, "latency_ms": 3}))\n';
    writeFileSync(join(dir, 'ok/bench.py'), good);
    writeFileSync(join(dir, 'bad/bench.py'), 'print("throughput: fast")\n');
    writeFileSync(
      join(dir, 'crash/bench.py'),
      'import sys\nprint("out of memory", file=sys.stderr)\nsys.exit(4)\n',
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('parses the last stdout line and rejects anything else', () => {
    assert.deepEqual(parseBenchmarkOutput('x\n{"throughput":2,"memory_gb":1,"latency_ms":3}\n'), {
      throughput: 2,
      memory_gb: 1,
      latency_ms: 3,
    });
    assert.ok('error' in parseBenchmarkOutput(''));
    assert.ok('error' in parseBenchmarkOutput('{"throughput":-1,"memory_gb":1,"latency_ms":3}'));
    assert.ok('error' in parseBenchmarkOutput('{"throughput":1}'));
  });

  it('reports per-node failures as data, with the median of repeats for the rest', async () => {
    const report = await calibrateCluster([node('ok'), node('bad'), node('crash')], {
      benchmark: 'bench.py',
      durationS: 0.5,
      repeats: 2,
      env: process.env,
      now: () => new Date('2026-01-01T00:00:00Z'),
    });
    assert.equal(report.measured_at, '2026-01-01T00:00:00.000Z');
    const [ok, bad, crash] = report.nodes;
    assert.deepEqual(ok, {
      node: 'ok',
      status: 'ok',
      throughput: 5,
      memory_gb: 0.5,
      latency_ms: 3,
      samples: [5, 5],
      spread: 0,
    });
    assert.equal(bad!.status, 'failed');
    assert.match(bad!.status === 'failed' ? bad!.reason : '', /not JSON/);
    assert.match(crash!.status === 'failed' ? crash!.reason : '', /exited with 4.*out of memory/);
  });

  it('rejects a benchmark path that leaves the workdir', async () => {
    await assert.rejects(
      calibrateCluster([node('ok')], {
        benchmark: '../bad/bench.py',
        durationS: 1,
        repeats: 1,
        env: process.env,
      }),
      /(?<!-)benchmark: path/,
    );
  });

  it('times out a benchmark that never finishes', async () => {
    writeFileSync(join(dir, 'ok/slow.py'), 'import time\ntime.sleep(60)\n');
    const report = await calibrateCluster([node('ok')], {
      benchmark: 'slow.py',
      durationS: 1,
      repeats: 1,
      timeoutMs: 500,
      env: process.env,
    });
    assert.match(report.nodes[0]!.status === 'failed' ? report.nodes[0]!.reason : '', /timed out/);
  });
});

/** A benchmark that prints the next throughput of `values.json` on every run (counting runs in `runs.txt`). */
const SCRIPTED = `import json, os
runs = int(open("runs.txt").read()) if os.path.exists("runs.txt") else 0
values = json.load(open("values.json"))
open("runs.txt", "w").write(str(runs + 1))
print(json.dumps({"throughput": values[min(runs, len(values) - 1)], "memory_gb": 0.1, "latency_ms": 2, "model": "m1", "batch": 16}))
`;

describe('calibration noise: a node whose repeats disagree is measured again', () => {
  const scripted = (name: string, values: number[]): ClusterNode => {
    const n = node(name);
    mkdirSync(n.workdir, { recursive: true });
    writeFileSync(join(n.workdir, 'bench.py'), SCRIPTED);
    writeFileSync(join(n.workdir, 'values.json'), JSON.stringify(values));
    return n;
  };
  const runs = (n: ClusterNode) => Number(readFileSync(join(n.workdir, 'runs.txt'), 'utf8'));
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-calibrate-noise-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const calibrate = (nodes: ClusterNode[], extra: { remeasureRepeats?: number } = {}) =>
    calibrateCluster(nodes, {
      benchmark: 'bench.py',
      durationS: 0.1,
      repeats: 3,
      env: process.env,
      ...extra,
    });

  it('a noisy first round (21,580 .. 38,253 ex/s) is measured again; a quiet second round replaces it', async () => {
    const noisy = scripted('noisy', [21_580, 30_000, 38_253, 29_900, 30_000, 30_100]);
    const quiet = scripted('quiet', [30_000, 30_050, 29_950]);
    const report = await calibrate([noisy, quiet]);
    const [n, q] = report.nodes;
    assert.equal(runs(noisy), 6, 'three more runs for the noisy node');
    assert.equal(runs(quiet), 3, 'the quiet node is not measured again');
    assert.ok(n?.status === 'ok' && q?.status === 'ok');
    assert.deepEqual(n.samples, [29_900, 30_000, 30_100]);
    assert.deepEqual(n.discarded_samples, [21_580, 30_000, 38_253]);
    assert.equal(n.throughput, 30_000);
    assert.ok(n.spread! < 0.01, String(n.spread));
    assert.equal(q.discarded_samples, undefined);
    assert.equal(n.model, 'm1');
    assert.equal(n.batch, 16);
    assert.deepEqual(noiseWarnings(calibrationNoise(report), report), []);
  });

  it('a node still noisy after re-measuring pools both rounds and is warned about as such', async () => {
    const noisy = scripted('still', [21_580, 30_000, 38_253, 20_000, 31_000, 40_000]);
    const report = await calibrate([noisy]);
    const n = report.nodes[0]!;
    assert.equal(runs(noisy), 6);
    assert.ok(n.status === 'ok');
    assert.deepEqual(n.samples, [21_580, 30_000, 38_253, 20_000, 31_000, 40_000]);
    assert.equal(n.throughput, 30_500, 'the median of all six');
    assert.ok(n.spread! > 0.6);
    const [warning, ...rest] = noiseWarnings(calibrationNoise(report), report);
    assert.deepEqual(rest, []);
    assert.match(warning!, /^still: its 6 calibration repeats spread 66% .*even after re-measuring/);
  });

  it('remeasureRepeats 0 only records the spread', async () => {
    const noisy = scripted('once', [21_580, 30_000, 38_253, 30_000]);
    const report = await calibrate([noisy], { remeasureRepeats: 0 });
    assert.equal(runs(noisy), 3);
    const n = report.nodes[0]!;
    assert.ok(n.status === 'ok');
    assert.ok(Math.abs(n.spread! - (38_253 - 21_580) / 30_000) < 1e-12);
    assert.match(
      noiseWarnings(calibrationNoise(report), report)[0]!,
      /^once: its 3 calibration repeats spread 56%/,
    );
  });
});
