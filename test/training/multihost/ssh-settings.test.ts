/**
 * The cluster file's multi-host settings without hosts: the `ssh:` section (one ssh_config for
 * every ssh, rsync and mpirun call), each node's `interface` (GLOO_SOCKET_IFNAME), what the sync
 * script receives, and the per-node commands of each launcher.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MarshalError } from '../../../src/core/errors.ts';
import { loadCluster } from '../../../src/training/cluster.ts';
import { launchCommands, mpirunHostfiles } from '../../../src/training/launch/commands.ts';
import type { PlanRank } from '../../../src/training/plan-schema.ts';
import { runSync, syncEnv } from '../../../src/training/sync.ts';
import { DEFAULT_SSH_OPTIONS } from '../../../src/training/transport.ts';
import { sshRank } from '../../helpers/plan-rank.ts';

let dir: string;
const load = (text: string) => {
  writeFileSync(join(dir, 'cluster.yaml'), text);
  return loadCluster('cluster.yaml', { cwd: dir, env: {} });
};
const NODES = [
  'nodes:',
  '  - { name: a, host: ha, workdir: /srv/a, interface: eth1 }',
  '  - { name: b, host: trainer@hb, workdir: /srv/b/, python: /opt/py/bin/python }',
].join('\n');

const rank = (
  i: number,
  node: string,
  host: string,
  workdir: string,
  python = '/usr/bin/python3',
): PlanRank => sshRank(i, host, { node, workdir, python });

describe('multi-host settings', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-ssh-settings-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the ssh section: config resolved against the cluster file, defaults for the rest, on every node', async () => {
    const c = await load(`ssh:\n  config: ssh/config\n  server_alive_interval_s: 2\n${NODES}\n`);
    const ssh = { ...DEFAULT_SSH_OPTIONS, config: join(dir, 'ssh/config'), server_alive_interval_s: 2 };
    assert.deepEqual(c.ssh, ssh);
    assert.deepEqual(
      c.nodes.map((n) => [n.name, n.interface, n.ssh]),
      [
        ['a', 'eth1', ssh],
        ['b', null, ssh],
      ],
    );
    const none = await load(`${NODES}\n`);
    assert.deepEqual(none.ssh, DEFAULT_SSH_OPTIONS);
  });

  it('refuses an ssh config outside the cluster directory, a bad interface name and unknown ssh keys', async () => {
    const escaped = await load(`ssh: { config: ../elsewhere }\n${NODES}\n`).catch((e: unknown) => e);
    assert.ok(escaped instanceof MarshalError && escaped.code === 'E_PATH_ESCAPE', String(escaped));
    assert.match(escaped.message, /ssh\.config/);
    const bad = await load('nodes:\n  - { name: a, host: ha, workdir: /w, interface: "eth0; rm" }\n').catch(
      (e: unknown) => e,
    );
    assert.ok(bad instanceof MarshalError && bad.code === 'E_CONFIG', String(bad));
    assert.match(bad.message, /nodes\.0\.interface|nodes\[0\]\.interface/);
    const unknown = await load(`ssh: { port: 2222 }\n${NODES}\n`).catch((e: unknown) => e);
    assert.ok(unknown instanceof MarshalError && unknown.code === 'E_CONFIG', String(unknown));
    const zero = await load(`ssh: { connect_timeout_s: 0 }\n${NODES}\n`).catch((e: unknown) => e);
    assert.ok(zero instanceof MarshalError && zero.code === 'E_CONFIG', String(zero));
  });

  it('the sync script gets marshal ssh command and one target per node, and can use them', async () => {
    const c = await load(`ssh: { config: ssh_config }\n${NODES}\n  - { name: l, host: local, workdir: . }\n`);
    const env = syncEnv(c);
    assert.equal(
      env.MARSHAL_RSH,
      `ssh -F ${join(dir, 'ssh_config')} -o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=5 -o ServerAliveCountMax=3`,
    );
    assert.equal(env.MARSHAL_SYNC_TARGETS, `ha:/srv/a/\ntrainer@hb:/srv/b/\n${dir}/`);
    writeFileSync(join(dir, 'sync.sh'), '#!/bin/sh\nprintf "%s|%s" "$MARSHAL_RSH" "$MARSHAL_SYNC_TARGETS"\n');
    chmodSync(join(dir, 'sync.sh'), 0o755);
    const withScript = await load(`sync: { script: sync.sh }\nssh: { config: ssh_config }\n${NODES}\n`);
    const fact = await runSync(withScript, { env: { PATH: process.env.PATH } });
    assert.equal(fact.status, 'ok');
    // (the recorded output neutralises control characters: the newline shows as \n)
    assert.equal(fact.status === 'ok' && fact.output, `${env.MARSHAL_RSH}|ha:/srv/a/\\ntrainer@hb:/srv/b/`);
  });

  it('each launcher binds gloo to each node interface; mpirun gets one context and hostfile per node and the ssh options', () => {
    const ranks = [rank(0, 'a', 'ha', '/srv/a'), rank(1, 'b', 'trainer@hb', '/srv/b', '/opt/py/bin/python')];
    const ssh = { ...DEFAULT_SSH_OPTIONS, config: '/c/ssh_config' };
    const input = {
      master: { addr: '10.0.0.1', port: 29500 },
      script: 'train.py',
      ranks,
      steps: 2,
      chunkSize: null,
      coordinatorUid: 0,
      coordinatorDir: '/c',
      interfaces: { a: 'eth1', b: 'ens5' },
      ssh,
    };
    const direct = launchCommands({ ...input, launcher: 'direct' });
    assert.deepEqual(
      direct.processes.map((p) => p.env.GLOO_SOCKET_IFNAME),
      ['eth1', 'ens5'],
    );
    const torch = launchCommands({ ...input, launcher: 'torchrun' });
    assert.deepEqual(
      torch.processes.map((p) => [p.node, p.env.GLOO_SOCKET_IFNAME, p.env.MASTER_ADDR]),
      [
        ['a', 'eth1', '10.0.0.1'],
        ['b', 'ens5', '10.0.0.1'],
      ],
    );
    const mpi = launchCommands({ ...input, launcher: 'mpirun' });
    assert.equal(mpi.processes.length, 1);
    const argv = mpi.processes[0]!.argv;
    assert.deepEqual(argv.slice(0, 6), [
      'mpirun',
      '--allow-run-as-root',
      '--mca',
      'plm_rsh_agent',
      'ssh',
      '--mca',
    ]);
    assert.deepEqual(argv.slice(6, 8), [
      'plm_rsh_args',
      '-F /c/ssh_config -o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=5 -o ServerAliveCountMax=3',
    ]);
    assert.deepEqual(argv.slice(8, 11), ['--mca', 'orte_keep_fqdn_hostnames', '1']);
    const contexts = argv
      .slice(11)
      .join('\0')
      .split('\0:\0')
      .map((ctx) => ctx.split('\0'));
    assert.equal(contexts.length, 2);
    for (const [i, ctx] of contexts.entries()) {
      const expected: Array<[string, string, string, string]> = [
        ['mpi-hostfile.a', '/srv/a', 'GLOO_SOCKET_IFNAME=eth1', '/usr/bin/python3'],
        ['mpi-hostfile.b', '/srv/b', 'GLOO_SOCKET_IFNAME=ens5', '/opt/py/bin/python'],
      ];
      const [hostfile, wdir, ifname, python] = expected[i]!;
      assert.deepEqual(ctx.slice(0, 6), ['-np', '1', '--hostfile', hostfile, '-wdir', wdir]);
      assert.ok(ctx.includes(ifname), ctx.join(' '));
      assert.ok(ctx.includes('MARSHAL_SHARDS') && ctx.includes('MARSHAL_PLAN'), ctx.join(' '));
      assert.equal(ctx[ctx.indexOf(ifname) + 1], python);
    }
    // Each node's own hostfile: b logs in as trainer, a with the ssh default user.
    assert.deepEqual(mpirunHostfiles(ranks), [
      { name: 'mpi-hostfile.a', text: 'ha slots=1\n' },
      { name: 'mpi-hostfile.b', text: 'trainer@hb slots=1\n' },
    ]);
    assert.throws(
      () => launchCommands({ ...input, launcher: 'mpirun', ssh: { ...ssh, config: '/c/my ssh' } }),
      /ssh\.config/,
    );
  });
});
