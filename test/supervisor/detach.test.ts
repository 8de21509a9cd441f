/** Detached start: `supervise --detach` and the library's spawnDetached, with real processes. */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MarshalError } from '../../src/core/errors.ts';
import { spawnDetached } from '../../src/supervisor/detach.ts';
import {
  cleanupAfter,
  cliEnv,
  FAST,
  liveGroupMembers,
  recordedSupervisorPid,
  runCli,
  statusJson,
} from './cli-harness.ts';
import { fixtureInfo, freePort, makeWorkspace, pidExists, portOpen, waitFor } from './helpers.ts';

const { workspaces, pids: detachedPids } = cleanupAfter();

describe('detached supervision', () => {
  it('supervise --detach returns once the supervisor is up; stop ends it and its server', async () => {
    const tw = await makeWorkspace({
      envs: { a: { fixtureEnv: { FIXTURE_PRINT: 'hello from the fixture' } } },
    });
    workspaces.push(tw);
    const port = await freePort();
    const r = await runCli([
      'supervise',
      `--workspace=${tw.root}`,
      '--env=a',
      '--detach',
      '--json',
      ...FAST,
      '--',
      '--port',
      String(port),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    detachedPids.push(report.pid);
    assert.equal(report.environment, 'a');
    assert.equal(report.log, join(tw.metadataDir, 'orchestrator.log'));
    assert.equal(await recordedSupervisorPid(tw.root), report.pid);
    // The CLI has exited; the supervisor lives on in its own session. (`status` is a node process
    // per call: wait for the server in-process first.)
    await waitFor('the server answers', () => fixtureInfo(port));
    const running = await waitFor('the detached supervisor runs the server', async () => {
      const s = await statusJson(tw.root);
      return s.state === 'running' && (await fixtureInfo(port))?.pid === s.childPid ? s : null;
    });
    assert.equal(running.pid, report.pid);
    await waitFor('its output in orchestrator.log', async () =>
      (await readFile(report.log, 'utf8')).includes('hello from the fixture'),
    );
    const stop = await runCli(['stop', '--json', `--workspace=${tw.root}`]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.deepEqual(JSON.parse(stop.stdout), { wasRunning: true, pid: report.pid, via: 'api' });
    assert.equal(pidExists(report.pid) && (await recordedSupervisorPid(tw.root)) !== undefined, false);
    assert.deepEqual(await liveGroupMembers(running.childPid!), []);
    assert.equal(await portOpen(port), false);
  });

  it('falls back to .cmd when the control API does not answer', async () => {
    const tw = await makeWorkspace({ envs: { a: {} } });
    workspaces.push(tw);
    const port = await freePort();
    const r = await runCli([
      'supervise',
      `--workspace=${tw.root}`,
      '--env=a',
      '--detach',
      ...FAST,
      '--',
      '--port',
      `${port}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const pid = Number(r.stdout.trim());
    detachedPids.push(pid);
    await waitFor('the server answers', () => fixtureInfo(port));
    await waitFor('running', async () => (await statusJson(tw.root)).state === 'running');
    // Point .control_port at a closed port: restart and stop must still work, through .cmd.
    await writeFile(join(tw.metadataDir, '.control_port'), `${await freePort()}\n`);
    const before = (await statusJson(tw.root)).childPid;
    const restart = await runCli(['restart', '--json', `--workspace=${tw.root}`]);
    assert.equal(restart.code, 0, restart.stderr);
    assert.match(restart.stderr, /via \.cmd/);
    assert.equal(JSON.parse(restart.stdout).via, 'file');
    await waitFor('a new child answers', async () => {
      const info = await fixtureInfo(port);
      return info !== null && info.pid !== before;
    });
    await waitFor('restarted through .cmd', async () => {
      const s = await statusJson(tw.root);
      return s.childPid !== null && s.childPid !== before;
    });
    const stop = await runCli(['stop', `--workspace=${tw.root}`]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stderr, /via \.cmd/);
    assert.equal(await recordedSupervisorPid(tw.root), undefined);
    assert.equal(await portOpen(port), false);
  });

  it('reports a detached process that dies before it is up, with its log tail', async () => {
    const tw = await makeWorkspace({ envs: { a: {} } });
    workspaces.push(tw);
    const logFile = join(tw.metadataDir, 'orchestrator.log');
    await assert.rejects(
      spawnDetached({
        execPath: process.execPath,
        // An invalid option: the CLI prints an error and exits 2 before supervising.
        args: ['supervise', `--workspace=${tw.root}`, '--env=a', '--grace=oops'],
        cwd: tw.root,
        env: cliEnv(),
        logFile,
        isUp: async () => false,
        timeoutMs: 30_000,
      }),
      (err: unknown) => {
        assert.ok(err instanceof MarshalError);
        assert.equal(err.code, 'E_DETACH_FAILED');
        assert.match(err.message, /exited with code 2 before it was up/);
        assert.match(err.message, /--grace must be a number/);
        return true;
      },
    );
  });

  it('terminates a detached process that does not come up in time', async () => {
    const tw = await makeWorkspace({ envs: { a: {} } });
    workspaces.push(tw);
    const port = await freePort();
    let seen: number | undefined;
    await assert.rejects(
      spawnDetached({
        execPath: process.execPath,
        args: ['supervise', `--workspace=${tw.root}`, '--env=a', ...FAST, '--', '--port', String(port)],
        cwd: tw.root,
        env: cliEnv(),
        logFile: join(tw.metadataDir, 'orchestrator.log'),
        isUp: async (pid) => {
          seen = pid;
          return false;
        },
        timeoutMs: 1500,
      }),
      { code: 'E_DETACH_FAILED' },
    );
    assert.ok(seen !== undefined);
    detachedPids.push(seen);
    await waitFor(
      'the stalled supervisor and its server are gone',
      async () => (await liveGroupMembers(seen!)).length === 0 && !(await portOpen(port)),
    );
  });
});
