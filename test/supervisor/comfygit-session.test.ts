/**
 * A full ComfyGit session against a real `marshal supervise`, driven only through HTTP and files
 * exactly as ComfyGit's clients do (test/fixtures/supervisor/comfygit-client.py re-states them:
 * `.orchestrator.pid` read with int(), the panel's proxy to the control server without a token
 * or Origin, the observer routes and `.supervisor_control.json`, `cg orch restart` writing `.cmd`,
 * the panel's switch (lock by exclusive create, request, exit 43: the fixture's POST /switch),
 * the custom node's abort protocol, `cg orch kill`). Facts: comfygit-ai/comfygit-manager
 * server/api/v2/orchestrator_proxy.py, server/api/v2/environments.py, server/orchestrator.py,
 * __init__.py; comfygit-ai/comfygit packages/cli/comfygit_cli/utils/orchestrator.py and
 * packages/core/src/comfygit_core/lifecycle/switch_observer.py.
 *
 * One workspace, one session: the steps run in order and each builds on the previous one.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type CliProcess, cleanupAfter, cliEnv, startCli, statusJson } from './cli-harness.ts';
import { canBind, watchdogsOf } from './descendant-helpers.ts';
import {
  fixtureInfo,
  fixturePost,
  freePort,
  makeWorkspace,
  pidExists,
  SYSTEM_PYTHON,
  type TestWorkspace,
  waitFor,
} from './helpers.ts';

const CLIENT = fileURLToPath(new URL('../fixtures/supervisor/comfygit-client.py', import.meta.url));
const run = promisify(execFile);
const { workspaces, pids } = cleanupAfter();

/** Runs one ComfyGit client action; `supervised` runs it as the supervised ComfyUI would. */
async function client<T = Record<string, unknown>>(ws: TestWorkspace, ...args: string[]): Promise<T> {
  const env = cliEnv();
  const { stdout } = await run(SYSTEM_PYTHON, [CLIENT, ws.root, ...args], { env, timeout: 60_000 });
  return JSON.parse(stdout) as T;
}

interface Proxied {
  status: number;
  body: Record<string, unknown> & { state?: string; logs?: unknown[] };
}
const proxy = (ws: TestWorkspace, method: 'GET' | 'POST', path: string) =>
  client<Proxied>(ws, 'proxy', method, path);

/** The switch states seen in `.switch_status.json` (what the panel's /switch_status serves) until `until`. */
async function watchStates(
  ws: TestWorkspace,
  until: (state: string) => boolean,
  timeoutMs = 45_000,
): Promise<string[]> {
  const seen: string[] = [];
  await waitFor(
    `switch states up to a final one (seen: ${seen.join(' ')})`,
    async () => {
      const text = await readFile(join(ws.metadataDir, '.switch_status.json'), 'utf8').catch(() => '');
      let state: string | undefined;
      try {
        state = (JSON.parse(text) as { state?: string }).state;
      } catch {
        state = undefined;
      }
      if (state && seen[seen.length - 1] !== state) seen.push(state);
      return state !== undefined && until(state);
    },
    { timeoutMs, intervalMs: 20 },
  );
  return seen;
}

/** {@link waitFor} bounded generously (a loaded CI machine starts node and python slowly). */
const settle = <T>(what: string, check: () => T | Promise<T>, timeoutMs = 60_000) =>
  waitFor(what, check, { timeoutMs });

const lockFile = (ws: TestWorkspace) => join(ws.metadataDir, '.switch.lock');

