/**
 * ComfyGit's orchestrator_config.json and start semantics (facts: comfygit-manager
 * server/orchestrator.py DEFAULT_CONFIG, load_workspace_config, _start_comfyui,
 * _handle_crash_for_recovery, _get_comfyui_backend_flags; comfygit cli.py `-e/--env` + `sync`).
 * Real supervisors, real fixture servers, a fake `cg` executable on PATH recording its argv.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { MarshalError } from '../../src/core/errors.ts';
import { backendFlagsFor, installedTorchVersion } from '../../src/supervisor/comfygit-start.ts';
import { type SupervisorEventRecord, serveSupervisor, workspaceAt } from '../../src/supervisor/index.ts';
import {
  COMFYGIT_DEFAULT_CONFIG,
  loadOrchestratorConfig,
  optionsFromOrchestratorConfig,
} from '../../src/supervisor/orchestrator-config.ts';
import {
  FAST,
  FIXTURE_SERVER,
  fixtureInfo,
  fixturePost,
  freePort,
  harness,
  makeWorkspace,
  SYSTEM_PYTHON,
  waitFor,
} from './helpers.ts';

let cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups = [];
});

async function workspace(envs: Parameters<typeof makeWorkspace>[0]['envs']) {
  const ws = await makeWorkspace({ envs });
  cleanups.push(() => ws.cleanup());
  return ws;
}

const configPath = (metadataDir: string) => join(metadataDir, 'orchestrator_config.json');
const writeConfig = (metadataDir: string, value: unknown) =>
  writeFile(configPath(metadataDir), typeof value === 'string' ? value : JSON.stringify(value));

/** A main.py that exits 3 when started with `--bad-flag`, else runs the fixture. */
async function crashOnFlag(envDir: string): Promise<void> {
  await writeFile(
    join(envDir, 'ComfyUI', 'main.py'),
    [
      'import runpy, sys',
      "if '--bad-flag' in sys.argv: sys.exit(3)",
      `sys.argv[0] = ${JSON.stringify(FIXTURE_SERVER)}`,
      `runpy.run_path(${JSON.stringify(FIXTURE_SERVER)}, run_name="__main__")`,
      '',
    ].join('\n'),
  );
}

