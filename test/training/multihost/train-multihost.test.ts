/**
 * Several hosts for real, on one machine: three network namespaces on a bridge, each with its
 * own sshd, address, interface name and workdir (test/helpers/netns-hosts.ts). The coordinator
 * (this process, in the root namespace) reaches them only through ssh with the test's ssh_config
 * (BatchMode, the test's key, a known_hosts the test wrote, StrictHostKeyChecking=yes).
 *
 * h2 is the slow host: a `slow_s.txt` in its workdir (a property of that host, not shipped code)
 * makes the benchmark and the training fixture sleep per example, which calibration over ssh
 * measures.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { main } from '../../../src/cli/main.ts';
import { deadline } from '../../../src/core/deadline.ts';
import type { RunReport } from '../../../src/training/launch/run-report.ts';
import type { Plan } from '../../../src/training/plan-schema.ts';
import { memoryIo } from '../../helpers/memory-io.ts';
import { leftovers, type NetnsHost, type NetnsHosts, startNetnsHosts } from '../../helpers/netns-hosts.ts';
import { BIN } from '../../helpers/run-cli.ts';
import { type Coordinator, makeCoordinator } from './cluster-fixture.ts';
import { multihostSuite } from './suite.ts';

let hosts: NetnsHosts;
let c: Coordinator;
const SLOW_S = '0.00004';

const planArgs = (out: string, extra: string[] = []) => [
  'train',
  'plan',
  '--cluster',
  'cluster.yaml',
  '--script',
  'train_tiny.py',
  '--dataset',
  '3000',
  '--batch-size',
  '96',
  '--out',
  out,
  '--json',
  ...extra,
];

/** Waits (bounded) until no process but its sshd listener is left in any host's namespace. */
async function assertNothingLeft(what: string): Promise<void> {
  const bound = deadline(20_000, [], 'remote processes to go');
  try {
    while (!bound.expired && hosts.hosts.some((h) => hosts.strayPids(h).length > 0)) {
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    bound.clear();
  }
  for (const h of hosts.hosts) assert.deepEqual(hosts.describeStrays(h), [], `${what}: left on ${h.alias}`);
}

/** Starts an in-process `marshal` run whose stderr can be watched while it runs. */
function startMarshal(args: string[], signal?: AbortSignal) {
  const mem = memoryIo({ cwd: c.dir, env: c.env });
  const done = main(args, mem.io, signal ? { signal } : {});
  return { mem, done };
}

/** Waits (bounded) until `stderr()` holds a metric line from every rank. */
async function untilEveryRankTrains(
  stderr: () => string,
  ranks: number,
  ended: () => boolean,
): Promise<void> {
  const bound = deadline(90_000, [], 'every rank to report a training step');
  try {
    const seen = () =>
      new Set([...stderr().matchAll(/MARSHAL_METRIC \{"rank":(\d+)/g)].map((m) => m[1])).size;
    while (!bound.expired && !ended() && seen() < ranks) await new Promise((r) => setTimeout(r, 100));
    assert.equal(seen(), ranks, `not every rank reported a step:\n${stderr().slice(-3000)}`);
  } finally {
    bound.clear();
  }
}

/** Flags about how a rank ended (the others judge a cut-short run's telemetry). */
const isLifecycleFlag = (f: string) => f === 'failed' || f === 'connection_lost' || f.startsWith('stopped_');

const slowFile = (h: NetnsHost) => join(h.workdir, 'slow_s.txt');

multihostSuite('marshal train on three ssh hosts (network namespaces)', () => {
  before(async () => {
    hosts = await startNetnsHosts(3);
    c = makeCoordinator(hosts);
    writeFileSync(slowFile(hosts.hosts[2]!), `${SLOW_S}\n`);
    c.writeCluster('direct');
  });
  after(async () => {
    await hosts?.teardown();
    if (hosts) assert.deepEqual(leftovers(hosts), [], 'the harness left something behind');
  });

  it('train plan runs the sync script: rsync over marshal ssh ships the code to every host workdir', async () => {
    for (const h of hosts.hosts) assert.equal(existsSync(join(h.workdir, 'train_tiny.py')), false);
    const r = await c.marshal(planArgs('equal/plan.json', ['--skip-calibration']));
    assert.equal(r.code, 0, r.stderr);
    const plan = c.readJson<Plan>('equal/plan.json');
    assert.equal(plan.pre_rdma_sync.sync_status, 'ok', plan.pre_rdma_sync.sync_output ?? '');
    for (const h of hosts.hosts) {
      for (const f of ['train_tiny.py', 'marshal_train.py', 'bench_slow.py']) {
        assert.equal(
          readFileSync(join(h.workdir, f), 'utf8'),
          readFileSync(join(c.dir, 'code', f), 'utf8'),
          `${f} on ${h.alias}`,
        );
      }
    }
    assert.equal(plan.worker_consistency.status, 'pass');
    assert.deepEqual(Object.keys(plan.worker_consistency.node_hashes), ['h0', 'h1', 'h2']);
    // gloo binds each host's own interface; the rendezvous is rank 0's host address.
    for (const [i, p] of plan.distributed_config.processes.entries()) {
      assert.equal(p.env.GLOO_SOCKET_IFNAME, hosts.hosts[i]!.ifname);
      assert.equal(p.env.MASTER_ADDR, hosts.hosts[0]!.addr);
    }
    // The probes reached each host through its own sshd.
    for (const h of hosts.hosts) {
      assert.match(
        readFileSync(join(hosts.dir, `${h.alias}_sshd.log`), 'utf8'),
        /Accepted publickey for root/,
      );
    }
  });

  it('train calibrate measures every host over ssh, and the slow host measures slower', async () => {
    const r = await c.marshal([
      'train',
      'calibrate',
      '--cluster',
      'cluster.yaml',
      '--benchmark',
      'bench_slow.py',
      '--duration',
      '1',
      '--repeats',
      '1',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    writeFileSync(join(c.dir, 'cal.json'), r.stdout);
    const doc = JSON.parse(r.stdout) as {
      nodes: Array<{ node: string; status: string; throughput: number }>;
    };
    assert.deepEqual(
      doc.nodes.map((n) => [n.node, n.status]),
      [
        ['h0', 'ok'],
        ['h1', 'ok'],
        ['h2', 'ok'],
      ],
    );
    const [h0, h1, h2] = doc.nodes.map((n) => n.throughput);
    assert.ok(h2! < h0! && h2! < h1!, `h2 should be slower: ${JSON.stringify(doc.nodes)}`);
  });

  it('train plan with the calibration gives the slow host the smallest share', async () => {
    const r = await c.marshal(planArgs('direct/plan.json', ['--calibration', 'cal.json']));
    assert.equal(r.code, 0, r.stderr);
    const plan = c.readJson<Plan>('direct/plan.json');
    const ranks = plan.distributed_config.ranks;
    assert.deepEqual(
      ranks.map((x) => [x.rank, x.node]),
      [
        [0, 'h0'],
        [1, 'h1'],
        [2, 'h2'],
      ],
    );
    assert.ok(ranks[2]!.examples < ranks[0]!.examples && ranks[2]!.examples < ranks[1]!.examples);
    assert.equal(
      ranks.reduce((s, x) => s + x.examples, 0),
      3000,
    );
  });

  it('train check notices the training script edited on one host', async () => {
    const edited = join(hosts.hosts[1]!.workdir, 'train_tiny.py');
    const original = readFileSync(edited, 'utf8');
    try {
      appendFileSync(edited, '\n# edited on h1\n');
      const r = await c.marshal(['train', 'check', '--plan', 'direct/plan.json', '--json']);
      const doc = JSON.parse(r.stdout) as { divergent_workers: string[] };
      assert.deepEqual(doc.divergent_workers, ['h1'], r.stderr);
    } finally {
      writeFileSync(edited, original);
    }
  });

  const launchers = ['direct', 'torchrun', 'mpirun'] as const;
  for (const launcher of launchers) {
    it(`train launch (${launcher}) runs a gloo job with a rank on every host, bound to its interface`, async () => {
      if (launcher !== 'direct') {
        c.writeCluster(launcher);
        const p = await c.marshal(planArgs(`${launcher}/plan.json`, ['--calibration', 'cal.json']));
        assert.equal(p.code, 0, p.stderr);
      }
      const dry = await c.marshal([
        'train',
        'launch',
        '--plan',
        `${launcher}/plan.json`,
        '--dry-run',
        '--json',
      ]);
      assert.equal(dry.code, 0, dry.stderr);
      const dryText = dry.stdout;
      assert.ok(dryText.includes(hosts.sshConfig), 'the ssh config reaches the launch commands');
      for (const h of hosts.hosts) assert.ok(dryText.includes(`GLOO_SOCKET_IFNAME=${h.ifname}`), h.ifname);
      const r = await c.marshal(['train', 'launch', '--plan', `${launcher}/plan.json`, '--json']);
      assert.equal(r.code, 0, `${r.stderr.slice(-4000)}\n${r.stdout.slice(0, 4000)}`);
      const plan = c.readJson<Plan>(`${launcher}/plan.json`);
      const report = c.readJson<RunReport>(`${launcher}/run-report.json`);
      assert.equal(report.status, 'succeeded');
      // Each rank trains on its own range of the fixture's data, so the slow host's small tail range
      // may end with a loss unlike the others' (a loss_outlier flag): that says nothing about the launch.
      assert.deepEqual(
        report.ranks.map((x) => [
          x.rank,
          x.node,
          x.examplesProcessed,
          x.flags.filter((f) => f !== 'loss_outlier'),
        ]),
        plan.distributed_config.ranks.map((x) => [x.rank, x.node, x.examples, []]),
      );
      const hashes = new Set(report.ranks.map((x) => x.finalParamHash));
      assert.equal(hashes.size, 1, 'every rank ends with the same parameters');
      assert.match([...hashes][0] ?? '', /^[0-9a-f]{64}$/);
      await assertNothingLeft(`after the ${launcher} run`);
    });
  }

  it('a failing rank stops every remote rank', async () => {
    c.writeCluster('direct');
    const p = await c.marshal(planArgs('fail/plan.json', ['--skip-calibration']));
    assert.equal(p.code, 0, p.stderr);
    writeFileSync(join(hosts.hosts[1]!.workdir, 'fixture_env.json'), '{"MARSHAL_FIXTURE_FAIL_RANK": "1"}');
    try {
      const r = await c.marshal(['train', 'launch', '--plan', 'fail/plan.json', '--json']);
      assert.equal(r.code, 1, r.stderr);
      const report = c.readJson<RunReport>('fail/run-report.json');
      assert.deepEqual(
        report.ranks.map((x) => [
          x.node,
          x.flags.includes('failed') ? 'failed' : x.flags.filter(isLifecycleFlag),
        ]),
        [
          ['h0', ['stopped_peer_failed']],
          ['h1', 'failed'],
          ['h2', ['stopped_peer_failed']],
        ],
      );
      await assertNothingLeft('after a failing rank');
    } finally {
      rmSync(join(hosts.hosts[1]!.workdir, 'fixture_env.json'), { force: true });
    }
  });

  // torchrun alone would take minutes: torch 1.13's elastic agent, once its worker failed, waits in
  // its exit barrier (elastic/agent/server/api.py `_invoke_run` -> `_exit_barrier`, up to 300 s)
  // for the other agents, whose ranks wait in the gloo rendezvous until its timeout (120 s). The
  // rank's MARSHAL_RANK_FAILED line (printed by marshal_train's entry) stops every host at once.
  // The run is bounded by a 60 s deadline: were the line not acted on, the abort would flag every
  // rank `stopped_aborted`.
  for (const launcher of ['torchrun', 'mpirun'] as const) {
    it(`a failing rank under ${launcher} stops every remote rank at once, blaming only that rank`, async () => {
      writeFileSync(join(hosts.hosts[1]!.workdir, 'fixture_env.json'), '{"MARSHAL_FIXTURE_FAIL_RANK": "1"}');
      const bound = deadline(60_000, [], `the failing ${launcher} run`);
      const started = performance.now();
      try {
        const r = await c.marshal(
          ['train', 'launch', '--plan', `${launcher}/plan.json`, '--json'],
          bound.signal,
        );
        console.log(
          `failing rank under ${launcher}: the launch took ${((performance.now() - started) / 1000).toFixed(1)} s`,
        );
        assert.equal(
          bound.signal.aborted,
          false,
          `not stopped by the failure line:\n${r.stderr.slice(-3000)}`,
        );
        assert.equal(r.code, 1, r.stderr.slice(-3000));
        assert.match(r.stderr, /rank 1: failing on purpose/);
        const report = c.readJson<RunReport>(`${launcher}/run-report.json`);
        assert.equal(report.status, 'failed');
        assert.deepEqual(
          report.ranks.map((x) => [x.rank, x.flags.filter(isLifecycleFlag)]),
          [
            [0, ['stopped_peer_failed']],
            [1, ['failed']],
            [2, ['stopped_peer_failed']],
          ],
        );
        assert.match(report.reasons.join('\n'), /rank 1 failed: exited with 3/);
        await assertNothingLeft(`after a failing rank under ${launcher}`);
      } finally {
        bound.clear();
        rmSync(join(hosts.hosts[1]!.workdir, 'fixture_env.json'), { force: true });
      }
    });
  }

  it('SIGINT to marshal stops every remote rank (exit 130)', async () => {
    for (const h of hosts.hosts) writeFileSync(slowFile(h), '0.05\n');
    try {
      const child = spawn(process.execPath, [BIN, 'train', 'launch', '--plan', 'fail/plan.json', '--json'], {
        cwd: c.dir,
        env: c.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
      });
      let over = false;
      const exited = new Promise<number | null>((resolve) =>
        child.on('close', (code) => {
          over = true;
          resolve(code);
        }),
      );
      await untilEveryRankTrains(
        () => stderr,
        3,
        () => over,
      );
      child.kill('SIGINT');
      assert.equal(await exited, 130, stderr.slice(-3000));
      const report = c.readJson<RunReport>('fail/run-report.json');
      assert.deepEqual(
        report.ranks.map((x) => x.flags.filter((f) => f.startsWith('stopped'))),
        [['stopped_aborted'], ['stopped_aborted'], ['stopped_aborted']],
      );
      await assertNothingLeft('after SIGINT');
    } finally {
      for (const h of hosts.hosts) rmSync(slowFile(h), { force: true });
      writeFileSync(slowFile(hosts.hosts[2]!), `${SLOW_S}\n`);
    }
  });

  it('a host whose link goes down mid-run is named and the run stopped', async () => {
    for (const h of hosts.hosts) writeFileSync(slowFile(h), '0.05\n');
    const lost = hosts.hosts[2]!;
    try {
      const run = startMarshal(['train', 'launch', '--plan', 'fail/plan.json', '--json']);
      let over = false;
      void run.done.finally(() => {
        over = true;
      });
      await untilEveryRankTrains(
        () => run.mem.stderr,
        3,
        () => over,
      );
      hosts.linkDown(lost);
      // ssh's ServerAlive (1 s x 2 here) ends h2's session; the runner then stops the others.
      const code = await run.done;
      assert.equal(code, 1, run.mem.stderr.slice(-3000));
      assert.match(run.mem.stderr, /lost node h2: ssh to h2 failed or its connection went silent/);
      const report = c.readJson<RunReport>('fail/run-report.json');
      assert.deepEqual(
        report.ranks.map((x) => [x.node, x.exitCode === 255 ? 255 : null, x.flags.filter(isLifecycleFlag)]),
        [
          ['h0', null, ['stopped_peer_failed']],
          ['h1', null, ['stopped_peer_failed']],
          ['h2', 255, ['failed', 'connection_lost']],
        ],
      );
      // h2's sshd drops the silent session (ClientAlive), which ends the tied rank's stdin there.
      await assertNothingLeft('after the link went down');
    } finally {
      hosts.linkUp(lost);
      for (const h of hosts.hosts) rmSync(slowFile(h), { force: true });
      writeFileSync(slowFile(hosts.hosts[2]!), `${SLOW_S}\n`);
    }
  });

  it('a host unreachable at plan time fails worker_layer, naming it', async () => {
    const down = hosts.hosts[1]!;
    hosts.linkDown(down);
    try {
      const r = await c.marshal(planArgs('unreachable/plan.json', ['--skip-calibration']));
      assert.equal(r.code, 5, r.stderr);
      const plan = c.readJson<Plan>('unreachable/plan.json');
      const check = plan.pre_flight_checklist.checks.find((x) => x.name === 'worker_layer')!;
      assert.equal(check.status, 'fail');
      assert.match(check.message, /unreachable: h1 \(/);
      assert.doesNotMatch(check.message, /h0|h2/);
      // The fix to try connects the way marshal does: with the cluster's ssh config.
      assert.match(
        check.fix_command ?? '',
        new RegExp(`^ssh -F ${hosts.sshConfig} -o BatchMode=yes .* h1 true$`),
      );
    } finally {
      hosts.linkUp(down);
    }
  });
});
