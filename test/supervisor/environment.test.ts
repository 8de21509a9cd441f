import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MarshalError } from '../../src/core/errors.ts';
import {
  listEnvironments,
  loadEnvironment,
  parseServerEndpoint,
  validateEnvironmentName,
  workspaceAt,
} from '../../src/supervisor/index.ts';
import { makeWorkspace, type TestWorkspace } from './helpers.ts';

const code = (c: string) => (err: unknown) => err instanceof MarshalError && err.code === c;

describe('loadEnvironment', () => {
  let ws: TestWorkspace;
  before(async () => {
    ws = await makeWorkspace({
      envs: {
        plain: {},
        nopython: { broken: 'missing-python' },
        nomain: { broken: 'missing-main' },
        custom: {
          marshalEnvYaml: [
            'start: [./bin/server, --fast]',
            'cwd: app',
            'env: { MODE: prod, LEVEL: 3 }',
            'port: 9123',
            'sync: { argv: [./bin/sync, --all], timeout: 12 }',
            'health: { http: /healthz }',
            '',
          ].join('\n'),
        },
        syncOnly: { marshalEnvYaml: 'sync: { argv: [/bin/true] }\nenv: { TOKEN_DIR: "${HOME_DIR:-/x}" }\n' },
        badYaml: { marshalEnvYaml: 'start: [x]\nbogus: 1\n' },
        escape: { marshalEnvYaml: 'start: [/bin/true]\ncwd: ../../..\n' },
        missingProgram: { marshalEnvYaml: 'start: [./bin/nope]\n' },
      },
    });
    const bin = join(ws.envDir('custom'), 'bin');
    await mkdir(bin, { recursive: true });
    await mkdir(join(ws.envDir('custom'), 'app'));
    await writeFile(join(bin, 'server'), '#!/bin/sh\n', { mode: 0o755 });
    await writeFile(join(bin, 'sync'), '#!/bin/sh\n', { mode: 0o755 });
  });
  after(() => ws.cleanup());

  test('ComfyGit layout: venv python + ComfyUI/main.py + server args, port from --port, /system_stats', async () => {
    const spec = await loadEnvironment(workspaceAt(ws.root), 'plain', {
      serverArgs: ['--listen', '0.0.0.0', '--port', '9001'],
    });
    const dir = ws.envDir('plain');
    assert.deepEqual(spec.start, [
      join(dir, '.venv/bin/python'),
      join(dir, 'ComfyUI/main.py'),
      // No torch in this venv: ComfyGit's backend detection falls back to --cpu.
      '--cpu',
      '--listen',
      '0.0.0.0',
      '--port',
      '9001',
    ]);
    assert.equal(spec.cwd, join(dir, 'ComfyUI'));
    assert.equal(spec.port, 9001);
    assert.equal(spec.host, '127.0.0.1');
    assert.deepEqual(spec.health, { kind: 'http', path: '/system_stats' });
    assert.equal(spec.sync, undefined);
    assert.equal(spec.source, 'comfygit-layout');
  });

  test('default port 8188', async () => {
    assert.equal((await loadEnvironment(workspaceAt(ws.root), 'plain')).port, 8188);
  });

  test('marshal-env.yaml: start, cwd, env, port, sync (seconds), health', async () => {
    const spec = await loadEnvironment(workspaceAt(ws.root), 'custom', { serverArgs: ['--extra'] });
    const dir = ws.envDir('custom');
    assert.deepEqual(spec.start, [join(dir, 'bin/server'), '--fast', '--extra']);
    assert.equal(spec.cwd, join(dir, 'app'));
    assert.deepEqual(spec.env, { MODE: 'prod', LEVEL: '3' });
    assert.equal(spec.port, 9123);
    assert.deepEqual(spec.sync, { argv: [join(dir, 'bin/sync'), '--all'], timeoutMs: 12_000 });
    assert.deepEqual(spec.health, { kind: 'http', path: '/healthz' });
  });

  test('marshal-env.yaml without start keeps the ComfyGit layout and adds a sync step', async () => {
    const spec = await loadEnvironment(workspaceAt(ws.root), 'syncOnly', { env: { HOME_DIR: '/h' } });
    assert.equal(spec.source, 'comfygit-layout');
    assert.deepEqual(spec.sync, { argv: ['/bin/true'], timeoutMs: 600_000 });
    assert.deepEqual(spec.env, { TOKEN_DIR: '/h' });
  });

  test('missing interpreter / entry point: E_ENV_INVALID naming the path (exit 2)', async () => {
    await assert.rejects(loadEnvironment(workspaceAt(ws.root), 'nopython'), (err: unknown) => {
      assert.ok(code('E_ENV_INVALID')(err));
      assert.equal((err as MarshalError).exitCode, 2);
      assert.ok((err as Error).message.includes(join(ws.envDir('nopython'), '.venv/bin/python')));
      return true;
    });
    await assert.rejects(loadEnvironment(workspaceAt(ws.root), 'nomain'), (err: unknown) =>
      (err as Error).message.includes(join(ws.envDir('nomain'), 'ComfyUI/main.py')),
    );
    await assert.rejects(loadEnvironment(workspaceAt(ws.root), 'missingProgram'), (err: unknown) =>
      (err as Error).message.includes(join(ws.envDir('missingProgram'), 'bin/nope')),
    );
  });

  test('unknown keys in marshal-env.yaml: E_CONFIG naming the key', async () => {
    await assert.rejects(
      loadEnvironment(workspaceAt(ws.root), 'badYaml'),
      (err: unknown) => code('E_CONFIG')(err) && /bogus/.test((err as Error).message),
    );
  });

  test('cwd may not leave the environment folder', async () => {
    await assert.rejects(loadEnvironment(workspaceAt(ws.root), 'escape'), code('E_PATH_ESCAPE'));
  });

  test('unknown environment: E_ENV_NOT_FOUND listing the known ones', async () => {
    await assert.rejects(loadEnvironment(workspaceAt(ws.root), 'ghost'), (err: unknown) => {
      assert.ok(code('E_ENV_NOT_FOUND')(err));
      assert.match((err as MarshalError).hint ?? '', /plain/);
      return true;
    });
  });

  test('names with separators, "..", NUL or nothing are rejected (E_INVALID_INPUT)', async () => {
    for (const bad of ['', '..', '.', 'a/b', 'a\\b', '../plain', 'a..b', 'x\0y', 'tab\there']) {
      assert.throws(() => validateEnvironmentName(bad), code('E_INVALID_INPUT'), JSON.stringify(bad));
      await assert.rejects(loadEnvironment(workspaceAt(ws.root), bad), code('E_INVALID_INPUT'));
    }
  });

  test('listEnvironments', async () => {
    assert.deepEqual(await listEnvironments(workspaceAt(ws.root)), [
      'badYaml',
      'custom',
      'escape',
      'missingProgram',
      'nomain',
      'nopython',
      'plain',
      'syncOnly',
    ]);
  });
});

describe('parseServerEndpoint (ComfyGit rules)', () => {
  const cases: Array<[string[], string, number | undefined]> = [
    [[], '127.0.0.1', undefined],
    [['--port', '9999'], '127.0.0.1', 9999],
    [['--port=9000', '--port', '9001'], '127.0.0.1', 9001],
    [['--port', '80', '--port', 'nope'], '127.0.0.1', 80],
    [['--port', '70000'], '127.0.0.1', undefined],
    [['--listen'], '127.0.0.1', undefined],
    [['--listen', '--port', '1'], '127.0.0.1', 1],
    [['--listen', '192.168.1.5'], '192.168.1.5', undefined],
    [['--listen=::'], '127.0.0.1', undefined],
    [['--listen', '::1'], '::1', undefined],
    [['--listen', '10.0.0.1,::1'], '10.0.0.1', undefined],
  ];
  for (const [args, host, port] of cases) {
    test(JSON.stringify(args), () => assert.deepEqual(parseServerEndpoint(args), { host, port }));
  }
});
