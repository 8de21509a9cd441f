import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { exitCodeFor, MarshalError } from '../../src/core/errors.ts';
import { spawnProcess } from '../../src/core/process.ts';
import { processStartTime } from '../../src/core/process-identity.ts';
import { metadataPaths, SUPERVISOR_ERRORS, workspaceAt, writeCommand } from '../../src/supervisor/index.ts';
import {
  deadPid,
  FIXTURE_SERVER,
  fixtureInfo,
  fixturePost,
  freePort,
  type Harness,
  harness,
  makeWorkspace,
  pidExists,
  portOpen,
  SYSTEM_PYTHON,
  type TestWorkspace,
  waitFor,
} from './helpers.ts';

let cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups = [];
});

async function setup(
  envs: Parameters<typeof makeWorkspace>[0]['envs'],
  env = 'a',
  extra: Parameters<typeof harness>[3] = {},
) {
  const ws = await makeWorkspace({ envs });
  cleanups.push(() => ws.cleanup());
  const port = await freePort();
  const h = harness(ws.root, env, port, extra);
  cleanups.push(() => h.sup.stop());
  return { ws, port, h };
}

const running = (h: Harness, what = 'running') =>
  h.until(what, (s) => s.state === 'running' && s.childPid !== null);

describe('supervisor', () => {
  test('keeps the child up: running, PID file, supervised env, child answers', async () => {
    const { ws, port, h } = await setup({ a: {} });
    const s = await running(h);
    const info = await fixtureInfo(port);
    assert.equal(info?.pid, s.childPid);
    assert.deepEqual(info?.supervised, {
      COMFYGIT_SUPERVISED: '1',
      MARSHAL_SUPERVISED: '1',
      MARSHAL_WORKSPACE: ws.root,
    });
    // The fixture venv has no torch: ComfyGit's backend detection then adds --cpu.
    assert.deepEqual(info?.argv, ['--cpu', '--port', String(port)]);
    assert.deepEqual(
      { ...s, childPid: 0 },
      {
        running: true,
        pid: process.pid,
        environment: 'a',
        childPid: 0,
        state: 'running',
        restarts: 0,
        switchStatus: null,
      },
    );
    const pidFile = JSON.parse(
      await readFile(`${metadataPaths(ws.root).orchestratorPid}.marshal.json`, 'utf8'),
    );
    assert.equal(pidFile.pid, process.pid);
    await waitFor(
      'pid file names the child',
      async () =>
        JSON.parse(await readFile(`${metadataPaths(ws.root).orchestratorPid}.marshal.json`, 'utf8'))
          .childPid === s.childPid,
    );
    assert.deepEqual(h.phases.slice(0, 2), ['starting', 'running']);
    await h.sup.stop();
    assert.deepEqual(await h.sup.done, { exitCode: 0, state: 'stopped', reason: 'stopped' });
    assert.equal(existsSync(metadataPaths(ws.root).orchestratorPid), false);
    assert.equal(h.sup.status().running, false);
  });

  test('exit 42 restarts the same environment on the same port even when a grandchild held the old socket', async () => {
    const { port, h } = await setup({
      a: { fixtureEnv: { FIXTURE_GRANDCHILD: '1', FIXTURE_GRANDCHILD_INHERIT_SOCKET: '1' } },
    });
    const first = await running(h);
    await fixturePost(port, '/exit?code=42');
    const second = await h.until(
      'restarted',
      (s) => s.state === 'running' && s.restarts === 1 && s.childPid !== first.childPid,
    );
    assert.equal((await fixtureInfo(port))?.pid, second.childPid);
    assert.deepEqual(
      h.eventsOf('child_exited').map((e) => [e.code, e.error]),
      [[42, undefined]],
    );
    assert.ok(h.phases.includes('restarting'));
  });

  test('the sync step runs before the first start and before a 42 restart, not before a crash restart', async () => {
    const syncYaml =
      "sync: { argv: [/usr/bin/python3, -c, \"open('synced', 'a').write('x')\"], timeout: 30 }\n";
    const { ws, port, h } = await setup({ a: { marshalEnvYaml: syncYaml } });
    const synced = () => readFile(join(ws.envDir('a'), 'synced'), 'utf8').catch(() => '');
    await running(h);
    assert.equal(await synced(), 'x');
    await fixturePost(port, '/exit?code=42');
    await h.until('restarted', (s) => s.state === 'running' && s.restarts === 1);
    assert.equal(await synced(), 'xx');
    await fixturePost(port, '/exit?code=9');
    await h.until('restarted after the crash', (s) => s.state === 'running' && s.restarts === 2);
    assert.equal(await synced(), 'xx');
  });

  test('exit 43 without a request restarts the same environment (not a crash, no switch)', async () => {
    const { port, h } = await setup({ a: {} });
    await running(h);
    await fixturePost(port, '/exit?code=43');
    const s = await h.until('restarted', (x) => x.state === 'running' && x.restarts === 1);
    assert.equal(s.environment, 'a');
    assert.equal(s.switchStatus, null);
  });

  test('exit codes keep their meaning during readiness: 42 restarts, 0 stops', async () => {
    const slow = { FIXTURE_NO_LISTEN: '1', FIXTURE_EXIT_AFTER: '0.3' };
    const r = await setup({ a: { fixtureEnv: { ...slow, FIXTURE_EXIT_CODE: '42' } } });
    await r.h.until('restarted before ever being ready', (s) => s.restarts >= 1);
    assert.ok(
      r.h
        .eventsOf('state')
        .some((e) => e.from === 'validating' && e.to === 'syncing' && e.cause === 'child_exited(42)'),
    );
    assert.equal(r.h.eventsOf('readiness').filter((e) => e.ok).length, 0);
    await r.h.sup.stop();
    const z = await setup({ a: { fixtureEnv: { ...slow, FIXTURE_EXIT_CODE: '0' } } });
    const done = await z.h.sup.done;
    assert.equal(done.exitCode, 0);
    assert.match(done.reason, /exited with code 0/);
  });

  test('crash loop: at most maxRestarts restarts after crashes in a row, then crash_loop (exit 4)', async () => {
    const { h } = await setup(
      { a: { fixtureEnv: { FIXTURE_EXIT_AFTER: '0.1', FIXTURE_EXIT_CODE: '3' } } },
      'a',
      { maxRestarts: 2 },
    );
    const done = await h.sup.done;
    assert.deepEqual([done.exitCode, done.state], [4, 'crash_loop']);
    assert.equal(h.eventsOf('child_started').length, 3);
    assert.ok(h.eventsOf('child_exited').every((e) => e.code === 3));
    assert.equal(h.sup.status().state, 'crash_loop');
    assert.equal(h.sup.status().running, false);
    assert.equal(h.sup.status().restarts, 2);
  });

  test('stop leaves no process of the group (grandchild included) and a free port', async () => {
    const { ws, port, h } = await setup({
      a: { fixtureEnv: { FIXTURE_GRANDCHILD: '1', FIXTURE_GRANDCHILD_PIDFILE: 'PIDFILE' } },
    });
    // main.py runs in ComfyUI/: the relative pid file lands there.
    const s = await running(h);
    const grandchild = Number(
      await waitFor('grandchild pid', () => readFile(join(ws.envDir('a'), 'ComfyUI', 'PIDFILE'), 'utf8')),
    );
    assert.ok(pidExists(grandchild));
    await h.sup.stop();
    assert.equal((await h.sup.done).exitCode, 0);
    await waitFor('child and grandchild gone', () => !pidExists(s.childPid ?? 0) && !pidExists(grandchild));
    assert.equal(await portOpen(port), false);
  });

  test('a child ignoring SIGTERM is killed after the grace period', async () => {
    const { h } = await setup({ a: { fixtureEnv: { FIXTURE_IGNORE_SIGTERM: '1' } } }, 'a', { graceMs: 300 });
    const s = await running(h);
    await h.sup.stop();
    assert.deepEqual(
      h.eventsOf('child_exited').map((e) => e.signal),
      ['SIGKILL'],
    );
    await waitFor('child gone', () => !pidExists(s.childPid ?? 0));
  });

  test('.cmd restart and shutdown', async () => {
    const { ws, h } = await setup({ a: {} });
    const first = await running(h);
    await writeCommand(workspaceAt(ws.root), { command: 'restart' });
    await h.until(
      'restarted',
      (s) => s.state === 'running' && s.restarts === 1 && s.childPid !== first.childPid,
    );
    await writeCommand(workspaceAt(ws.root), { command: 'shutdown' });
    assert.equal((await h.sup.done).exitCode, 0);
    assert.ok(h.eventsOf('command').some((e) => e.command === 'shutdown' && e.accepted));
  });

  test('corrupt .cmd and .switch_request.json are reported, removed, and supervision goes on', async () => {
    const { ws, h } = await setup({ a: {} });
    const s = await running(h);
    const p = metadataPaths(ws.root);
    await writeFile(p.cmd, '{"command": "rest');
    await writeFile(p.switchRequest, 'invalid json{');
    await waitFor('both files reported', () => h.eventsOf('protocol_issue').length >= 2);
    assert.deepEqual(
      h
        .eventsOf('protocol_issue')
        .map((e) => e.file)
        .sort(),
      [p.cmd, p.switchRequest].sort(),
    );
    assert.equal(existsSync(p.cmd) || existsSync(p.switchRequest), false);
    assert.deepEqual(h.sup.status(), s);
  });

  test('start-up errors reject done and leave no PID file: broken environment, bad options', async () => {
    const ws = await makeWorkspace({ envs: { a: { broken: 'missing-python' } } });
    cleanups.push(() => ws.cleanup());
    const h = harness(ws.root, 'a', await freePort());
    await assert.rejects(
      h.sup.done,
      (err: unknown) => err instanceof MarshalError && err.code === 'E_ENV_INVALID' && err.exitCode === 2,
    );
    assert.equal(existsSync(metadataPaths(ws.root).orchestratorPid), false);
    assert.deepEqual([h.sup.status().running, h.sup.status().state], [false, 'stopped']);
    await assert.rejects(
      h.sup.switchTo('a'),
      (err: unknown) => err instanceof MarshalError && err.code === 'E_SUPERVISOR_STOPPED',
    );
    assert.throws(
      () => harness(ws.root, 'a', 1, { graceMs: -1 }),
      (err: unknown) =>
        err instanceof MarshalError && err.code === 'E_INVALID_INPUT' && /graceMs/.test(err.message),
    );
    assert.throws(
      () => harness(ws.root, '../a', 1),
      (err: unknown) => err instanceof MarshalError && err.code === 'E_INVALID_INPUT',
    );
  });

  test('a live supervisor for the workspace refuses a second one (E_SUPERVISOR_RUNNING, exit 6)', async () => {
    const { ws, h, port } = await setup({ a: {} });
    await running(h);
    const second = harness(ws.root, 'a', port);
    await assert.rejects(
      second.sup.done,
      (err: unknown) =>
        err instanceof MarshalError && err.code === 'E_SUPERVISOR_RUNNING' && err.exitCode === 6,
    );
    assert.equal(h.sup.status().state, 'running');
    assert.equal(
      JSON.parse(await readFile(`${metadataPaths(ws.root).orchestratorPid}.marshal.json`, 'utf8')).pid,
      process.pid,
    );
    assert.equal(second.sup.status().running, false);
  });

  test('PID reuse in .orchestrator.pid is not mistaken for a live supervisor or its child', async () => {
    const ws = await makeWorkspace({ envs: { a: {} } });
    cleanups.push(() => ws.cleanup());
    const bystander = spawnProcess(['sleep', '60']);
    cleanups.push(() => bystander.stop({ graceMs: 100 }));
    await writeFile(
      metadataPaths(ws.root).orchestratorPid,
      JSON.stringify({
        pid: process.pid,
        processStartTime: (processStartTime(process.pid) ?? 0) + 12345,
        host: hostname(),
        startedAt: new Date().toISOString(),
        childPid: bystander.pid,
        childPgid: bystander.pid,
        childStartTime: (processStartTime(bystander.pid) ?? 0) + 1,
      }),
    );
    const h = harness(ws.root, 'a', await freePort());
    cleanups.push(() => h.sup.stop());
    await running(h);
    assert.ok(pidExists(bystander.pid), 'a process that merely reuses the recorded child pid was killed');
    assert.deepEqual(h.eventsOf('reaped'), []);
  });

  test('the child group of a dead supervisor is reaped at start', async () => {
    const ws = await makeWorkspace({ envs: { a: {} } });
    cleanups.push(() => ws.cleanup());
    const leftover = spawnProcess([SYSTEM_PYTHON, FIXTURE_SERVER, '--port', String(await freePort())], {
      env: { ...process.env, FIXTURE_NO_LISTEN: '1', FIXTURE_GRANDCHILD: '1' },
    });
    cleanups.push(() => leftover.stop({ graceMs: 100 }));
    await waitFor('leftover started', () => processStartTime(leftover.pid) !== undefined);
    await writeFile(
      metadataPaths(ws.root).orchestratorPid,
      JSON.stringify({
        pid: await deadPid(),
        processStartTime: 1,
        host: hostname(),
        startedAt: new Date().toISOString(),
        childPid: leftover.pid,
        childPgid: leftover.pid,
        childStartTime: processStartTime(leftover.pid),
      }),
    );
    const h = harness(ws.root, 'a', await freePort());
    cleanups.push(() => h.sup.stop());
    await running(h);
    assert.deepEqual(
      h.eventsOf('reaped').map((e) => e.pgid),
      [leftover.pid],
    );
    await leftover.exited;
  });

  test('a port held by a stranger at start: bounded wait, then the crash path names the holder', async () => {
    const port = await freePort();
    const stranger: Server = await new Promise((resolve) => {
      const s = createServer();
      s.listen(port, '127.0.0.1', () => resolve(s));
    });
    cleanups.push(async () => stranger.close());
    const ws: TestWorkspace = await makeWorkspace({ envs: { a: {} } });
    cleanups.push(() => ws.cleanup());
    const h = harness(ws.root, 'a', port, { maxRestarts: 0, portFreeTimeoutMs: 300 });
    cleanups.push(() => h.sup.stop());
    const done = await h.sup.done;
    assert.deepEqual([done.exitCode, done.state], [4, 'crash_loop']);
    const [exit] = h.eventsOf('child_exited');
    assert.match(exit?.error ?? '', new RegExp(`port ${port} .*held by pid ${process.pid}`));
    assert.equal(h.eventsOf('child_started').length, 0);
  });

  test('child output and state changes go to supervisor-switch.log as JSONL with control characters neutralised', async () => {
    const { ws, h } = await setup({
      a: { fixtureEnv: { FIXTURE_PRINT: 'hello \u001b[31mred\u001b[0m world' } },
    });
    await running(h);
    await h.sup.stop();
    const lines = (await readFile(metadataPaths(ws.root).switchLog, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(
      lines.every(
        (l) =>
          typeof l.timestamp === 'string' && typeof l.level === 'string' && typeof l.message === 'string',
      ),
    );
    const hello = lines.find((l) => String(l.message).includes('hello'));
    assert.ok(hello, 'child output logged');
    assert.ok(!String(hello.message).includes('\u001b'));
    assert.ok(lines.some((l) => l.type === 'state' && l.to === 'running'));
    assert.ok(lines.some((l) => l.type === 'finished'));
  });

  test('error codes carry their exit codes', () => {
    for (const spec of Object.values(SUPERVISOR_ERRORS)) {
      assert.equal(exitCodeFor(new MarshalError(spec, 'x')), spec.exit);
    }
    assert.equal(exitCodeFor(new MarshalError(SUPERVISOR_ERRORS.E_SWITCH_IN_PROGRESS, 'x')), 6);
    assert.equal(exitCodeFor(new MarshalError(SUPERVISOR_ERRORS.E_NO_WORKSPACE, 'x')), 2);
  });
});
