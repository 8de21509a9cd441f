import assert from 'node:assert/strict';
import { existsSync, unlinkSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { MarshalError } from '../../src/core/errors.ts';
import { acquireLock } from '../../src/core/lock-file.ts';
import {
  metadataPaths,
  type SupervisorOptions,
  workspaceAt,
  writeCommand,
  writeSwitchRequest,
} from '../../src/supervisor/index.ts';
import {
  deadPid,
  fixtureInfo,
  fixturePost,
  freePort,
  type Harness,
  harness,
  makeWorkspace,
  pidExists,
  waitFor,
} from './helpers.ts';

type Cleanups = Array<() => Promise<unknown>>;
let cleanups: Cleanups = [];
const runCleanups = async (list: Cleanups) => {
  for (const c of list.reverse()) await c().catch(() => undefined);
};

async function setup(
  envs: Parameters<typeof makeWorkspace>[0]['envs'],
  extra: Partial<SupervisorOptions> = {},
  env = 'a',
  sink?: Cleanups,
) {
  // The default sink is read at call time (afterEach replaces the array).
  const own = sink ?? cleanups;
  const ws = await makeWorkspace({ envs });
  own.push(() => ws.cleanup());
  const port = await freePort();
  const paths = metadataPaths(ws.root);
  /** Whether the lock file existed when each switch status was published. */
  const lockAtStatus: Array<[string, boolean]> = [];
  const h = harness(ws.root, env, port, {
    ...extra,
    onEvent: (e) => {
      if (e.type === 'switch_status') lockAtStatus.push([e.status.state, existsSync(paths.switchLock)]);
      extra.onEvent?.(e);
    },
  });
  own.push(() => h.sup.stop());
  return { ws, port, h, paths, lockAtStatus };
}

const running = (h: Harness, env = 'a') =>
  h.until(`running ${env}`, (s) => s.state === 'running' && s.environment === env && s.childPid !== null);
const states = (h: Harness) => h.eventsOf('switch_status').map((e) => e.status.state);
const terminalWithLock = (log: Array<[string, boolean]>) =>
  log.filter(
    ([st, lock]) => ['complete', 'rolled_back', 'failed', 'critical_failure', 'aborted'].includes(st) && lock,
  );

describe('switch', { concurrency: true }, () => {
  // Mostly waiting (the retention period has a 5 s minimum): it runs beside the others, with its
  // own cleanups; the rest run one at a time.
  test('a terminal status stays readable, then a complete one is removed after the retention period', async (t) => {
    const own: Cleanups = [];
    t.after(() => runCleanups(own));
    const { h, paths } = await setup({ a: {}, b: {} }, { statusRetentionMs: 5000 }, 'a', own);
    await running(h);
    await h.sup.switchTo('b');
    await h.until('complete', (s) => s.switchStatus?.state === 'complete');
    assert.equal(JSON.parse(await readFile(paths.switchStatus, 'utf8')).state, 'complete');
    await h.until('status cleared', (s) => s.switchStatus === null, 30_000);
    assert.equal(existsSync(paths.switchStatus), false);
  });

  // (A nested suite inherits its parent's concurrency: set it back to one.)
  describe('one at a time', { concurrency: 1 }, () => {
    afterEach(async () => {
      const list = cleanups;
      cleanups = [];
      await runCleanups(list);
    });

    test('exit 43 with a request (ComfyGit panel style, empty lock) switches: complete, lock released first', async () => {
      const { port, h, paths, lockAtStatus } = await setup({ a: {}, b: {} });
      const before = await running(h);
      assert.equal(await fixturePost(port, '/switch?target=b&lock=1'), 200);
      const after = await h.until(
        'complete',
        (s) => s.state === 'running' && s.switchStatus?.state === 'complete',
      );
      assert.equal(after.environment, 'b');
      assert.notEqual(after.childPid, before.childPid);
      assert.equal((await fixtureInfo(port))?.env, 'b');
      assert.deepEqual(states(h), ['preparing', 'syncing', 'starting', 'validating', 'complete']);
      assert.deepEqual(terminalWithLock(lockAtStatus), []);
      assert.equal(existsSync(paths.switchLock), false);
      const onDisk = JSON.parse(await readFile(paths.switchStatus, 'utf8'));
      assert.deepEqual(
        { ...onDisk, updated_at: typeof onDisk.updated_at },
        {
          state: 'complete',
          progress: 100,
          message: 'Successfully switched to b',
          updated_at: 'number',
          target_env: 'b',
          source_env: 'a',
          error: null,
        },
      );
      // The source exited 43 by itself within the grace period: it was not killed.
      assert.deepEqual(
        h.eventsOf('child_exited').map((e) => [e.environment, e.code]),
        [['a', 43]],
      );
    });

    test('a request file with an ownerless lock: the child gets the grace period to exit 43, then it is stopped', async () => {
      const { ws, port, h, paths } = await setup({ a: {}, b: {} }, { requestGraceMs: 300 });
      await running(h);
      await writeFile(paths.switchLock, '');
      await writeSwitchRequest(workspaceAt(ws.root), { target_env: 'b', source_env: 'a' });
      await h.until('complete', (s) => s.state === 'running' && s.switchStatus?.state === 'complete');
      assert.equal((await fixtureInfo(port))?.env, 'b');
      assert.deepEqual(
        h.eventsOf('child_exited').map((e) => [e.environment, e.signal]),
        [['a', 'SIGTERM']],
      );
      assert.equal(existsSync(paths.switchLock), false);
    });

    test('switch to a broken environment rolls back: rolled_back and the source healthy again', async () => {
      const { port, h, paths, lockAtStatus } = await setup({ a: {}, b: { broken: 'exit-1' } });
      await running(h);
      await h.sup.switchTo('b');
      const s = await h.until(
        'rolled back',
        (x) => x.state === 'running' && x.switchStatus?.state === 'rolled_back',
      );
      assert.equal(s.environment, 'a');
      assert.equal((await fixtureInfo(port))?.pid, s.childPid);
      assert.deepEqual(states(h), [
        'preparing',
        'syncing',
        'starting',
        'validating',
        'rolling_back',
        'rolled_back',
      ]);
      assert.match(s.switchStatus?.error ?? '', /b exited with code 1/);
      assert.ok(h.phases.includes('switching') && h.phases.includes('rolling_back'));
      assert.equal(existsSync(paths.switchLock), false);
      assert.deepEqual(terminalWithLock(lockAtStatus), []);
    });

    test('a target that cannot start (missing interpreter): refused by switchTo, rolled back when requested by file', async () => {
      const { ws, h } = await setup({ a: {}, b: { broken: 'missing-python' } });
      await running(h);
      await assert.rejects(
        h.sup.switchTo('b'),
        (err: unknown) => err instanceof MarshalError && err.code === 'E_ENV_INVALID',
      );
      await writeSwitchRequest(workspaceAt(ws.root), { target_env: 'b', source_env: 'a' });
      const s = await h.until(
        'rolled back',
        (x) => x.state === 'running' && x.switchStatus?.state === 'rolled_back',
      );
      assert.ok(s.switchStatus?.error?.includes(join(ws.envDir('b'), '.venv', 'bin', 'python')));
      assert.equal(s.environment, 'a');
    });

    test('a failing sync is a failed switch (rolled back), not ignored', async () => {
      const { h } = await setup({ a: {}, b: { marshalEnvYaml: 'sync: { argv: [/bin/false] }\n' } });
      await running(h);
      await h.sup.switchTo('b');
      const s = await h.until(
        'rolled back',
        (x) => x.state === 'running' && x.switchStatus?.state === 'rolled_back',
      );
      assert.match(s.switchStatus?.error ?? '', /sync of b failed: \/bin\/false exited with code 1/);
      assert.deepEqual(states(h), ['preparing', 'syncing', 'rolling_back', 'rolled_back']);
      assert.equal(h.eventsOf('child_started').filter((e) => e.environment === 'b').length, 0);
    });

    test('a sync that outlives its timeout is a failed switch', async () => {
      const { h } = await setup({
        a: {},
        b: { marshalEnvYaml: 'sync: { argv: [sleep, "30"], timeout: 0.3 }\n' },
      });
      await running(h);
      await h.sup.switchTo('b');
      const s = await h.until(
        'rolled back',
        (x) => x.state === 'running' && x.switchStatus?.state === 'rolled_back',
      );
      assert.match(s.switchStatus?.error ?? '', /sync of b failed: timed out after 300 ms/);
    });

    test('rollback failing too ends in critical_failure with a recovery command, then the crash policy', async () => {
      const { ws, h, paths, lockAtStatus } = await setup(
        { a: {}, b: { broken: 'exit-1' } },
        {
          maxRestarts: 0,
          onEvent: (e) => {
            // The source breaks while the switch is under way.
            if (e.type === 'switch_status' && e.status.state === 'syncing')
              unlinkSync(join(ws.envDir('a'), 'ComfyUI', 'main.py'));
          },
        },
      );
      await running(h);
      await h.sup.switchTo('b');
      const done = await h.sup.done;
      assert.deepEqual([done.exitCode, done.state], [4, 'crash_loop']);
      assert.deepEqual(states(h), [
        'preparing',
        'syncing',
        'starting',
        'validating',
        'rolling_back',
        'critical_failure',
      ]);
      const status = JSON.parse(await readFile(paths.switchStatus, 'utf8'));
      assert.equal(status.state, 'critical_failure');
      assert.match(status.error, /b exited with code 1.*rollback: a /);
      assert.equal(typeof status.recovery_command, 'string');
      assert.equal(existsSync(paths.switchLock), false);
      assert.deepEqual(terminalWithLock(lockAtStatus), []);
    });

    test('a second concurrent switch is refused (E_SWITCH_IN_PROGRESS, exit 6)', async () => {
      const { h } = await setup({ a: {}, b: { fixtureEnv: { FIXTURE_STARTUP_DELAY: '1' } } });
      await running(h);
      await h.sup.switchTo('b');
      await assert.rejects(
        h.sup.switchTo('a'),
        (err: unknown) =>
          err instanceof MarshalError && err.code === 'E_SWITCH_IN_PROGRESS' && err.exitCode === 6,
      );
      await h.until('complete', (s) => s.state === 'running' && s.switchStatus?.state === 'complete');
    });

    test('a switch lock held by another live process refuses the switch; bad targets are refused before anything happens', async () => {
      const { h, paths } = await setup({ a: {}, b: {} });
      await running(h);
      const lock = await acquireLock(paths.switchLock, { purpose: 'test' });
      try {
        await assert.rejects(
          h.sup.switchTo('b'),
          (err: unknown) =>
            err instanceof MarshalError &&
            err.code === 'E_SWITCH_IN_PROGRESS' &&
            /held by pid/.test(err.message),
        );
      } finally {
        await lock.release();
      }
      await assert.rejects(
        h.sup.switchTo('../a'),
        (err: unknown) => err instanceof MarshalError && err.code === 'E_INVALID_INPUT',
      );
      await assert.rejects(
        h.sup.switchTo('ghost'),
        (err: unknown) => err instanceof MarshalError && err.code === 'E_ENV_NOT_FOUND',
      );
      assert.equal(h.sup.status().state, 'running');
      assert.deepEqual(states(h), []);
    });

    test('a stale lock left by a dead owner is taken over', async () => {
      const { h, paths } = await setup({ a: {}, b: {} });
      await running(h);
      const at = new Date().toISOString();
      await writeFile(
        paths.switchLock,
        `${JSON.stringify({ pid: await deadPid(), processStartTime: 1, host: hostname(), purpose: 'switch', createdAt: at, heartbeatAt: at })}\n`,
      );
      await h.sup.switchTo('b');
      await h.until(
        'complete',
        (s) => s.state === 'running' && s.switchStatus?.state === 'complete' && s.environment === 'b',
      );
      assert.equal(existsSync(paths.switchLock), false);
    });

    test('a request pending at start (lazy spawn) is adopted with its ownerless empty lock', async () => {
      const ws = await makeWorkspace({ envs: { a: {}, b: {} } });
      cleanups.push(() => ws.cleanup());
      const paths = metadataPaths(ws.root);
      await writeSwitchRequest(workspaceAt(ws.root), { target_env: 'b', source_env: 'a' });
      await writeFile(paths.switchLock, '');
      const h = harness(ws.root, 'a', await freePort());
      cleanups.push(() => h.sup.stop());
      await h.until(
        'complete',
        (s) => s.state === 'running' && s.switchStatus?.state === 'complete' && s.environment === 'b',
      );
      assert.deepEqual(
        h.eventsOf('child_started').map((e) => e.environment),
        ['b'],
      );
      assert.equal(existsSync(paths.switchLock), false);
      assert.equal(existsSync(paths.switchRequest), false);
    });

    test('the target asking for another switch (exit 43) during validation switches on, keeping the rollback source', async () => {
      const { port, h } = await setup({
        a: {},
        b: {
          fixtureEnv: { FIXTURE_NO_LISTEN: '1', FIXTURE_SWITCH_AFTER: '0.3', FIXTURE_SWITCH_TARGET: 'c' },
        },
        c: {},
      });
      await running(h);
      await h.sup.switchTo('b');
      const s = await h.until(
        'complete on c',
        (x) => x.state === 'running' && x.switchStatus?.state === 'complete' && x.environment === 'c',
      );
      assert.equal(s.switchStatus?.source_env, 'a');
      assert.equal((await fixtureInfo(port))?.env, 'c');
    });

    test('abort_switch ends the switch as aborted (lock released), removed before the exit', async () => {
      const { ws, h, paths, lockAtStatus } = await setup({ a: {}, b: { broken: 'no-listen' } });
      await running(h);
      await h.sup.switchTo('b');
      await h.until('validating', (s) => s.switchStatus?.state === 'validating');
      const target = h.sup.status().childPid ?? 0;
      await writeCommand(workspaceAt(ws.root), { command: 'abort_switch' });
      assert.equal((await h.sup.done).exitCode, 0);
      assert.deepEqual(states(h).slice(-1), ['aborted']);
      // ComfyGit shows `aborted` briefly, then deletes it; marshal removes it before it exits.
      assert.equal(existsSync(paths.switchStatus), false);
      assert.equal(existsSync(paths.switchLock), false);
      assert.deepEqual(terminalWithLock(lockAtStatus), []);
      await waitFor('target gone', () => !pidExists(target));
    });

    test('stop during a switch: critical_failure (final for the panel), lock released', async () => {
      const { h, paths } = await setup({ a: {}, b: { fixtureEnv: { FIXTURE_STARTUP_DELAY: '30' } } });
      await running(h);
      await h.sup.switchTo('b');
      await h.until('validating', (s) => s.switchStatus?.state === 'validating');
      await h.sup.stop();
      assert.deepEqual(states(h).slice(-1), ['critical_failure']);
      const status = JSON.parse(await readFile(paths.switchStatus, 'utf8'));
      assert.equal(status.state, 'critical_failure');
      assert.match(status.recovery_command, /main\.py/);
      assert.equal(existsSync(paths.switchLock), false);
    });

    test('a non-terminal status left by a dead supervisor is closed at start (rolled_back: back on the source)', async () => {
      const ws = await makeWorkspace({ envs: { a: {} } });
      cleanups.push(() => ws.cleanup());
      const paths = metadataPaths(ws.root);
      await writeFile(
        paths.switchStatus,
        JSON.stringify({
          state: 'rolling_back',
          progress: 90,
          message: 'x',
          updated_at: 1,
          target_env: 'b',
          source_env: 'a',
          error: null,
        }),
      );
      const h = harness(ws.root, 'a', await freePort());
      cleanups.push(() => h.sup.stop());
      await running(h);
      const status = JSON.parse(await readFile(paths.switchStatus, 'utf8'));
      assert.deepEqual([status.state, status.progress, status.target_env], ['rolled_back', 100, 'b']);
    });
  });
});
