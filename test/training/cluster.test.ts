import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MarshalError } from '../../src/core/errors.ts';
import { loadCluster, resolveClusterPath } from '../../src/training/cluster.ts';

let dir: string;
const write = (text: string) => writeFileSync(join(dir, 'cluster.yaml'), text);
const load = () => loadCluster('cluster.yaml', { cwd: dir, env: {} });
const code = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof MarshalError, `expected a MarshalError, got ${String(err)}`);
  return err;
};

describe('cluster file', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-cluster-'));
    mkdirSync(join(dir, 'a'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads with defaults and resolves local workdirs against the cluster file', async () => {
    write(
      'nodes:\n  - { name: a, host: local, workdir: a }\n  - { name: r, host: me@gpu1, workdir: /srv/w, slots: 2 }\n',
    );
    const c = await load();
    assert.equal(c.launcher, 'direct');
    assert.deepEqual(c.master, { addr: '127.0.0.1', port: 29500 });
    assert.equal(c.nodes[0]!.workdir, join(dir, 'a'));
    assert.equal(c.nodes[0]!.python, 'python3');
    assert.equal(c.nodes[1]!.transport, 'ssh');
    assert.equal(c.nodes[1]!.slots, 2);
  });

  it('rejects unknown keys, bad launchers and bad ssh destinations, naming key and value', async () => {
    write('nodes:\n  - { name: a, host: local, workdir: a, gpus: 2 }\n');
    assert.match((await code(load())).message, /nodes\[0\]\.gpus/);
    write('launcher: slurm\nnodes:\n  - { name: a, host: local, workdir: a }\n');
    const e = await code(load());
    assert.equal(e.code, 'E_CONFIG');
    assert.match(e.message, /launcher.*slurm/);
    write('nodes:\n  - { name: a, host: "-oProxyCommand=x", workdir: /w }\n');
    assert.match((await code(load())).message, /nodes\[0\]\.host/);
    write('nodes:\n  - { name: a, host: local, workdir: a, slots: 0 }\n');
    assert.match((await code(load())).message, /slots/);
    write('nodes: []\n');
    assert.equal((await code(load())).exitCode, 2);
  });

  it('confines workdirs and the sync script to the cluster dir or allowed_roots', async () => {
    write('nodes:\n  - { name: a, host: local, workdir: ../elsewhere }\n');
    const e = await code(load());
    assert.equal(e.code, 'E_PATH_ESCAPE');
    assert.match(e.message, /nodes\[0\]\.workdir/);
    write('nodes:\n  - { name: a, host: local, workdir: /etc }\n');
    assert.equal((await code(load())).code, 'E_PATH_ESCAPE');
    write(`allowed_roots: [/etc]\nnodes:\n  - { name: a, host: local, workdir: /etc }\n`);
    assert.equal((await load()).nodes[0]!.workdir, '/etc');
    write('sync: { script: ../../sync.sh }\nnodes:\n  - { name: a, host: local, workdir: a }\n');
    assert.match((await code(load())).message, /sync\.script/);
  });

  it('resolves a checkpoint dir that does not exist yet through its nearest parent, and catches symlinks out', async () => {
    assert.equal(await resolveClusterPath(dir, [], 'ckpt/run1', '--checkpoint-dir'), join(dir, 'ckpt/run1'));
    symlinkSync('/tmp', join(dir, 'out-link'));
    const e = await code(resolveClusterPath(dir, [], 'out-link/ckpt', '--checkpoint-dir'));
    assert.equal(e.code, 'E_PATH_ESCAPE');
    assert.match(e.message, /--checkpoint-dir/);
  });
});
