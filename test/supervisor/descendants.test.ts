/**
 * No descendant left behind: a child that daemonizes a helper (fork, setsid(), fork, the middle
 * process exits, the helper keeps the listening socket) has that helper stopped with it, on a
 * restart and on a stop, whether the tree is tracked by a cgroup v2 leaf or through /proc.
 * Real processes and ports throughout (test/fixtures/supervisor/daemonizing-server.py).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { spawnProcess } from '../../src/core/process.ts';
import { CgroupLeaf, ownCgroup, removeStaleLeaves } from '../../src/supervisor/cgroup.ts';
import { ChildTree, TREE_COOKIE_VAR } from '../../src/supervisor/descendants.ts';
import { canBind, DAEMON_FIXTURE, daemonWorkspace, readHelper, watchdogsOf } from './descendant-helpers.ts';
import {
  deadPid,
  fixtureInfo,
  fixturePost,
  freePort,
  harness,
  pidExists,
  SYSTEM_PYTHON,
  waitFor,
} from './helpers.ts';

let cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups = [];
});

/** Kills `pid` if a test failed half-way (the helper survives its parents by design). */
function killLater(pid: number): void {
  cleanups.push(async () => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone: the test passed
    }
  });
}

/** Leaves this process created that still exist. */
function ourLeaves(): string[] {
  const own = ownCgroup();
  if ('unavailable' in own) return [];
  return readdirSync(own.dir).filter((n) => n.startsWith(`marshal.${process.pid}.`));
}