/** A fake `cg` on a private PATH directory: appends its argv (JSON) to the returned log file. */
async function fakeCg(): Promise<{ dir: string; log: string; calls(): Promise<string[][]> }> {
  const dir = await mkdtemp(join(tmpdir(), 'marshal-cg-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const log = join(dir, 'calls.jsonl');
  await writeFile(
    join(dir, 'cg'),
    `#!${SYSTEM_PYTHON}\nimport json, sys\nopen(${JSON.stringify(log)}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n`,
  );
  await chmod(join(dir, 'cg'), 0o755);
  return {
    dir,
    log,
    calls: async () =>
      (await readFile(log, 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as string[]),
  };
}

/** serveSupervisor in the background with fast timings; events recorded. */
function serve(root: string, port: number, extra: Partial<Parameters<typeof serveSupervisor>[0]> = {}) {
  const events: SupervisorEventRecord[] = [];
  const ac = new AbortController();
  const { backoffMs: _b, backoffCapMs: _c, ...fast } = FAST;
  const done = serveSupervisor({
    workspace: workspaceAt(root),
    env: 'a',
    serverArgs: ['--port', String(port)],
    baseEnv: { PATH: '/usr/bin:/bin' },
    signal: ac.signal,
    ...fast,
    ...extra,
    onEvent: (e) => events.push(e),
  });
  done.catch(() => undefined);
  cleanups.push(async () => {
    ac.abort();
    await done.catch(() => undefined);
  });
  return { done, events, stop: () => ac.abort() };
}

describe('orchestrator_config.json', () => {
  test('created with ComfyGit defaults when missing; extra_args and control_port_range honoured', async () => {
    const ws = await workspace({ a: {} });
    const port = await freePort();
    const controlPort = await freePort();
    const first = serve(ws.root, port);
    await waitFor('the child answers', () => fixtureInfo(port));
    assert.deepEqual(JSON.parse(await readFile(configPath(ws.metadataDir), 'utf8')), COMFYGIT_DEFAULT_CONFIG);
    first.stop();
    await first.done;

    await writeConfig(ws.metadataDir, {
      orchestrator: { control_port_range: [controlPort, controlPort] },
      comfyui: { extra_args: ['--preview-method', 'auto'] },
    });
    const second = serve(ws.root, port);
    const info = await waitFor('the child answers', () => fixtureInfo(port));
    // ComfyGit's order: backend flag, extra args, then the server args (which win).
    assert.deepEqual(info.argv, ['--cpu', '--preview-method', 'auto', '--port', String(port)]);
    await waitFor('.control_port', () => existsSync(join(ws.metadataDir, '.control_port')));
    assert.equal((await readFile(join(ws.metadataDir, '.control_port'), 'utf8')).trim(), String(controlPort));
    second.stop();
    await second.done;
  });

  test('enable_control_server false: no control API, no .control_port', async () => {
    const ws = await workspace({ a: {} });
    const port = await freePort();
    await writeConfig(ws.metadataDir, { orchestrator: { enable_control_server: false } });
    const apis: unknown[] = [];
    const s = serve(ws.root, port, { onControlApi: (api) => apis.push(api) });
    await waitFor('the child answers', () => fixtureInfo(port));
    assert.equal(existsSync(join(ws.metadataDir, '.control_port')), false);
    assert.equal(existsSync(join(ws.metadataDir, '.supervisor_control.json')), false);
    assert.deepEqual(
      apis.map((a) => (a as { ok: boolean }).ok),
      [false],
    );
    s.stop();
    await s.done;
  });

  test('a bad value is E_CONFIG naming the key and the value (exit 2); nothing starts', async () => {
    const ws = await workspace({ a: {} });
    for (const [config, key, shown] of [
      [{ orchestrator: { crash_retry_max: 'three' } }, 'orchestrator.crash_retry_max', '"three"'],
      [{ comfyui: { extra_args: '--cpu' } }, 'comfyui.extra_args', '"--cpu"'],
      [
        { orchestrator: { control_port_range: [5100, 5050] } },
        'orchestrator.control_port_range',
        '[5100,5050]',
      ],
      [{ orchestrator: 'off' }, 'orchestrator', '"off"'],
    ] as const) {
      await writeConfig(ws.metadataDir, config);
      const s = serve(ws.root, await freePort());
      const err = await s.done.then(
        () => assert.fail('should not start'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof MarshalError);
      assert.equal(err.code, 'E_CONFIG');
      assert.equal(err.exitCode, 2);
      assert.ok(err.message.includes(key), err.message);
      assert.ok(err.message.includes(shown), err.message);
      assert.equal(existsSync(join(ws.metadataDir, '.orchestrator.pid')), false);
    }
  });

  test('not JSON or a symlink: ComfyGit falls back to the defaults (warning; file left alone)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'marshal-cfg-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(configPath(dir), 'invalid json{');
    const notJson = await loadOrchestratorConfig(dir, { create: true });
    assert.equal(notJson.origin, 'defaults');
    assert.match(notJson.warning ?? '', /not valid JSON/);
    assert.equal(await readFile(configPath(dir), 'utf8'), 'invalid json{');
    await rm(configPath(dir));
    await symlink('/dev/zero', configPath(dir));
    const link = await loadOrchestratorConfig(dir, { create: true });
    assert.equal(link.origin, 'defaults');
    assert.match(link.warning ?? '', /symbolic link/);
    assert.equal(link.config.crashRetryMax, 3);
  });

  test('health_check_timeout_s and crash_retry_* become the supervisor settings unless given', () => {
    const cfg = {
      controlPortRange: { from: 5050, to: 5100 },
      enableControlServer: true,
      healthCheckTimeoutMs: 7000,
      syncTimeoutMs: 9000,
      crashRetryMax: 2,
      crashRetryDelayMs: 4000,
      extraArgs: [],
    };
    assert.deepEqual(optionsFromOrchestratorConfig(cfg, {}), {
      healthTimeoutMs: 7000,
      maxRestarts: 2,
      backoffMs: 4000,
      backoffCapMs: 4000,
      syncTimeoutMs: 9000,
    });
    assert.deepEqual(
      optionsFromOrchestratorConfig(cfg, { healthTimeoutMs: 1, maxRestarts: 9, backoffMs: 5 }),
      {
        healthTimeoutMs: 1,
        maxRestarts: 9,
        syncTimeoutMs: 9000,
      },
    );
  });

  test('crash_retry_max / crash_retry_delay_s: the retries ComfyGit allows, then crash_loop', async () => {
    const ws = await workspace({ a: { broken: 'exit-1' } });
    await writeConfig(ws.metadataDir, { orchestrator: { crash_retry_max: 1, crash_retry_delay_s: 0 } });
    const s = serve(ws.root, await freePort());
    const err = await s.done.then(
      () => assert.fail('should end in crash_loop'),
      (e: unknown) => e,
    );
    assert.equal((err as MarshalError).code, 'E_CRASH_LOOP');
    assert.equal(s.events.filter((e) => e.type === 'child_exited').length, 2);
  });

  test('a crash with extra_args is retried at once without them (status recovering)', async () => {
    const ws = await workspace({ a: {} });
    await crashOnFlag(ws.envDir('a'));
    await writeConfig(ws.metadataDir, { comfyui: { extra_args: ['--bad-flag'] } });
    const port = await freePort();
    const h = harness(ws.root, 'a', port, { backoffMs: 60_000, backoffCapMs: 60_000 });
    cleanups.push(() => h.sup.stop());
    const info = await waitFor('the retry answers', () => fixtureInfo(port), { timeoutMs: 20_000 });
    assert.deepEqual(info.argv, ['--cpu', '--port', String(port)]);
    const exits = h.eventsOf('child_exited');
    assert.equal(exits[0]?.code, 3);
    const recovering = h.eventsOf('switch_status').map((e) => e.status);
    assert.equal(recovering[0]?.state, 'recovering');
    assert.equal(recovering[0]?.progress, 50);
    assert.match(String(recovering[0]?.error), /exited with code 3/);
    // A requested restart (exit 42) tries the extra args again (ComfyGit clears its flags).
    await fixturePost(port, '/exit?code=42');
    await waitFor('second crash', () => h.eventsOf('child_exited').filter((e) => e.code === 3).length === 2);
  });
});

describe('ComfyGit start semantics', () => {
  test('--cpu follows the installed torch build (CUDA/ROCm suffix: none; CPU or unknown: --cpu)', async () => {
    assert.deepEqual(backendFlagsFor('2.9.0+cu128', 'linux'), []);
    assert.deepEqual(backendFlagsFor('2.5.1+rocm6.2', 'linux'), []);
    assert.deepEqual(backendFlagsFor('2.9.0', 'linux'), ['--cpu']);
    assert.deepEqual(backendFlagsFor('2.9.0', 'darwin'), []);
    assert.deepEqual(backendFlagsFor(undefined, 'linux'), ['--cpu']);
    const ws = await workspace({ a: {} });
    const site = join(
      ws.envDir('a'),
      '.venv',
      'lib',
      'python3.12',
      'site-packages',
      'torch-2.9.0+cu128.dist-info',
    );
    await mkdir(site, { recursive: true });
    await writeFile(join(site, 'METADATA'), 'Metadata-Version: 2.1\nName: torch\nVersion: 2.9.0+cu128\n');
    assert.equal(await installedTorchVersion(join(ws.envDir('a'), '.venv')), '2.9.0+cu128');
    const port = await freePort();
    const h = harness(ws.root, 'a', port);
    cleanups.push(() => h.sup.stop());
    const info = await waitFor('the child answers', () => fixtureInfo(port));
    assert.deepEqual(info.argv, ['--port', String(port)]);
  });

  test('`cg -e <env> sync` before the start, the restart (42) and the switch (43)', async () => {
    const cg = await fakeCg();
    const ws = await workspace({ a: {}, b: {} });
    const port = await freePort();
    const h = harness(ws.root, 'a', port, { baseEnv: { PATH: `${cg.dir}:/usr/bin:/bin` } });
    cleanups.push(() => h.sup.stop());
    await waitFor('a answers', async () => (await fixtureInfo(port))?.env === 'a');
    assert.deepEqual(await cg.calls(), [['-e', 'a', 'sync']]);
    await fixturePost(port, '/exit?code=42');
    await waitFor('second sync', async () => (await cg.calls()).length === 2);
    await waitFor(
      'a answers again',
      async () => h.eventsOf('child_started').length === 2 && (await fixtureInfo(port)),
    );
    await fixturePost(port, '/switch?target=b&lock=1');
    await waitFor('b answers', async () => (await fixtureInfo(port))?.env === 'b');
    assert.deepEqual(await cg.calls(), [
      ['-e', 'a', 'sync'],
      ['-e', 'a', 'sync'],
      ['-e', 'b', 'sync'],
    ]);
  });

  test('no cg: MARSHAL_SYNC_COMMAND <env>; neither: one notice, and the start goes on', async () => {
    const cg = await fakeCg();
    const ws = await workspace({ a: {} });
    const port = await freePort();
    const h = harness(ws.root, 'a', port, {
      baseEnv: { PATH: '/usr/bin:/bin', MARSHAL_SYNC_COMMAND: join(cg.dir, 'cg') },
    });
    cleanups.push(() => h.sup.stop());
    await waitFor('a answers', () => fixtureInfo(port));
    assert.deepEqual(await cg.calls(), [['a']]);
    await h.sup.stop();

    const port2 = await freePort();
    const h2 = harness(ws.root, 'a', port2, { baseEnv: { PATH: '/usr/bin:/bin' } });
    cleanups.push(() => h2.sup.stop());
    await waitFor('a answers', () => fixtureInfo(port2));
    await fixturePost(port2, '/exit?code=42');
    await waitFor(
      'restarted',
      async () => h2.eventsOf('child_started').length === 2 && (await fixtureInfo(port2)),
    );
    const notices = h2.eventsOf('warning').filter((w) => w.message.startsWith('cannot sync'));
    assert.equal(notices.length, 1);
    assert.match(notices[0]?.message ?? '', /no `cg` on PATH/);
  });
});
