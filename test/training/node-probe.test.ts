/**
 * The node probe imports what the launcher's ranks import: torch, or `mlx.core` for mlx.launch
 * (an MLX node needs no torch). MLX cannot be installed here, so an `mlx/core.py` stand-in in the
 * node's workdir plays the installed package (python -c puts the working directory first on
 * sys.path); everything else is the real probe run by the real python.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ClusterNode } from '../../src/training/cluster.ts';
import { type NodeProbe, probeNode } from '../../src/training/node-probe.ts';
import { preflight } from '../../src/training/preflight.ts';
import { cluster, facts } from './plan-facts.ts';

let dir: string;
const node = (name: string): ClusterNode => ({
  name,
  host: 'local',
  transport: 'local',
  slots: 1,
  python: '/usr/bin/python3',
  workdir: join(dir, name),
});

describe('node probe: the framework the launcher needs', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-probe-'));
    for (const n of ['with-mlx', 'without-mlx']) {
      mkdirSync(join(dir, n));
      writeFileSync(join(dir, n, 'train.py'), 'print("hi")\n');
    }
    mkdirSync(join(dir, 'with-mlx/mlx'));
    writeFileSync(join(dir, 'with-mlx/mlx/__init__.py'), '');
    writeFileSync(join(dir, 'with-mlx/mlx/core.py'), '__version__ = "0.29.1"\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('an mlx node is probed with import mlx.core, not torch', async () => {
    const ok = await probeNode(node('with-mlx'), 'train.py', { env: process.env, framework: 'mlx' });
    assert.equal(ok.status, 'ok');
    assert.equal(ok.status === 'ok' && ok.torch, '0.29.1');
    assert.equal(ok.status === 'ok' && ok.framework, 'mlx');
    const missing = await probeNode(node('without-mlx'), 'train.py', { env: process.env, framework: 'mlx' });
    assert.equal(missing.status === 'ok' && missing.torch, null);
    assert.match(missing.status === 'ok' ? (missing.torchError ?? '') : '', /No module named 'mlx'/);

    // health_check names mlx, passes the node that has it and fails the one that does not.
    const c = cluster([{ name: 'a' }, { name: 'b' }], { launcher: 'mlx' });
    const rename = (p: NodeProbe, name: string): NodeProbe => ({ ...p, node: name });
    const health = (probes: NodeProbe[]) =>
      preflight(facts({ cluster: c, probes })).checks.find((x) => x.name === 'health_check')!;
    const pass = health([rename(ok, 'a'), rename(ok, 'b')]);
    assert.equal(pass.status, 'pass', pass.message);
    assert.match(pass.message, /a: python [\d.]+, mlx 0\.29\.1/);
    const fail = health([rename(ok, 'a'), rename(missing, 'b')]);
    assert.equal(fail.status, 'fail');
    assert.match(fail.message, /^mlx does not import on b/);
  });

  it('a torch node is still probed with import torch', async () => {
    const ok = await probeNode(node('with-mlx'), 'train.py', { env: process.env });
    assert.equal(ok.status === 'ok' && ok.framework, 'torch');
    assert.match(ok.status === 'ok' ? String(ok.torch) : '', /^\d+\.\d+/);
  });
});
