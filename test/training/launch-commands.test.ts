import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prepareProcesses } from '../../src/training/launch/runner.ts';
import { buildPlan } from '../../src/training/plan.ts';
import { cluster, facts, TEST_SEAL_KEY } from './plan-facts.ts';

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
    const plan = buildPlan(facts({ cluster: c }), { sealKey: TEST_SEAL_KEY, planDir: '/p' });
    const [local, remote] = prepareProcesses(plan, '/p/plan.json');
    assert.deepEqual(local!.command.argv, ['/usr/bin/python3', '-m', 'marshal_train', 'train.py']);
    assert.equal(local!.command.cwd, '/c/a');
    assert.equal(local!.command.env.MARSHAL_PLAN, '/p/plan.json');
    assert.equal(local!.command.env.GLOO_SOCKET_IFNAME, undefined, 'not loopback: gloo picks the interface');
    const argv = remote!.command.argv;
    const dest = argv.indexOf('me@gpu2');
    assert.deepEqual(argv.slice(0, 3), ['ssh', '-o', 'BatchMode=yes']);
    assert.equal(argv[dest + 1], '--');
    assert.equal(argv.length, dest + 3);
    const remoteCommand = argv.at(-1)!;
    assert.ok(
      remoteCommand.startsWith(`cd '/srv/my train' && exec env MASTER_ADDR=10.0.0.1 MASTER_PORT=29500`),
    );
    assert.match(remoteCommand, / RANK=1 WORLD_SIZE=2 LOCAL_RANK=0 LOCAL_WORLD_SIZE=1 /);
    assert.match(remoteCommand, / MARSHAL_SHARD_START=80000 MARSHAL_SHARD_END=120000 /);
    assert.match(remoteCommand, / MARSHAL_PLAN=\/p\/plan.json /);
    assert.ok(remoteCommand.endsWith(' python3 -m marshal_train train.py'), remoteCommand);
    assert.equal(remote!.command.cwd, undefined);
  });

  it('ranks on one node share it: LOCAL_RANK counts within the node', () => {
    const plan = buildPlan(facts({ cluster: cluster([{ name: 'a', slots: 2 }, { name: 'b' }]) }), {
      sealKey: TEST_SEAL_KEY,
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

  it('every launcher runs the script through python -m marshal_train', () => {
    const two = (launcher: 'torchrun' | 'mpirun' | 'mlx') =>
      buildPlan(facts({ cluster: cluster([{ name: 'a' }, { name: 'b' }], { launcher }) }), {
        sealKey: TEST_SEAL_KEY,
        planDir: '/p',
      }).distributed_config.processes[0]!;
    assert.deepEqual(two('torchrun').argv.slice(-3), ['-m', 'marshal_train', 'train.py']);
    assert.deepEqual(two('mpirun').argv.slice(-4), ['/usr/bin/python3', '-m', 'marshal_train', 'train.py']);
    const mlx = two('mlx');
    // mlx.launch resolves a first word that is a file to `<--python> <abs path>`: `env` keeps the
    // entry's argv intact; --env carries the contract to ssh ranks; --cwd is the node's workdir.
    const dashdash = mlx.argv.indexOf('--');
    assert.deepEqual(mlx.argv.slice(dashdash), [
      '--',
      'env',
      '/usr/bin/python3',
      '-m',
      'marshal_train',
      'train.py',
    ]);
    assert.equal(mlx.argv[mlx.argv.indexOf('--cwd') + 1], '/c/a');
    const envs = mlx.argv.flatMap((w, i) => (mlx.argv[i - 1] === '--env' ? [w] : []));
    assert.ok(envs.includes('MASTER_PORT=29500'), envs.join(' '));
    assert.ok(
      envs.some((e) => e.startsWith('MARSHAL_SHARDS=[[0,80000,')),
      envs.join(' '),
    );
  });
});
