import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { spawnProcess } from '../../src/core/process.ts';
import type { SupervisorStatus } from '../../src/supervisor/index.ts';
import { fixtureInfo, freePort, harness, makeWorkspace, pidExists, waitFor } from './helpers.ts';

const RUNNER = fileURLToPath(new URL('../fixtures/supervisor/run-supervisor.ts', import.meta.url));

let cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups = [];
});

describe('supervisor process', () => {
  test('SIGKILLed supervisor: its child (own process group) dies with it (pdeathsig); the next supervisor starts cleanly', async () => {
    const ws = await makeWorkspace({
      envs: { a: { fixtureEnv: { FIXTURE_GRANDCHILD: '1', FIXTURE_GRANDCHILD_PIDFILE: 'PIDFILE' } } },
    });
    cleanups.push(() => ws.cleanup());
    const port = await freePort();
    let last: SupervisorStatus | null = null;
    // Without its watchdog (which would stop the grandchild at once; see watchdog.test.ts): this
    // test is about the next supervisor's start-up reaping, the last line of defence.
    const sup = spawnProcess([process.execPath, '--import', 'tsx', RUNNER, ws.root, 'a', String(port)], {
      env: { ...process.env, MARSHAL_WATCHDOG: '0' },
      onStdoutLine: (line) => {
        last = JSON.parse(line) as SupervisorStatus;
      },
    });
    cleanups.push(() => sup.stop({ graceMs: 500 }));
    const info = await waitFor(
      'child serving',
      async () => (last?.state === 'running' ? fixtureInfo(port) : null),
      { timeoutMs: 30_000 },
    );
    const grandchild = Number(
      await waitFor('grandchild pid', () => readFile(join(ws.envDir('a'), 'ComfyUI', 'PIDFILE'), 'utf8')),
    );
    assert.notEqual(info.pgid, sup.pid, 'the child leads its own process group');
    process.kill(sup.pid, 'SIGKILL');
    await sup.exited;
    await waitFor('child gone', () => !pidExists(info.pid));

    // The grandchild outlives both (pdeathsig reaches only the direct child): the next supervisor
    // finds the dead supervisor's PID file and reaps the recorded process group at start.
    const h = harness(ws.root, 'a', port);
    cleanups.push(() => h.sup.stop());
    await h.until('running again', (s) => s.state === 'running');
    assert.deepEqual(
      h.eventsOf('reaped').map((e) => e.pgid),
      [info.pid],
    );
    await waitFor('grandchild reaped', () => !pidExists(grandchild));
  });

  test('SIGTERM to the supervisor stops the child and exits 0', async () => {
    const ws = await makeWorkspace({ envs: { a: {} } });
    cleanups.push(() => ws.cleanup());
    const port = await freePort();
    let last: SupervisorStatus | null = null;
    const sup = spawnProcess([process.execPath, '--import', 'tsx', RUNNER, ws.root, 'a', String(port)], {
      onStdoutLine: (line) => {
        last = JSON.parse(line) as SupervisorStatus;
      },
    });
    cleanups.push(() => sup.stop({ graceMs: 500 }));
    const info = await waitFor(
      'child serving',
      async () => (last?.state === 'running' ? fixtureInfo(port) : null),
      { timeoutMs: 30_000 },
    );
    process.kill(sup.pid, 'SIGTERM');
    assert.equal((await sup.exited).code, 0);
    assert.equal(pidExists(info.pid), false);
  });
});
