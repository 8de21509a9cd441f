/**
 * mpirun over real ssh with two ssh users: h0 is reached as root, h1 as a second user this test
 * creates (and removes). The hosts share this machine's accounts and filesystem, so `useradd`
 * makes the user exist on both; the test's sshd accepts the test's key for every user
 * (AuthorizedKeysFile is one file), and the ssh config says `User root`, which a `user@` in the
 * ssh destination overrides. Each rank prints who it runs as and which interfaces it sees (its
 * network namespace, so its host): each context runs on its own node, as that node's user.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { runCommand } from '../../../src/core/run-command.ts';
import { launchCommands, mpirunHostfiles } from '../../../src/training/launch/commands.ts';
import type { PlanRank } from '../../../src/training/plan-schema.ts';
import { DEFAULT_SSH_OPTIONS } from '../../../src/training/transport.ts';
import { leftovers, type NetnsHosts, startNetnsHosts } from '../../helpers/netns-hosts.ts';
import { sshRank } from '../../helpers/plan-rank.ts';
import { multihostSuite } from './suite.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const USER = `mhu${process.pid}`;
const WHO = `import getpass, json, os
print("MARSHAL_WHO " + json.dumps({"rank": int(os.environ["RANK"]), "user": getpass.getuser(),
      "ifaces": sorted(os.listdir("/sys/class/net")), "gloo": os.environ.get("GLOO_SOCKET_IFNAME")}), flush=True)
`;

let hosts: NetnsHosts;
let userMade = false;

const run = (argv: string[]) => {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.error?.message ?? r.stderr}`);
};

multihostSuite('mpirun with a different ssh user per node (network namespaces)', () => {
  before(async () => {
    hosts = await startNetnsHosts(2);
    // The second user must reach the test's key (sshd reads it as that user), its home and h1's workdir.
    chmodSync(hosts.dir, 0o711);
    const home = join(hosts.dir, `${USER}_home`);
    // `-p *`: a password that matches nothing but is not a locked account (sshd refuses `!`).
    run(['useradd', '--no-create-home', '--home-dir', home, '--shell', '/bin/sh', '-p', '*', USER]);
    userMade = true;
    mkdirSync(home);
    run(['chown', USER, home]);
    for (const h of hosts.hosts) {
      copyFileSync(join(ROOT, 'python/marshal_train.py'), join(h.workdir, 'marshal_train.py'));
      writeFileSync(join(h.workdir, 'who.py'), WHO);
    }
  });
  after(async () => {
    await hosts?.teardown();
    if (userMade) run(['userdel', USER]);
    if (hosts) assert.deepEqual(leftovers(hosts), [], 'the harness left something behind');
  });

  it('each application context runs on its node as that node user (one hostfile per node)', async () => {
    const [h0, h1] = hosts.hosts as [(typeof hosts.hosts)[0], (typeof hosts.hosts)[0]];
    const rank = (i: number, host: string, h: typeof h0): PlanRank =>
      sshRank(i, host, { node: h.alias, workdir: h.workdir });
    const ranks = [rank(0, `root@${h0.alias}`, h0), rank(1, `${USER}@${h1.alias}`, h1)];
    const coordinator = join(hosts.dir, 'coordinator');
    mkdirSync(coordinator);
    const { processes } = launchCommands({
      launcher: 'mpirun',
      master: { addr: h0.addr, port: 29_399 },
      script: 'who.py',
      ranks,
      steps: 1,
      chunkSize: null,
      coordinatorUid: 0,
      coordinatorDir: coordinator,
      interfaces: { [h0.alias]: h0.ifname, [h1.alias]: h1.ifname },
      ssh: { ...DEFAULT_SSH_OPTIONS, config: hosts.sshConfig },
    });
    const p = processes[0]!;
    for (const f of mpirunHostfiles(ranks)) writeFileSync(join(coordinator, f.name), f.text);
    const r = await runCommand(p.argv, {
      cwd: p.cwd,
      env: {
        ...process.env,
        ...p.env,
        MARSHAL_PLAN: join(coordinator, 'plan.json'),
        MARSHAL_CHECKPOINT_DIR: '',
        MARSHAL_RESTART_ATTEMPT: '0',
      },
      timeoutMs: 120_000,
      maxOutputBytes: 1 << 20,
    });
    assert.equal(r.code, 0, `${r.stderr.slice(-3000)}\n${r.stdout.slice(-3000)}`);
    const seen = [...r.stdout.matchAll(/^MARSHAL_WHO (.*)$/gm)]
      .map((m) => JSON.parse(m[1]!) as { rank: number; user: string; ifaces: string[]; gloo: string })
      .sort((a, b) => a.rank - b.rank);
    assert.deepEqual(seen, [
      { rank: 0, user: 'root', ifaces: [h0.ifname, 'lo'].sort(), gloo: h0.ifname },
      { rank: 1, user: USER, ifaces: [h1.ifname, 'lo'].sort(), gloo: h1.ifname },
    ]);
  });
});