describe('a ComfyGit session: panel, proxy, observer and `cg orch` against marshal', () => {
  let ws: TestWorkspace;
  let port: number;
  let sup: CliProcess;
  let child: number;

  before(async () => {
    ws = await makeWorkspace({
      envs: {
        a: {},
        b: {},
        // Exits 1 at once: the switch to it fails its health check and rolls back.
        bad: { broken: 'exit-1' },
        // Never listens (its gate is never opened): a switch to it stays in validating (for the
        // health timeout of 60 s, longer than any step that needs it there).
        slow: { fixtureEnv: { FIXTURE_LISTEN_WHEN: 'never-created' } },
      },
    });
    workspaces.push(ws);
    port = await freePort();
  });

  async function startMarshal(): Promise<void> {
    sup = startCli([
      'supervise',
      `--workspace=${ws.root}`,
      '--env=a',
      '--health-interval=0.05',
      '--health-timeout=60',
      '--grace=1',
      '--backoff=0.05',
      '--',
      '--port',
      String(port),
    ]);
    pids.push(sup.pid);
    // Bounded generously: a loaded CI machine takes a while to start node, python and the probes.
    const s = await waitFor(
      'running',
      async () => {
        const st = await statusJson(ws.root);
        return st.state === 'running' && st.childPid !== null ? st : null;
      },
      { timeoutMs: 60_000 },
    ).catch(async (err: unknown) => {
      const status = await readFile(join(ws.metadataDir, '.switch_status.json'), 'utf8').catch(() => 'none');
      throw new Error(`${String(err)}; marshal stderr:\n${sup.err()}\nswitch status: ${status}`);
    });
    child = s.childPid!;
    await settle('the child answers', async () => (await fixtureInfo(port))?.pid === child);
  }

  test('cg orch status and the panel read .orchestrator.pid as an int: marshal is the orchestrator', async () => {
    await startMarshal();
    const status = await client<{ running: boolean; pid: number | null }>(ws, 'orch-status');
    assert.deepEqual([status.running, status.pid], [true, sup.pid]);
    assert.deepEqual(await client(ws, 'orchestrator-active'), { active: true });
  });

  test("the panel's proxy reaches health, status and the observer routes without a token", async () => {
    const health = await proxy(ws, 'GET', '/health');
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'alive');
    assert.equal(health.body.pid, sup.pid);
    const status = await proxy(ws, 'GET', '/status');
    assert.deepEqual([status.status, status.body.state], [200, 'idle']);
    for (const path of ['/v2/comfygit/switch_status', '/v2/comfygit/supervisor/health']) {
      assert.equal((await proxy(ws, 'GET', path)).status, 200, path);
    }
    for (const path of ['/logs', '/v2/comfygit/switch_logs']) {
      const logs = await proxy(ws, 'GET', path);
      assert.equal(logs.status, 200, path);
      assert.ok(Array.isArray(logs.body.logs), path);
    }
  });

  test('Restart dialog: POST /restart through the proxy restarts ComfyUI', async () => {
    const r = await proxy(ws, 'POST', '/restart');
    // ComfyGit's orchestrator answers 200; the proxy passes the status through and the browser
    // checks response.ok, so any 2xx works for the panel.
    assert.ok(r.status >= 200 && r.status < 300, JSON.stringify(r));
    assert.equal(r.body.status, 'restart_requested');
    const before = child;
    const info = await settle('a new child answers', async () => {
      const i = await fixtureInfo(port);
      return i && i.pid !== before ? i : null;
    });
    child = info.pid;
    assert.equal((await client<{ pid: number }>(ws, 'orch-status')).pid, sup.pid, 'the same orchestrator');
  });

  test('cg orch restart (.cmd) restarts ComfyUI', async () => {
    assert.deepEqual(await client(ws, 'restart'), { written: true });
    const before = child;
    const info = await settle('a new child answers', async () => {
      const i = await fixtureInfo(port);
      return i && i.pid !== before ? i : null;
    });
    child = info.pid;
    await settle('.cmd consumed', () => !existsSync(join(ws.metadataDir, '.cmd')));
  });

  test('the panel switches a -> b: observer advertised, progress to complete, lock released', async () => {
    const states = watchStates(
      ws,
      (s) => s === 'complete' || s === 'rolled_back' || s === 'critical_failure',
    );
    assert.equal(await fixturePost(port, '/switch?target=b&lock=1'), 200);
    const observer = await settle('the observer advertisement', () => client(ws, 'observer'));
    assert.equal(observer.kind, 'manager_orchestrator');
    const seen = await states;
    assert.equal(seen[seen.length - 1], 'complete', `states: ${seen.join(' -> ')}`);
    const info = await settle('b answers', async () => {
      const i = await fixtureInfo(port);
      return i?.env === 'b' ? i : null;
    });
    child = info.pid;
    assert.equal(existsSync(lockFile(ws)), false, 'the lock is released');
    const viaProxy = await proxy(ws, 'GET', '/status');
    assert.ok(['complete', 'idle'].includes(viaProxy.body.state ?? ''), JSON.stringify(viaProxy.body));
  });

  test('the panel switches b -> bad: health fails, rolled_back, b serves again, lock released', async () => {
    await waitFor('complete retired', async () => (await proxy(ws, 'GET', '/status')).body.state === 'idle', {
      timeoutMs: 30_000,
    });
    const states = watchStates(
      ws,
      (s) => s === 'complete' || s === 'rolled_back' || s === 'critical_failure',
    );
    assert.equal(await fixturePost(port, '/switch?target=bad&lock=1'), 200);
    const seen = await states;
    assert.equal(seen[seen.length - 1], 'rolled_back', `states: ${seen.join(' -> ')}`);
    const info = await settle('b answers again', async () => {
      const i = await fixtureInfo(port);
      return i?.env === 'b' ? i : null;
    });
    child = info.pid;
    await settle('the lock is released', () => !existsSync(lockFile(ws)));
  });

  test('abort: a ComfyUI started by hand during a switch sends abort_switch; marshal stops and clears up', async () => {
    await settle('no switch in progress', async () => {
      const s = (await proxy(ws, 'GET', '/status')).body.state;
      return s === 'idle' || s === 'rolled_back';
    });
    const states = watchStates(ws, (s) => s === 'validating' || s === 'starting');
    assert.equal(await fixturePost(port, '/switch?target=slow&lock=1'), 200);
    await states;
    const abort = await client<{ sent: boolean; cleared: boolean }>(ws, 'abort');
    assert.deepEqual([abort.sent, abort.cleared], [true, true]);
    const exit = await sup.exited;
    assert.equal(exit.code, 0, exit.stderr);
    assert.equal(existsSync(lockFile(ws)), false, 'lock removed');
    assert.equal(existsSync(join(ws.metadataDir, '.orchestrator.pid')), false, 'PID file removed');
    assert.equal(
      existsSync(join(ws.metadataDir, '.supervisor_control.json')),
      false,
      'advertisement removed',
    );
    assert.equal(existsSync(join(ws.metadataDir, '.switch_status.json')), false, 'no stale `aborted` status');
    assert.equal(await canBind(port), true, 'no ComfyUI left on the port');
    assert.deepEqual(await client(ws, 'orchestrator-active'), { active: false });
  });

  test('stale lock after SIGKILL: nothing survives, the next marshal clears the lock and the panel can switch again', async () => {
    await startMarshal();
    const states = watchStates(ws, (s) => s === 'validating' || s === 'starting');
    assert.equal(await fixturePost(port, '/switch?target=slow&lock=1'), 200);
    await states;
    assert.equal(existsSync(lockFile(ws)), true);
    const dead = sup.pid;
    process.kill(dead, 'SIGKILL');
    await sup.exited;
    // The watchdog stops what marshal started, then exits.
    await waitFor(
      'no child and no watchdog left',
      async () => watchdogsOf(dead).length === 0 && (await canBind(port)),
      {
        timeoutMs: 30_000,
      },
    );
    const orch = await client<{ running: boolean; pid: number | null }>(ws, 'orch-status');
    assert.deepEqual([orch.running, orch.pid], [false, dead], 'cg orch status: not running (stale PID file)');
    assert.deepEqual(
      await client(ws, 'take-lock'),
      { taken: false },
      'the stale lock still blocks the panel',
    );

    await startMarshal();
    assert.equal(existsSync(lockFile(ws)), false, "the dead owner's lock is removed at start");
    const left = JSON.parse(
      await readFile(join(ws.metadataDir, '.switch_status.json'), 'utf8').catch(() => '{}'),
    );
    assert.ok(
      left.state === undefined || ['rolled_back', 'critical_failure'].includes(left.state),
      `the interrupted switch is closed with a final state: ${JSON.stringify(left)}`,
    );
    assert.deepEqual(await client(ws, 'take-lock'), { taken: true }, 'the panel can take the lock again');
    await import('node:fs/promises').then((fs) => fs.unlink(lockFile(ws)));
  });

  test('cg orch kill: SIGTERM stops marshal, its ComfyUI and its watchdog; its files are gone', async () => {
    const pid = sup.pid;
    const [watchdog] = await settle('the watchdog', () => {
      const w = watchdogsOf(pid);
      return w.length === 1 ? w : null;
    });
    const r = await client<{ killed: boolean; pid: number }>(ws, 'kill');
    assert.deepEqual(r, { killed: true, pid });
    await sup.exited;
    assert.equal(pidExists(child), false);
    await settle('the watchdog exited', () => !pidExists(watchdog!));
    assert.equal(await canBind(port), true);
    assert.equal(existsSync(join(ws.metadataDir, '.orchestrator.pid')), false);
    assert.equal(existsSync(join(ws.metadataDir, '.supervisor_control.json')), false);
  });
});
