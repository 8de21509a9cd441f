import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { calibrateCluster, parseBenchmarkOutput } from '../../src/training/calibrate.ts';
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