function cgroupOf(pid: number): string {
  return (
    readFileSync(`/proc/${pid}/cgroup`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'))
      ?.slice(3) ?? ''
  );
}

describe('child trees (descendants.ts, cgroup.ts)', () => {
  for (const cgroup of [true, false]) {
    test(`${cgroup ? 'cgroup leaf where writable' : '/proc only'}: a double-forked setsid() helper is a member and stops with the child`, async () => {
      const tree = ChildTree.create('t-basic', { cgroup });
      const pidfile = join(
        await import('node:os').then((o) => o.tmpdir()),
        `marshal-daemon-${process.pid}-${cgroup}`,
      );
      const child = spawnProcess([SYSTEM_PYTHON, DAEMON_FIXTURE, '--port', '0'], {
        env: {
          ...process.env,
          ...tree.env(),
          FIXTURE_DAEMON_PIDFILE: pidfile,
          FIXTURE_DAEMON_IGNORE_TERM: '1',
        },
        around: tree.around,
      });
      tree.attach(child.pid, null);
      cleanups.push(() => child.stop({ graceMs: 100 }));
      const helper = await readHelper(pidfile);
      killLater(helper.pid);
      assert.notEqual(helper.sid, child.pid, 'the helper left the child session');
      assert.equal(helper.sid, helper.pgid, 'the helper leads its own session and group');
      if (cgroup) {
        const own = ownCgroup();
        if (tree.mode === 'cgroup') {
          // Born in the leaf (we moved ourselves in around the fork and back out).
          assert.equal(cgroupOf(helper.pid), cgroupOf(child.pid));
          assert.match(cgroupOf(child.pid), /\/marshal\.\d+\.t-basic$/);
          assert.notEqual(cgroupOf(process.pid), cgroupOf(child.pid), 'we are back in our own cgroup');
        } else {
          // No writable cgroup v2 here (CI): the reason is reported and /proc takes over.
          assert.ok(tree.fallbackReason, `fallback without a reason (own cgroup: ${JSON.stringify(own)})`);
        }
      } else {
        assert.equal(tree.mode, 'proc');
        assert.equal(
          readFileSync(`/proc/${helper.pid}/environ`, 'utf8').includes(`${TREE_COOKIE_VAR}=${tree.cookie}`),
          true,
        );
      }
      assert.ok(tree.members().includes(helper.pid), 'the helper is a member');
      // It ignores SIGTERM: the stop escalates to SIGKILL for it.
      const { forced } = await tree.terminate({ graceMs: 300, leaderExited: child.exited });
      assert.equal(forced, true);
      assert.equal(pidExists(child.pid), false);
      assert.equal(pidExists(helper.pid), false, 'the daemonized helper is gone');
      assert.equal(tree.dispose(), true);
      assert.deepEqual(ourLeaves(), []);
    });
  }

  test('cgroup leaf: a helper that also wipes its environment is still found (the kernel records it)', async () => {
    const tree = ChildTree.create('t-noenv', { cgroup: true });
    const pidfile = join((await import('node:os')).tmpdir(), `marshal-daemon-${process.pid}-noenv`);
    const child = spawnProcess([SYSTEM_PYTHON, DAEMON_FIXTURE, '--port', '0'], {
      env: { ...process.env, ...tree.env(), FIXTURE_DAEMON_PIDFILE: pidfile, FIXTURE_DAEMON_CLEAR_ENV: '1' },
      around: tree.around,
    });
    tree.attach(child.pid, null);
    cleanups.push(() => child.stop({ graceMs: 100 }));
    const helper = await readHelper(pidfile);
    killLater(helper.pid);
    await waitFor('the helper re-executed with an empty environment', () => {
      const env = readFileSync(`/proc/${helper.pid}/environ`);
      return env.length === 0;
    });
    if (tree.mode === 'cgroup') {
      assert.ok(tree.members().includes(helper.pid));
      await tree.terminate({ graceMs: 300, leaderExited: child.exited });
      assert.equal(pidExists(helper.pid), false);
    } else {
      // Without a cgroup this helper is the documented gap: reported, not hidden.
      assert.ok(tree.fallbackReason);
      process.kill(helper.pid, 'SIGKILL');
    }
    tree.dispose();
  });

  test('a leaf of a supervisor that is gone is removed when empty; a populated one stays', async () => {
    const own = ownCgroup();
    const probe = CgroupLeaf.create('t-probe');
    if ('unavailable' in own || 'unavailable' in probe) {
      assert.ok('unavailable' in probe && probe.unavailable.length > 0, 'the reason is given');
      return;
    }
    probe.remove();
    // In a private parent, so that the sweep of another supervisor on this machine cannot race us.
    const parent = join(own.dir, `marshal-test-${process.pid}`);
    mkdirSync(parent);
    const gone = await deadPid();
    const empty = join(parent, `marshal.${gone}.empty`);
    const busy = join(parent, `marshal.${gone}.busy`);
    mkdirSync(empty);
    mkdirSync(busy);
    const sleeper = spawnProcess(['sleep', '30']);
    cleanups.push(async () => {
      await sleeper.stop({ graceMs: 100 });
      rmdirSync(busy);
      rmdirSync(parent);
    });
    writeFileSync(join(busy, 'cgroup.procs'), String(sleeper.pid));
    removeStaleLeaves(parent);
    assert.equal(existsSync(empty), false, 'the empty stale leaf is removed');
    assert.equal(existsSync(busy), true, 'a populated one stays');
  });
});

describe('supervisor: no descendant left behind', () => {
  for (const tracking of ['auto', 'proc'] as const) {
    test(`(${tracking}) restart (exit 42) and stop: the daemonized helper holding the port goes with the child; the new child binds the port`, async () => {
      const ws = await daemonWorkspace(['a']);
      cleanups.push(() => ws.cleanup());
      const port = await freePort();
      const baseEnv = { ...process.env, ...(tracking === 'proc' ? { MARSHAL_TREE_TRACKING: 'proc' } : {}) };
      const h = harness(ws.root, 'a', port, { baseEnv });
      cleanups.push(() => h.sup.stop());
      const pidfile = join(ws.envDir('a'), 'ComfyUI', 'DAEMON');

      const first = await h.until('running', (s) => s.state === 'running' && s.childPid !== null);
      const helper1 = await readHelper(pidfile);
      killLater(helper1.pid);
      assert.notEqual(helper1.sid, first.childPid, 'the helper runs in its own session');
      assert.equal((await fixtureInfo(port))?.pid, first.childPid);

      // Restart: ComfyUI exits 42; its helper still holds the listening socket.
      assert.equal(await fixturePost(port, '/exit?code=42'), 200);
      const second = await h.until(
        'running again with a new child',
        (s) => s.state === 'running' && s.childPid !== null && s.childPid !== first.childPid,
      );
      const info = await waitFor('the new child answers', async () => {
        const i = await fixtureInfo(port);
        return i?.pid === second.childPid ? i : null;
      });
      assert.equal(info.port, port, 'the new child bound the same port');
      assert.equal(pidExists(helper1.pid), false, 'the old helper is gone');
      assert.equal(h.eventsOf('child_started').length, 2, 'no failed start in between');
      const helper2 = await readHelper(pidfile, helper1.pid);
      killLater(helper2.pid);

      await h.sup.stop();
      assert.equal(pidExists(second.childPid ?? 0), false);
      assert.equal(pidExists(helper2.pid), false, 'stop leaves no helper behind');
      assert.equal(await canBind(port), true, 'the port is free');
      assert.deepEqual(ourLeaves(), [], 'no cgroup leaf left');
      await waitFor('the watchdog exited', () => watchdogsOf(process.pid).length === 0);
    });
  }
});
