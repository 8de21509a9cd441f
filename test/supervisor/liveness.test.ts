/**
 * The optional liveness probe (kubelet's model): a child that stops answering while running
 * (here: really SIGSTOPped) is restarted after `failureThreshold` failed probes, and the restart
 * is logged with the reason. Off by default (ComfyGit never probes a running ComfyUI).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { loadEnvironment, workspaceAt } from '../../src/supervisor/index.ts';
import { fixtureInfo, freePort, harness, makeWorkspace, pidExists, waitFor } from './helpers.ts';

let cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups = [];
});

const kill = (pid: number, sig: NodeJS.Signals) => {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
};

describe('liveness probe', () => {
  test('off by default: a ComfyGit environment has none', async () => {
    const ws = await makeWorkspace({ envs: { a: {} } });
    cleanups.push(() => ws.cleanup());
    const spec = await loadEnvironment(workspaceAt(ws.root), 'a');
    assert.equal(spec.liveness, undefined);
  });

  test('a SIGSTOPped child is restarted after failureThreshold failed probes, reason logged', async () => {
    const ws = await makeWorkspace({
      envs: {
        a: {
          marshalEnvYaml:
            'liveness: { http: /system_stats, period: 0.1, timeout: 0.3, failureThreshold: 2 }\n',
        },
      },
    });
    cleanups.push(() => ws.cleanup());
    const spec = await loadEnvironment(workspaceAt(ws.root), 'a');
    assert.deepEqual(spec.liveness, {
      check: { kind: 'http', path: '/system_stats' },
      periodMs: 100,
      timeoutMs: 300,
      failureThreshold: 2,
    });
    const port = await freePort();
    const h = harness(ws.root, 'a', port);
    cleanups.push(() => h.sup.stop());
    const first = await h.until('running', (s) => s.state === 'running' && s.childPid !== null);
    const stopped = first.childPid ?? 0;
    cleanups.push(async () => kill(stopped, 'SIGKILL'));
    // Healthy probes keep it running (no restart while it answers).
    await waitFor('a few probes', () => fixtureInfo(port));
    kill(stopped, 'SIGSTOP');
    const next = await h.until(
      'restarted with another child',
      (s) => s.state === 'running' && s.childPid !== null && s.childPid !== stopped,
    );
    assert.notEqual(next.childPid, stopped);
    assert.equal(pidExists(stopped), false);
    const why = h.eventsOf('warning').find((w) => w.message.startsWith('liveness probe of a'));
    assert.ok(why, 'the restart reason is logged');
    assert.match(why.message, /failed 2 times in a row/);
    assert.ok(h.eventsOf('state').some((e) => e.cause === 'liveness_failed'));
    assert.equal((await fixtureInfo(port))?.pid, next.childPid);
  });
});
