/**
 * ComfyGit's readiness rule on real child servers: any HTTP status from 200 to 499 means up (a
 * ComfyUI behind a login extension answers 401), and `/` is tried when `/system_stats` fails.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { readSwitchStatus } from '../../src/supervisor/protocol.ts';
import { workspaceAt } from '../../src/supervisor/workspace.ts';
import { freePort, harness, makeWorkspace, waitFor } from './helpers.ts';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe("readiness follows ComfyGit's rule", () => {
  it('a server answering 401 starts and is switched to; a broken /system_stats falls back to /', async () => {
    const ws = await makeWorkspace({
      envs: {
        login: { fixtureEnv: { FIXTURE_LOGIN_WALL: '1' } },
        stats: { fixtureEnv: { FIXTURE_STATS_BROKEN: '1' } },
      },
    });
    cleanups.push(() => ws.cleanup());
    const h = harness(ws.root, 'login', await freePort(), { healthTimeoutMs: 5000 });
    cleanups.push(() => h.sup.stop());
    await h.until('login running', (s) => s.state === 'running' || s.state === 'crash_loop');
    assert.equal(h.sup.status().state, 'running');
    assert.deepEqual(
      h.eventsOf('readiness').map((e) => [e.environment, e.ok]),
      [['login', true]],
    );

    await h.sup.switchTo('stats');
    const done = await waitFor('switch finished', async () => {
      const st = await readSwitchStatus(workspaceAt(ws.root));
      return st && ['complete', 'rolled_back', 'failed', 'critical_failure'].includes(st.state) ? st : null;
    });
    assert.equal(done.state, 'complete', done.message);
    assert.equal(h.sup.status().environment, 'stats');
  });
});
