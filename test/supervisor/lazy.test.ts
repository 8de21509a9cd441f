/** Lazy supervision: `marshal switch` with no supervisor running starts one for the target. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cleanupAfter, cliEnv, recordedSupervisorPid, runCli, statusJson } from './cli-harness.ts';
import { fixtureInfo, freePort, makeWorkspace, portOpen, waitFor } from './helpers.ts';

const { workspaces, pids: supervisors } = cleanupAfter();

describe('lazy supervision', () => {
  it('switch --wait with nothing running starts a detached supervisor for the target and completes', async () => {
    const tw = await makeWorkspace({ envs: { a: {}, b: {} } });
    workspaces.push(tw);
    const port = await freePort();
    const r = await runCli([
      'switch',
      'b',
      `--workspace=${tw.root}`,
      '--wait',
      '--json',
      '--',
      '--port',
      String(port),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    supervisors.push(report.supervisorPid);
    assert.equal(report.via, 'lazy');
    assert.equal(report.state, 'complete');
    assert.equal(report.status.target_env, 'b');
    assert.equal(await recordedSupervisorPid(tw.root), report.supervisorPid);
    assert.equal((await fixtureInfo(port))?.env, 'b');
    const s = await statusJson(tw.root);
    assert.equal(s.running, true);
    assert.equal(s.environment, 'b');
    // The lazily started supervisor now takes switches through its API.
    const again = await runCli(['switch', 'a', `--workspace=${tw.root}`, '--wait', '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).via, 'api');
    assert.equal((await fixtureInfo(port))?.env, 'a');
    const stop = await runCli(['stop', `--workspace=${tw.root}`]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(await portOpen(port), false);
  });

  it('a lazy switch to an environment that never comes up ends failed (nothing to roll back to), exit 4', async () => {
    const tw = await makeWorkspace({ envs: { a: {}, dud: { broken: 'exit-1' } } });
    workspaces.push(tw);
    const port = await freePort();
    const r = await runCli([
      'switch',
      'dud',
      `--workspace=${tw.root}`,
      '--wait',
      '--json',
      '--',
      '--port',
      String(port),
    ]);
    assert.equal(r.code, 4, r.stderr);
    const report = JSON.parse(r.stdout);
    supervisors.push(report.supervisorPid);
    assert.equal(report.state, 'failed');
    assert.match(report.status.error, /no source environment/);
    const stop = await runCli(['stop', `--workspace=${tw.root}`]);
    assert.equal(stop.code, 0, stop.stderr);
  });

  it('a supervised process only writes the request, never a second supervisor', async () => {
    const tw = await makeWorkspace({ envs: { a: {}, b: {} } });
    workspaces.push(tw);
    const r = await runCli(
      ['switch', 'b', `--workspace=${tw.root}`, '--wait'],
      cliEnv({ COMFYGIT_SUPERVISED: '1' }),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /acts on it when this server exits 43/);
    const req = JSON.parse(await readFile(join(tw.metadataDir, '.switch_request.json'), 'utf8'));
    assert.equal(req.target_env, 'b');
    assert.equal(typeof req.timestamp, 'number');
    assert.equal(await recordedSupervisorPid(tw.root), undefined);
  });

  it('refuses with exit 6 while the switch lock is held by a live owner', async () => {
    const tw = await makeWorkspace({ envs: { a: {}, b: {} } });
    workspaces.push(tw);
    const { acquireLock } = await import('../../src/core/lock-file.ts');
    const lock = await acquireLock(join(tw.metadataDir, '.switch.lock'), { purpose: 'switch' });
    try {
      const r = await runCli(['switch', 'b', `--workspace=${tw.root}`]);
      assert.equal(r.code, 6, r.stderr);
      assert.match(r.stderr, /in progress/);
      assert.equal(await recordedSupervisorPid(tw.root), undefined);
    } finally {
      await lock.release();
    }
    await waitFor('no stray supervisor', async () => (await recordedSupervisorPid(tw.root)) === undefined);
  });
});
