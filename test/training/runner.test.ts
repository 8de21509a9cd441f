import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deadline } from '../../src/core/deadline.ts';
import { isProcessAlive } from '../../src/core/process-identity.ts';
import { buildRunReport } from '../../src/training/launch/run-report.ts';
import { runPlan } from '../../src/training/launch/runner.ts';
import { buildPlan } from '../../src/training/plan.ts';
import { cluster, facts, TEST_SEAL_KEY } from './plan-facts.ts';

const HELPER = new URL('../../python/marshal_train.py', import.meta.url);
let dir: string;
const REPORT_INPUT = {
  plan: 'plan.json',
  planSha256: '0'.repeat(64),
  launcher: 'direct',
  startedAt: '2026-01-01T00:00:00Z',
  finishedAt: '2026-01-01T00:00:01Z',
  forced: false,
};

function planFor(pythons: [string, string]) {
  const c = cluster([{ name: 'a' }, { name: 'b' }]);
  c.nodes.forEach((n, i) => {
    n.workdir = join(dir, n.name);
    n.python = pythons[i]!;
  });
  return buildPlan(facts({ cluster: c, checkpoint: null, script: 'wait.py' }), {
    sealKey: TEST_SEAL_KEY,
    planDir: dir,
  });
}

describe('launch runner', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-runner-'));
    for (const n of ['a', 'b']) {
      mkdirSync(join(dir, n));
      // Every launcher runs the script through `python -m marshal_train` from the workdir.
      copyFileSync(HELPER, join(dir, n, 'marshal_train.py'));
      // Prints its pid, then waits for a signal.
      writeFileSync(
        join(dir, n, 'wait.py'),
        'import os, time\nprint("pid", os.getpid(), flush=True)\ntime.sleep(120)\n',
      );
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a rank that cannot start stops the ranks already running', async () => {
    const pids: number[] = [];
    const ranks = await runPlan(planFor(['/usr/bin/python3', join(dir, 'no-such-python')]), {
      planPath: join(dir, 'plan.json'),
      env: process.env,
      stopGraceMs: 1000,
      onLine: (_l, _s, line) => {
        const m = /^pid (\d+)/.exec(line);
        if (m) pids.push(Number(m[1]));
      },
    });
    assert.equal(ranks[1]!.stopped, 'spawn_failed');
    assert.equal(ranks[0]!.stopped, 'peer_failed');
    for (const pid of pids) assert.equal(isProcessAlive(pid), false);
  });

  it('an abort stops every rank and flags them', async () => {
    const ac = new AbortController();
    const pids: number[] = [];
    const ranks = await runPlan(planFor(['/usr/bin/python3', '/usr/bin/python3']), {
      planPath: join(dir, 'plan.json'),
      env: process.env,
      signal: ac.signal,
      stopGraceMs: 1000,
      onLine: (_l, _s, line) => {
        const m = /^pid (\d+)/.exec(line);
        if (m) pids.push(Number(m[1]));
        if (pids.length === 2) ac.abort();
      },
    });
    assert.deepEqual(
      ranks.map((r) => r.stopped),
      ['aborted', 'aborted'],
    );
    for (const pid of pids) assert.equal(isProcessAlive(pid), false);
  });

  it('a rank still running when the grace period ends is stopped and flagged, through each lifecycle state', async () => {
    writeFileSync(join(dir, 'a', 'quick.py'), 'print("done")\n');
    writeFileSync(join(dir, 'b', 'quick.py'), 'import time\ntime.sleep(120)\n');
    const c = cluster([{ name: 'a' }, { name: 'b' }]);
    c.nodes.forEach((n) => {
      n.workdir = join(dir, n.name);
    });
    const plan = buildPlan(facts({ cluster: c, checkpoint: null, script: 'quick.py' }), {
      sealKey: TEST_SEAL_KEY,
      planDir: dir,
    });
    const states: string[] = [];
    const ranks = await runPlan(plan, {
      planPath: join(dir, 'plan.json'),
      env: process.env,
      graceMs: 300,
      stopGraceMs: 1000,
      onState: (s) => states.push(s.kind),
    });
    assert.deepEqual(states, ['starting', 'running', 'grace', 'stopping', 'done']);
    assert.deepEqual(
      ranks.map((r) => [r.exitCode, r.stopped]),
      [
        [0, null],
        [null, 'teardown_hang'],
      ],
    );
  });

  it("a rank's failure line stops every process at once, even one that keeps running; only that rank is blamed", async () => {
    // Rank 1 says it failed, then lingers (as a torchrun agent whose worker failed waits in its
    // exit barrier); rank 0 would wait 120 s. A 30 s deadline bounds the run: were the line
    // ignored, the abort would flag both ranks `stopped_aborted`.
    const script = [
      'import json, os, time',
      'if os.environ["RANK"] == "1":',
      '    print("MARSHAL_RANK_FAILED " + json.dumps({"rank": 1, "exit": 3, "error": "exited with 3"}), flush=True)',
      'time.sleep(120)',
    ].join('\n');
    for (const n of ['a', 'b']) writeFileSync(join(dir, n, 'linger.py'), `${script}\n`);
    const c = cluster([{ name: 'a' }, { name: 'b' }]);
    c.nodes.forEach((n) => {
      n.workdir = join(dir, n.name);
    });
    const plan = buildPlan(facts({ cluster: c, checkpoint: null, script: 'linger.py' }), {
      sealKey: TEST_SEAL_KEY,
      planDir: dir,
    });
    const bound = deadline(30_000, [], 'the run');
    const lines: string[] = [];
    try {
      const ranks = await runPlan(plan, {
        planPath: join(dir, 'plan.json'),
        env: process.env,
        signal: bound.signal,
        stopGraceMs: 1000,
        onLine: (_l, _s, line) => lines.push(line),
      });
      assert.deepEqual(
        ranks.map((r) => [r.stopped, r.failure ?? null]),
        [
          ['peer_failed', null],
          [null, { exit: 3, error: 'exited with 3' }],
        ],
      );
      assert.deepEqual(
        buildRunReport({ ...REPORT_INPUT, ranks }).ranks.map((r) =>
          r.flags.filter((f) => f !== 'no_telemetry' && f !== 'examples_mismatch'),
        ),
        [['stopped_peer_failed'], ['failed']],
      );
    } finally {
      bound.clear();
    }
    assert.equal(bound.signal.aborted, false);
  });

  it('a rank whose script exits 3 says so through the entry and keeps its exit code', async () => {
    const script = 'import os, sys, time\nif os.environ["RANK"] == "1":\n    sys.exit(3)\ntime.sleep(120)\n';
    for (const n of ['a', 'b']) writeFileSync(join(dir, n, 'exit3.py'), script);
    const c = cluster([{ name: 'a' }, { name: 'b' }]);
    c.nodes.forEach((n) => {
      n.workdir = join(dir, n.name);
    });
    const plan = buildPlan(facts({ cluster: c, checkpoint: null, script: 'exit3.py' }), {
      sealKey: TEST_SEAL_KEY,
      planDir: dir,
    });
    const ranks = await runPlan(plan, {
      planPath: join(dir, 'plan.json'),
      env: process.env,
      stopGraceMs: 1000,
    });
    assert.deepEqual(
      ranks.map((r) => [r.exitCode, r.stopped, r.failure ?? null]),
      [
        [null, 'peer_failed', null],
        [3, null, { exit: 3, error: 'exited with 3' }],
      ],
    );
  });

  it('heartbeat lines are not shown, and one written between the pieces of a print() leaves that line whole', async () => {
    // The heartbeat thread writes its line in one os.write; the script's print() writes "sh",
    // then "own\n": the coordinator sees "shMARSHAL_HEARTBEAT {...}" and "own".
    const script = [
      'import json, os, sys',
      'beat = "MARSHAL_HEARTBEAT " + json.dumps({"rank": int(os.environ["RANK"]), "step": 0, "done": False, "collective": None})',
      'sys.stdout.write("sh"); sys.stdout.flush()',
      'os.write(1, (beat + "\\n").encode())',
      'print("own", flush=True)',
      'os.write(1, b"[default0]:MARSHAL_HEARTBEAT {}\\n")',
      'print("second", flush=True)',
    ].join('\n');
    for (const n of ['a', 'b']) writeFileSync(join(dir, n, 'beat.py'), `${script}\n`);
    const c = cluster([{ name: 'a' }, { name: 'b' }]);
    c.nodes.forEach((n) => {
      n.workdir = join(dir, n.name);
    });
    const plan = buildPlan(facts({ cluster: c, checkpoint: null, script: 'beat.py' }), {
      sealKey: TEST_SEAL_KEY,
      planDir: dir,
    });
    const lines: string[] = [];
    const ranks = await runPlan(plan, {
      planPath: join(dir, 'plan.json'),
      env: process.env,
      stopGraceMs: 1000,
      onLine: (_l, stream, line) => {
        if (stream === 'stdout') lines.push(line);
      },
    });
    assert.deepEqual(
      ranks.map((r) => r.exitCode),
      [0, 0],
    );
    assert.deepEqual(lines, ['shown', 'second', 'shown', 'second']);
  });

  it('with direct, refuses metric lines naming another rank or claiming examples outside the shard', async () => {
    // Rank 0 (shard of 80,000) claims rank 1's metrics, 1e300 examples and more than its shard;
    // only its honest line counts. Rank 1 reports its own line only.
    const script = [
      'import json, os',
      'r = int(os.environ["RANK"])',
      'def line(**kw): print("MARSHAL_METRIC " + json.dumps(kw), flush=True)',
      'if r == 0:',
      '    line(rank=1, step=0, examples=40000, loss=0.1, grad_norm=1.0)',
      '    print(\'MARSHAL_METRIC {"rank": 0, "step": 0, "examples": 1e300, "loss": 0.1, "grad_norm": 1.0}\', flush=True)',
      '    line(rank=0, step=0, examples=80001, loss=0.1, grad_norm=1.0)',
      '    line(rank=0, step=0, examples=12.5, loss=0.1, grad_norm=1.0)',
      '    line(rank=0, step=1, examples=3, loss=0.1, grad_norm=1.0)',
      'else:',
      '    line(rank=1, step=1, examples=7, loss=0.1, grad_norm=1.0)',
    ].join('\n');
    for (const n of ['a', 'b']) writeFileSync(join(dir, n, 'tele.py'), `${script}\n`);
    const c = cluster([{ name: 'a' }, { name: 'b' }]);
    c.nodes.forEach((n) => {
      n.workdir = join(dir, n.name);
    });
    const plan = buildPlan(facts({ cluster: c, checkpoint: null, script: 'tele.py' }), {
      sealKey: TEST_SEAL_KEY,
      planDir: dir,
    });
    const ranks = await runPlan(plan, {
      planPath: join(dir, 'plan.json'),
      env: process.env,
      stopGraceMs: 1000,
    });
    assert.deepEqual(
      ranks.map((r) => [r.exitCode, r.examplesProcessed, r.metricLines, r.rejected]),
      [
        [0, 3, 1, { rank_mismatch: 1, invalid: 3, first: 'rank 1 is not run by this process (it runs 0)' }],
        [0, 7, 1, { rank_mismatch: 0, invalid: 0 }],
      ],
    );
  });
});
