/**
 * The watchdog: when marshal itself is SIGKILLed (foreground `supervise`, detached `supervise
 * --detach`, a library supervisor), nothing it started survives (child, its process group, a
 * daemonized helper in another session holding the port), and the watchdog then exits too.
 * A clean stop leaves no watchdog behind either. Runs the built CLI (node scripts/build.mjs).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { spawnProcess } from '../../src/core/process.ts';
import { ownCgroup } from '../../src/supervisor/cgroup.ts';
import { cleanupAfter, cliEnv, FAST, runCli, startCli, waitRunning } from './cli-harness.ts';
import { canBind, daemonWorkspace, readHelper, watchdogsOf } from './descendant-helpers.ts';
import { fixtureInfo, freePort, pidExists, waitFor } from './helpers.ts';

const RUNNER = fileURLToPath(new URL('../fixtures/supervisor/run-supervisor-plain.ts', import.meta.url));
const { workspaces, pids } = cleanupAfter();

/** Leaves of supervisor `pid` still in our cgroup (none when cgroups are not used). */
function leavesOf(pid: number): string[] {
  const own = ownCgroup();
  if ('unavailable' in own) return [];
  return readdirSync(own.dir).filter((n) => n.startsWith(`marshal.${pid}.`));
}

function sessionOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

/**
 * With supervisor `sup` running child `childPid` (whose helper wrote `pidfile`): SIGKILL the
 * supervisor, then the child, the helper and the watchdog are all gone (bounded waits), the port
 * is free and no cgroup leaf is left.
 */
async function killSupervisorAndCheck(
  sup: number,
  childPid: number,
  pidfile: string,
  port: number,
): Promise<void> {
  const helper = await readHelper(pidfile);
  pids.push(helper.pid);
  const [watchdog] = await waitFor('the watchdog', () => {
    const w = watchdogsOf(sup);
    return w.length === 1 ? w : null;
  });
  assert.ok(watchdog);
  assert.equal(sessionOf(watchdog), watchdog, 'the watchdog leads its own session');
  assert.notEqual(helper.sid, childPid, 'the helper left the child session');
  pids.push(watchdog);

  process.kill(sup, 'SIGKILL');
  await waitFor('the supervisor gone', () => !pidExists(sup));
  await waitFor('child and helper gone', () => !pidExists(childPid) && !pidExists(helper.pid), {
    timeoutMs: 30_000,
  });
  await waitFor('the watchdog exited', () => !pidExists(watchdog), { timeoutMs: 30_000 });
  assert.equal(await canBind(port), true, 'the port is free');
  await waitFor('no cgroup leaf left', () => leavesOf(sup).length === 0);
}

describe('watchdog: marshal SIGKILLed leaves nothing behind', () => {
  test('foreground `marshal supervise`', async () => {
    const ws = await daemonWorkspace(['a'], { FIXTURE_DAEMON_IGNORE_TERM: '1' });
    workspaces.push(ws);
    const port = await freePort();
    const sup = startCli([
      'supervise',
      `--workspace=${ws.root}`,
      '--env=a',
      ...FAST,
      '--',
      '--port',
      String(port),
    ]);
    const s = await waitRunning(ws.root);
    await waitFor('the child answers', async () => (await fixtureInfo(port))?.pid === s.childPid);
    await killSupervisorAndCheck(sup.pid, s.childPid!, join(ws.envDir('a'), 'ComfyUI', 'DAEMON'), port);
  });

  test('detached `marshal supervise --detach`', async () => {
    const ws = await daemonWorkspace(['a']);
    workspaces.push(ws);
    const port = await freePort();
    const r = await runCli([
      'supervise',
      `--workspace=${ws.root}`,
      '--env=a',
      '--detach',
      ...FAST,
      '--',
      '--port',
      String(port),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const pid = Number(r.stdout.trim());
    pids.push(pid);
    const s = await waitRunning(ws.root);
    assert.equal(s.pid, pid);
    await killSupervisorAndCheck(pid, s.childPid!, join(ws.envDir('a'), 'ComfyUI', 'DAEMON'), port);
  });

  test('a library supervisor in its own process (no pdeathsig: the watchdog stops the child too)', async () => {
    const ws = await daemonWorkspace(['a']);
    workspaces.push(ws);
    const port = await freePort();
    let last: { state?: string; childPid?: number | null } = {};
    const sup = spawnProcess([process.execPath, '--import', 'tsx', RUNNER, ws.root, 'a', String(port)], {
      onStdoutLine: (line) => {
        last = JSON.parse(line);
      },
    });
    pids.push(sup.pid);
    const childPid = await waitFor('running', () => (last.state === 'running' ? last.childPid : null), {
      timeoutMs: 30_000,
    });
    await killSupervisorAndCheck(sup.pid, childPid, join(ws.envDir('a'), 'ComfyUI', 'DAEMON'), port);
  });

  test('a clean stop: the watchdog exits with the supervisor, and nothing is left', async () => {
    const ws = await daemonWorkspace(['a']);
    workspaces.push(ws);
    const port = await freePort();
    const sup = startCli(
      ['supervise', `--workspace=${ws.root}`, '--env=a', ...FAST, '--', '--port', String(port)],
      cliEnv(),
    );
    const s = await waitRunning(ws.root);
    const helper = await readHelper(join(ws.envDir('a'), 'ComfyUI', 'DAEMON'));
    pids.push(helper.pid);
    const [watchdog] = await waitFor('the watchdog', () => {
      const w = watchdogsOf(sup.pid);
      return w.length === 1 ? w : null;
    });
    const stop = await runCli(['stop', `--workspace=${ws.root}`]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal((await sup.exited).code, 0);
    assert.equal(pidExists(s.childPid!), false);
    assert.equal(pidExists(helper.pid), false);
    await waitFor('the watchdog exited', () => !pidExists(watchdog!));
    assert.equal(await canBind(port), true);
  });
});
