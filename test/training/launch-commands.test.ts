import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InvalidInputError } from '../../src/core/errors.ts';
import { runCommand } from '../../src/core/run-command.ts';
import {
  type CommandInput,
  launchCommands,
  mpirunHostfiles,
  RANK_PDEATHSIG,
} from '../../src/training/launch/commands.ts';
import { prepareProcesses, writeMpirunHostfiles } from '../../src/training/launch/runner.ts';
import { buildPlan } from '../../src/training/plan.ts';
import type { PlanRank } from '../../src/training/plan-schema.ts';
import { sshRank } from '../helpers/plan-rank.ts';
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

const mpiInput = (ranks: PlanRank[], extra: Partial<CommandInput> = {}): CommandInput => ({
  launcher: 'mpirun',
  master: { addr: '10.0.0.1', port: 29500 },
  script: 'train.py',
  ranks,
  steps: 2,
  chunkSize: null,
  coordinatorUid: 0,
  coordinatorDir: '/c',
  ...extra,
});

describe('mpirun commands', () => {
  it('one Open MPI hostfile per node, [user@]host slots=N, checked as its lexer reads host words', () => {
    const two = { ...sshRank(1, 'gpu2'), rank: 2, local_rank: 1, local_world_size: 2 };
    const local = { ...sshRank(0, 'local'), transport: 'local' as const, node: 'here' };
    const ranks = [
      local,
      sshRank(1, 'alice@gpu1.lab.example'),
      { ...sshRank(1, 'gpu2'), node: 'n2', rank: 2 },
    ];
    assert.deepEqual(mpirunHostfiles(ranks), [
      { name: 'mpi-hostfile.here', text: 'localhost slots=1\n' },
      { name: 'mpi-hostfile.n1', text: 'alice@gpu1.lab.example slots=1\n' },
      { name: 'mpi-hostfile.n2', text: 'gpu2 slots=1\n' },
    ]);
    // Two ranks of one node: one line with both slots.
    assert.deepEqual(mpirunHostfiles([sshRank(1, 'bob@10.0.0.3'), { ...two, host: 'bob@10.0.0.3' }]), [
      { name: 'mpi-hostfile.n1', text: 'bob@10.0.0.3 slots=2\n' },
    ]);
    // Only coordinator ranks: mpirun runs with --host localhost:N, no hostfile.
    assert.deepEqual(mpirunHostfiles([local]), []);
    // hostfile_lex.l: no "." in a user, a dotted name starts with a letter.
    for (const host of ['first.last@gpu1', '_svc@gpu1', '1gpu.lab']) {
      assert.throws(
        () => launchCommands(mpiInput([sshRank(0, host), sshRank(1, 'gpu2')])),
        (e: unknown) =>
          e instanceof InvalidInputError && e.message.includes('nodes.host') && e.message.includes(host),
        host,
      );
    }
  });

  it('each ssh node keeps its own user and its whole host name (real mpirun, recording ssh stand-in)', async () => {
    const ranks = [sshRank(0, 'alice@gpu1.lab.example'), sshRank(1, 'gpu2'), sshRank(2, 'bob@10.0.0.3')];
    const { processes, notes } = launchCommands(mpiInput(ranks));
    const argv = processes[0]!.argv;
    const rshArgs = argv[argv.indexOf('plm_rsh_args') + 1]!;
    assert.doesNotMatch(rshArgs, /(^| )-l /, 'the user comes from each hostfile, not plm_rsh_args');
    const keep = argv.indexOf('orte_keep_fqdn_hostnames');
    assert.deepEqual(argv.slice(keep - 1, keep + 2), ['--mca', 'orte_keep_fqdn_hostnames', '1']);
    assert.ok(!argv.includes('--host'), argv.join(' '));
    const contexts = argv
      .join('\0')
      .split('\0:\0')
      .map((c) => c.split('\0'));
    assert.deepEqual(
      contexts.map((c) => c.slice(c.indexOf('-np'), c.indexOf('-np') + 6)),
      ranks.map((r) => ['-np', '1', '--hostfile', `mpi-hostfile.${r.node}`, '-wdir', r.workdir]),
    );
    assert.ok(!notes.some((n) => /different users|User line/.test(n)), notes.join('\n'));
    assert.ok(
      notes.some((n) => n.includes('mpi-hostfile.<node>')),
      notes.join('\n'),
    );
    // The real mpirun (4.1.4 on Debian 12) with a stand-in for ssh: it records the words it was
    // given (as JSON, no shell), waits until every daemon's call is recorded, then fails. The
    // word after the plm_rsh_args words is the ssh destination Open MPI chose for that node.
    const dir = mkdtempSync(join(tmpdir(), 'marshal-mpirun-user-'));
    try {
      const agent = join(dir, 'agent.py');
      writeFileSync(
        agent,
        [
          '#!/usr/bin/python3',
          'import json, os, sys, time',
          `calls = ${JSON.stringify(join(dir, 'calls.jsonl'))}`,
          'with open(calls, "a") as f:',
          '    f.write(json.dumps(sys.argv[1:]) + "\\n")',
          'for _ in range(600):',
          `    if sum(1 for _ in open(calls)) >= ${ranks.length}: break`,
          '    time.sleep(0.05)',
          'sys.exit(1)',
          '',
        ].join('\n'),
      );
      chmodSync(agent, 0o755);
      for (const f of mpirunHostfiles(ranks)) writeFileSync(join(dir, f.name), f.text);
      const real = argv.map((w, i) => (argv[i - 1] === 'plm_rsh_agent' ? agent : w));
      const r = await runCommand(real, {
        cwd: dir,
        env: process.env,
        timeoutMs: 60_000,
        maxOutputBytes: 1 << 20,
      });
      assert.notEqual(r.code, 0, 'the stand-in ssh fails, so does mpirun');
      const words = rshArgs.split(' ').length;
      const targets = readFileSync(join(dir, 'calls.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as string[]);
      for (const t of targets) assert.deepEqual(t.slice(0, words), rshArgs.split(' '));
      assert.deepEqual(targets.map((t) => t[words]).sort(), [
        'alice@gpu1.lab.example',
        'bob@10.0.0.3',
        'gpu2',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the runner writes each node hostfile next to the plan, 0644', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'marshal-mpi-hostfile-'));
    try {
      const c = cluster([{ name: 'a' }, { name: 'b' }], { launcher: 'mpirun' });
      c.nodes[1] = { ...c.nodes[1]!, host: 'me@gpu2.lab.example', transport: 'ssh' };
      c.master = { addr: '10.0.0.1', port: 29500 };
      const plan = buildPlan(facts({ cluster: c }), { sealKey: TEST_SEAL_KEY, planDir: dir });
      const written = await writeMpirunHostfiles(plan);
      assert.deepEqual(written, [join(dir, 'mpi-hostfile.a'), join(dir, 'mpi-hostfile.b')]);
      assert.equal(readFileSync(written[0]!, 'utf8'), 'localhost slots=1\n');
      assert.equal(readFileSync(written[1]!, 'utf8'), 'me@gpu2.lab.example slots=1\n');
      assert.equal(statSync(written[1]!).mode & 0o777, 0o644);
      const argv = plan.distributed_config.processes[0]!.argv;
      assert.ok(argv.includes('mpi-hostfile.b'), argv.join(' '));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs the ranks mpirun starts on the coordinator under setpriv --pdeathsig KILL', () => {
    const local = { ...sshRank(0, 'local'), transport: 'local' as const };
    const entryArgv = ['/usr/bin/python3', '-m', 'marshal_train', 'train.py'];
    const withSetpriv = launchCommands(mpiInput([local], { coordinatorSetpriv: '/usr/bin/setpriv' }));
    const argv = withSetpriv.processes[0]!.argv;
    assert.equal(argv[0], 'mpirun');
    assert.deepEqual(argv.slice(-8), ['/usr/bin/setpriv', ...RANK_PDEATHSIG, ...entryArgv]);
    // Over ssh only the coordinator's own context gets it (a remote host may have no setpriv).
    const mixed = launchCommands(
      mpiInput([local, sshRank(1, 'gpu2')], { coordinatorSetpriv: '/usr/bin/setpriv' }),
    ).processes[0]!.argv;
    const contexts = mixed.join('\0').split('\0:\0');
    assert.equal(contexts.length, 2);
    assert.ok(contexts[0]!.endsWith(['/usr/bin/setpriv', ...RANK_PDEATHSIG, ...entryArgv].join('\0')));
    assert.ok(!contexts[1]!.includes('setpriv'), contexts[1]);
    const without = launchCommands(mpiInput([local], { coordinatorSetpriv: null }));
    assert.deepEqual(without.processes[0]!.argv.slice(-4), entryArgv);
    assert.ok(without.notes.some((n) => n.includes('may outlive it')));
  });
});
