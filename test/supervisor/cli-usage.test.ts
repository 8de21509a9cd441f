/**
 * The supervisor commands' parsing, usage errors and "nothing runs" answers, through `main()` in
 * this process (no CLI spawned per case). Commands that need real processes stay in cli.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runMain } from '../helpers/run-main.ts';
import { makeWorkspace, type TestWorkspace } from './helpers.ts';

const made: TestWorkspace[] = [];
after(async () => {
  for (const w of made) await w.cleanup();
});

async function workspace(): Promise<TestWorkspace> {
  const w = await makeWorkspace({ envs: { a: {} } });
  made.push(w);
  return w;
}

describe('supervisor commands in-process', () => {
  it('status, stop and restart when nothing runs; --json prints one document', async () => {
    const tw = await workspace();
    const ws = `--workspace=${tw.root}`;
    const status = await runMain(['status', '--json', ws]);
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual(JSON.parse(status.stdout), {
      running: false,
      pid: null,
      environment: null,
      childPid: null,
      state: 'stopped',
      restarts: 0,
      switchStatus: null,
    });
    const stop = await runMain(['stop', ws]);
    assert.equal(stop.code, 0);
    assert.match(stop.stderr, /no supervisor is running/);
    const stopJson = await runMain(['stop', '--json', ws]);
    assert.equal(stopJson.code, 0);
    assert.deepEqual(JSON.parse(stopJson.stdout), { wasRunning: false, pid: null, via: null });
    const restart = await runMain(['restart', ws]);
    assert.equal(restart.code, 1);
    assert.match(restart.stderr, /no supervisor is running/);
    const restartJson = await runMain(['restart', '--json', ws]);
    assert.equal(restartJson.code, 1);
    assert.equal(JSON.parse(restartJson.stdout).error.code, 'E_NO_SUPERVISOR');
  });

  it('validates options and names the bad value', async () => {
    const tw = await workspace();
    const missing = await runMain(['supervise', `--workspace=${tw.root}`]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--env <name> is required/);
    const bad = await runMain(['supervise', `--workspace=${tw.root}`, '--env=a', '--grace=-1']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--grace\b.*-1/);
    const timeout = await runMain(['switch', 'a', `--workspace=${tw.root}`, '--wait', '--timeout=0']);
    assert.equal(timeout.code, 2);
    assert.match(timeout.stderr, /--timeout\b/);
    const unknown = await runMain(['switch', 'nope', `--workspace=${tw.root}`]);
    assert.equal(unknown.code, 2);
  });

  it('supervise --help derives the timing flags, defaults included, from the settings table', async () => {
    const help = await runMain(['supervise', '--help']);
    assert.equal(help.code, 0);
    for (const flag of ['--health-interval', '--health-timeout', '--grace', '--max-restarts', '--backoff'])
      assert.match(help.stdout, new RegExp(`${flag}\\b`));
    assert.match(help.stdout, /readiness bound per start.*180/);
  });

  it('"no workspace found" lists the places tried on real lines', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'marshal-nows-'));
    try {
      const r = await runMain(['status'], { cwd: empty, env: { HOME: empty } });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /no workspace found; looked at:\n {2,}- /);
      assert.doesNotMatch(r.stderr, /\\n/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
