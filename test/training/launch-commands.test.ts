import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prepareProcesses } from '../../src/training/launch/runner.ts';
import { buildPlan } from '../../src/training/plan.ts';
import { cluster, facts } from './plan-facts.ts';

describe('launch commands', () => {
  it('an ssh rank runs through ssh -o BatchMode=yes with its env and workdir quoted for the remote shell', () => {
    const c = cluster([{ name: 'a' }, { name: 'b' }]);
    c.nodes[1] = {
      ...c.nodes[1]!,
      host: 'me@gpu2',
      transport: 'ssh',
      workdir: '/srv/my train',
      python: 'python3',
    };
    c.master = { addr: '10.0.0.1', port: 29500 };
    const plan = buildPlan(facts({ cluster: c }), { planDir: '/p' });
    const [local, remote] = prepareProcesses(plan, '/p/plan.json');
    assert.deepEqual(local!.command.argv, ['/usr/bin/python3', 'train.py']);
    assert.equal(local!.command.cwd, '/c/a');
    assert.equal(local!.command.env.MARSHAL_PLAN, '/p/plan.json');
    assert.equal(local!.command.env.GLOO_SOCKET_IFNAME, undefined, 'not loopback: gloo picks the interface');
    const argv = remote!.command.argv;
    assert.deepEqual(argv.slice(0, 5), ['ssh', '-o', 'BatchMode=yes', 'me@gpu2', '--']);
    assert.equal(argv.length, 6);
    assert.ok(argv[5]!.startsWith(`cd '/srv/my train' && exec env MASTER_ADDR=10.0.0.1 MASTER_PORT=29500`));
    assert.match(argv[5]!, / RANK=1 WORLD_SIZE=2 LOCAL_RANK=0 LOCAL_WORLD_SIZE=1 /);
    assert.match(argv[5]!, / MARSHAL_SHARD_START=80000 MARSHAL_SHARD_END=120000 /);
    assert.ok(argv[5]!.endsWith(' MARSHAL_PLAN=/p/plan.json python3 train.py'));
    assert.equal(remote!.command.cwd, undefined);
  });

  it('ranks on one node share it: LOCAL_RANK counts within the node', () => {
    const plan = buildPlan(facts({ cluster: cluster([{ name: 'a', slots: 2 }, { name: 'b' }]) }), {
      planDir: '/p',
    });
    const envs = plan.distributed_config.processes.map((p) => [
      p.env.RANK,
      p.env.LOCAL_RANK,
      p.env.LOCAL_WORLD_SIZE,
    ]);
    assert.deepEqual(envs, [
      ['0', '0', '2'],
      ['1', '1', '2'],
      ['2', '0', '1'],
    ]);
    // alpha's 100 ex/s are split over its two slots: 50/50/50 -> equal thirds.
    assert.deepEqual(
      plan.distributed_config.ranks.map((r) => r.examples),
      [40_000, 40_000, 40_000],
    );
  });
});
