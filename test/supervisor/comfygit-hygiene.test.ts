/**
 * Lock and status hygiene as ComfyGit's panel needs it (facts: comfygit-manager
 * server/api/v2/environments.py switch_environment: `open(.switch.lock, "x")` empty, then the
 * request, then exit 43 ~2 s later; ComfyGitPanel.vue / types/comfygit.ts final states complete,
 * rolled_back, critical_failure; orchestrator.py abort_switch: `aborted`, 2 s, then deleted), and
 * what marshal's own restart/stop write to `.cmd` (comfygit's `cg orch restart` writes
 * `{command, timestamp}`; only the custom node's abort_switch carries `reason: "manual_restart"`).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, symlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { afterEach, describe, test } from 'node:test';
import type { MarshalError } from '../../src/core/errors.ts';
import { metadataPaths, workspaceAt, writeSwitchRequest } from '../../src/supervisor/index.ts';
import { runCli } from './cli-harness.ts';
import { deadPid, fixtureInfo, freePort, type Harness, harness, makeWorkspace } from './helpers.ts';

let cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups = [];
});

async function setup(
  envs: Parameters<typeof makeWorkspace>[0]['envs'],
  before?: (root: string) => Promise<void>,
) {
  const ws = await makeWorkspace({ envs });
  cleanups.push(() => ws.cleanup());
  await before?.(ws.root);
  const port = await freePort();
  const h = harness(ws.root, 'a', port);
  cleanups.push(() => h.sup.stop());
  return { ws, port, h, paths: metadataPaths(ws.root) };
}

const running = (h: Harness, env = 'a') =>
  h.until(`running ${env}`, (s) => s.state === 'running' && s.environment === env && s.childPid !== null);
const readJson = async (path: string) => JSON.parse(await readFile(path, 'utf8'));

describe('switch lock hygiene', () => {
  test("the panel's fresh empty lock is adopted only with its request, never by an API switch", async () => {
    const { h, paths, port } = await setup({ a: {}, b: {} });
    await running(h);
    await writeFile(paths.switchLock, '');
    const err = await h.sup.switchTo('b').then(
      () => assert.fail('the switch should be refused'),
      (e: unknown) => e,
    );
    assert.equal((err as MarshalError).code, 'E_SWITCH_IN_PROGRESS');
    assert.equal(await readFile(paths.switchLock, 'utf8'), '');
    // The panel's request arrives: now the lock is the request's, and the switch goes through.
    await writeSwitchRequest(workspaceAt(paths.dir.replace(/\/\.metadata$/, '')), {
      target_env: 'b',
      source_env: 'a',
    });
    await h.until('complete on b', (s) => s.switchStatus?.state === 'complete' && s.environment === 'b');
    assert.equal((await fixtureInfo(port))?.env, 'b');
  });

  test('on start, a lock whose owner is dead is removed; a fresh empty one stays', async () => {
    const dead = await deadPid();
    const record = {
      pid: dead,
      processStartTime: 1,
      host: hostname(),
      purpose: 'switch to b',
      createdAt: new Date().toISOString(),
    };
    const { h, paths } = await setup({ a: {} }, async (root) => {
      await writeFile(metadataPaths(root).switchLock, JSON.stringify(record));
    });
    await running(h);
    assert.equal(existsSync(paths.switchLock), false);
    assert.ok(h.eventsOf('protocol_issue').some((e) => /stale switch lock \(dead/.test(e.problem)));
    await h.sup.stop();

    await writeFile(paths.switchLock, '');
    const h2 = harness(paths.dir.replace(/\/\.metadata$/, ''), 'a', await freePort());
    cleanups.push(() => h2.sup.stop());
    await running(h2);
    assert.equal(await readFile(paths.switchLock, 'utf8'), '');
  });
});

describe('terminal statuses the panel understands', () => {
  test("a switch interrupted by its supervisor's death: critical_failure unless back on the source", async () => {
    const left = {
      state: 'validating',
      progress: 80,
      message: 'x',
      updated_at: 1,
      target_env: 'b',
      source_env: 'c',
    };
    const { h, paths } = await setup({ a: {}, b: {}, c: {} }, async (root) => {
      await writeFile(metadataPaths(root).switchStatus, JSON.stringify(left));
    });
    await running(h);
    const status = await readJson(paths.switchStatus);
    assert.equal(status.state, 'critical_failure');
    assert.match(status.recovery_command, /--env c/);
  });

  test('complete and aborted are removed before marshal exits, and a leftover one at start', async () => {
    const { h, paths } = await setup({ a: {}, b: {} }, async (root) => {
      const leftover = {
        state: 'aborted',
        progress: 100,
        message: 'x',
        updated_at: 1,
        target_env: 'b',
        source_env: 'a',
      };
      await writeFile(metadataPaths(root).switchStatus, JSON.stringify(leftover));
    });
    await running(h);
    assert.equal(existsSync(paths.switchStatus), false);
    await h.sup.switchTo('b');
    await h.until('complete', (s) => s.switchStatus?.state === 'complete');
    assert.equal((await readJson(paths.switchStatus)).state, 'complete');
    await h.sup.stop();
    assert.equal(existsSync(paths.switchStatus), false);
  });
});

describe("marshal's own restart and stop", () => {
  test('.cmd carries a truthful reason, never ComfyGit\'s "manual_restart"', async () => {
    const ws = await makeWorkspace({ envs: { a: {} } });
    cleanups.push(() => ws.cleanup());
    // A live process stands for the supervisor: no control API, so the client falls back to .cmd.
    const stand = spawn('sleep', ['30'], { stdio: 'ignore' });
    cleanups.push(async () => stand.kill('SIGKILL'));
    const paths = metadataPaths(ws.root);
    await writeFile(paths.orchestratorPid, `${stand.pid}\n`);
    const r = await runCli(['restart', '--workspace', ws.root, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const cmd = await readJson(paths.cmd);
    assert.equal(cmd.command, 'restart');
    assert.equal(cmd.reason, 'marshal restart');
    const s = await runCli(['stop', '--workspace', ws.root, '--timeout', '0.2']);
    assert.equal(s.code, 1);
    const stop = await readJson(paths.cmd);
    assert.deepEqual([stop.command, stop.reason], ['shutdown', 'marshal stop']);
  });
});

describe('PID and lock files at start are untrusted', () => {
  test('a FIFO .orchestrator.pid and .switch.lock, a /dev/zero identity file: reported, removed, start goes on', async () => {
    const { h, paths } = await setup({ a: {} }, async (root) => {
      const p = metadataPaths(root);
      for (const fifo of [p.orchestratorPid, p.switchLock]) {
        const made = spawnSync('mkfifo', [fifo]);
        assert.equal(made.status, 0);
      }
      await symlink('/dev/zero', `${p.orchestratorPid}.marshal.json`);
    });
    await running(h);
    const problems = h.eventsOf('protocol_issue').map((e) => `${e.file}: ${e.problem}`);
    for (const name of ['.orchestrator.pid', '.orchestrator.pid.marshal.json', '.switch.lock']) {
      assert.ok(
        problems.some((p) => p.includes(`${name}:`) && p.includes('(removed)')),
        `${name} reported: ${problems.join(' | ')}`,
      );
    }
    assert.equal((await readFile(paths.orchestratorPid, 'utf8')).trim(), String(process.pid));
    assert.equal(existsSync(paths.switchLock), false);
  });
});
