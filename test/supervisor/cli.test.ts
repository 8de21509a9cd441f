/**
 * End to end through the real CLI (`node bin/marshal.js ...` child processes) in a temporary
 * ComfyGit-layout workspace whose environments run the fixture server as ComfyUI/main.py.
 */
import assert from 'node:assert/strict';
import { appendFile, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readSwitchStatus } from '../../src/supervisor/protocol.ts';
import { workspaceAt } from '../../src/supervisor/workspace.ts';
import {
  cleanupAfter,
  cliEnv,
  FAST,
  liveGroupMembers,
  recordedSupervisorPid,
  runCli,
  signal,
  startCli,
  statusJson,
} from './cli-harness.ts';
import {
  fixtureInfo,
  fixturePost,
  freePort,
  makeWorkspace,
  pidExists,
  portOpen,
  type TestWorkspace,
  waitFor,
} from './helpers.ts';

const { workspaces } = cleanupAfter();

async function workspace(envs: Parameters<typeof makeWorkspace>[0]['envs']): Promise<TestWorkspace> {
  const w = await makeWorkspace({ envs });
  workspaces.push(w);
  return w;
}

describe('marshal supervise / switch / restart / status / logs / stop (e2e)', () => {
  it('keeps a server up, restarts on 42, switches on 43, rolls back a broken switch, refuses a second switch, stops cleanly on SIGTERM', async () => {
    // `slow` does not listen until the test opens its gate (a file in its ComfyUI dir, the cwd):
    // its switch stays under way for as long as the concurrent switch below takes, whatever the
    // load, with no guessed delay.
    const tw = await workspace({
      a: { fixtureEnv: { FIXTURE_GRANDCHILD: '1' } },
      b: {},
      broken: { broken: 'exit-1' },
      slow: { fixtureEnv: { FIXTURE_LISTEN_WHEN: 'listen-gate' } },
    });
    const port = await freePort();
    const ws = `--workspace=${tw.root}`;
    // The readiness bound covers `slow` waiting at its gate while the concurrent switch runs.
    const timing = [...FAST, '--health-timeout=60'];
    const sup = startCli(['supervise', ws, '--env=a', ...timing, '--', '--port', String(port)]);
    try {
      // Kept up: status shows the running child that answers on the port. (Each `status` is a node
      // process: the waits below first wait for the server in-process, then ask `status`.)
      await waitFor('the server answers', () => fixtureInfo(port));
      const first = await waitFor('running', async () => {
        const s = await statusJson(tw.root);
        return s.state === 'running' && s.childPid !== null ? s : null;
      });
      assert.equal(first.running, true);
      assert.equal(first.environment, 'a');
      assert.equal(first.pid, sup.pid);
      assert.equal((await fixtureInfo(port))?.pid, first.childPid);

      // A second supervisor for the same workspace is refused (exit 6), as is a nested one (exit 2).
      const second = await runCli(['supervise', ws, '--env=b']);
      assert.equal(second.code, 6, second.stderr);
      assert.match(second.stderr, /already owns this workspace/);
      const nested = await runCli(['supervise', ws, '--env=b'], cliEnv({ MARSHAL_SUPERVISED: '1' }));
      assert.equal(nested.code, 2, nested.stderr);
      assert.match(nested.stderr, /itself supervised/);

      // The control API wants its token.
      const apiPort = Number((await readFile(join(tw.metadataDir, '.control_port'), 'utf8')).trim());
      const browser = { headers: { origin: 'http://evil.example' } };
      assert.equal((await fetch(`http://127.0.0.1:${apiPort}/status`, browser)).status, 401);
      assert.equal((await fetch(`http://127.0.0.1:${apiPort}/health`)).status, 200);

      // Exit 42: restarted.
      await fixturePost(port, '/exit?code=42');
      await waitFor('a new child answers', async () => {
        const info = await fixtureInfo(port);
        return info !== null && info.pid !== first.childPid;
      });
      const restarted = await waitFor('restart after exit 42', async () => {
        const s = await statusJson(tw.root);
        return s.state === 'running' &&
          s.childPid !== first.childPid &&
          (await fixtureInfo(port))?.pid === s.childPid
          ? s
          : null;
      });
      assert.ok((restarted.restarts ?? 0) >= 1);

      // The child writes .switch_request.json and exits 43: switched to b.
      assert.equal(await fixturePost(port, '/switch?target=b'), 200);
      await waitFor('switch to b via exit 43', async () => (await fixtureInfo(port))?.env === 'b');
      const onB = await statusJson(tw.root);
      assert.equal(onB.environment, 'b');

      // A switch to a broken environment rolls back to b: rolled_back, exit 4.
      const broken = await runCli(['switch', 'broken', ws, '--wait', '--json']);
      assert.equal(broken.code, 4, broken.stderr);
      const brokenReport = JSON.parse(broken.stdout);
      assert.equal(brokenReport.state, 'rolled_back');
      assert.equal(brokenReport.status.target_env, 'broken');
      assert.equal(brokenReport.status.source_env, 'b');
      assert.equal((await fixtureInfo(port))?.env, 'b');

      // A second switch while one is in progress: exit 6; the first one still completes.
      const slow = startCli(['switch', 'slow', ws, '--wait', '--json']);
      await waitFor('slow switch under way (the status file)', async () => {
        const st = await readSwitchStatus(workspaceAt(tw.root));
        return st?.target_env === 'slow' && ['starting', 'validating'].includes(st.state);
      });
      await waitFor('slow switch under way', async () => {
        const s = await statusJson(tw.root);
        return (
          s.switchStatus?.target_env === 'slow' && ['starting', 'validating'].includes(s.switchStatus.state)
        );
      });
      const concurrent = await runCli(['switch', 'a', ws]);
      assert.equal(concurrent.code, 6, concurrent.stderr);
      assert.match(concurrent.stderr, /in progress/);
      await writeFile(join(tw.envDir('slow'), 'ComfyUI', 'listen-gate'), '');
      const slowDone = await slow.exited;
      assert.equal(slowDone.code, 0, slowDone.stderr);
      assert.equal(JSON.parse(slowDone.stdout).state, 'complete');
      assert.equal((await fixtureInfo(port))?.env, 'slow');

      // Unknown environment: exit 2 naming it.
      const unknown = await runCli(['switch', 'nope', ws]);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /"nope" not found/);

      // restart through the CLI.
      const before = (await statusJson(tw.root)).childPid;
      const r = await runCli(['restart', ws]);
      assert.equal(r.code, 0, r.stderr);
      await waitFor('a new child answers', async () => {
        const info = await fixtureInfo(port);
        return info !== null && info.pid !== before;
      });
      await waitFor(
        'restart via CLI',
        async () => {
          const s = await statusJson(tw.root);
          return s.state === 'running' && s.childPid !== before;
        },
        { timeoutMs: 20_000 },
      );

      // logs renders the JSONL log for humans.
      const logs = await runCli(['logs', ws, '-n', '200']);
      assert.equal(logs.code, 0);
      assert.match(logs.stdout, /rolled back to b/);
      assert.doesNotMatch(logs.stdout, /^\{/m);

      // SIGTERM: exit 130 (interrupted), no child, no grandchild, port and control port free,
      // protocol files gone (the lock released).
      const last = await statusJson(tw.root);
      await fixturePost(port, '/switch?target=a');
      await waitFor('a answers', async () => (await fixtureInfo(port))?.env === 'a');
      const onA = await waitFor('back on a (with a grandchild)', async () => {
        const s = await statusJson(tw.root);
        return s.state === 'running' && s.environment === 'a' && (await fixtureInfo(port))?.env === 'a'
          ? s
          : null;
      });
      assert.notEqual(onA.childPid, last.childPid);
      const childPid = onA.childPid!;
      signal(sup.pid, 'SIGTERM');
      const done = await sup.exited;
      assert.equal(done.code, 130, done.stderr);
      assert.equal(pidExists(childPid), false);
      assert.deepEqual(
        await liveGroupMembers(childPid),
        [],
        'the whole child group is gone (grandchild included)',
      );
      assert.equal(await portOpen(port), false);
      assert.equal(await portOpen(apiPort), false);
      assert.equal(await recordedSupervisorPid(tw.root), undefined);
      const after = await statusJson(tw.root);
      assert.equal(after.running, false);
      assert.equal(after.state, 'stopped');
    } catch (err) {
      // The supervisor's own account of what happened, for a failure under load.
      (err as Error).message +=
        `\n--- supervise stderr (tail) ---\n${sup.err().split('\n').slice(-60).join('\n')}`;
      throw err;
    }
  });

  it('ends a crash-looping environment in crash_loop with exit 4', async () => {
    const tw = await workspace({ crashy: { broken: 'exit-1' } });
    const r = await runCli([
      'supervise',
      `--workspace=${tw.root}`,
      '--env=crashy',
      ...FAST,
      '--max-restarts=2',
    ]);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /crash_loop/);
    // Raised as E_CRASH_LOOP: the error line, and with --json the error document's code.
    assert.match(r.stderr, /supervision gave up/);
    const s = await statusJson(tw.root);
    assert.equal(s.running, false);
  });

  it('logs renders, sanitises and follows the JSONL log across rotation until SIGINT', async () => {
    const tw = await workspace({ a: {} });
    const log = join(tw.metadataDir, 'supervisor-switch.log');
    const rec = (message: string, level = 'info') =>
      `${JSON.stringify({ timestamp: new Date().toISOString(), level, message })}\n`;
    await writeFile(log, rec('first line') + rec('evil \u001b[31mred\u001b[0m\nforged line', 'warning'));
    const tail = await runCli(['logs', `--workspace=${tw.root}`, '-n', '1']);
    assert.equal(tail.code, 0);
    assert.doesNotMatch(tail.stdout, /first line/);
    assert.match(tail.stdout, /warning evil \\e\[31mred\\e\[0m\\nforged line/);
    assert.doesNotMatch(tail.stdout, /\u001b/);
    const follow = startCli(['logs', `--workspace=${tw.root}`, '-f', '-n', '0']);
    await waitFor(
      'logs -f started',
      async () => {
        await appendFile(log, rec('probe'));
        return follow.out().includes('probe');
      },
      { timeoutMs: 30_000, intervalMs: 300 },
    );
    await appendFile(log, rec('before rotation'));
    await rename(log, `${log}.1`);
    await writeFile(log, rec('after rotation'));
    await waitFor('lines across the rotation', () =>
      /before rotation[\s\S]*after rotation/.test(follow.out()),
    );
    signal(follow.pid, 'SIGINT');
    const done = await follow.exited;
    assert.equal(done.code, 130, done.stderr);
  });
});
