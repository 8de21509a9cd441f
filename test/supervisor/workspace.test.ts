import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MarshalError } from '../../src/core/errors.ts';
import { findWorkspace } from '../../src/supervisor/index.ts';

describe('findWorkspace', () => {
  let base: string;
  let home: string;
  let cwdWs: string;
  let deep: string;
  let elsewhere: string;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'marshal-ws-'));
    home = join(base, 'home');
    cwdWs = join(base, 'proj');
    deep = join(cwdWs, 'environments', 'a', 'ComfyUI');
    elsewhere = join(base, 'elsewhere');
    await mkdir(join(cwdWs, '.metadata'), { recursive: true });
    await mkdir(deep, { recursive: true });
    await mkdir(home, { recursive: true });
    await mkdir(elsewhere, { recursive: true });
  });
  after(() => rm(base, { recursive: true, force: true }));

  test('explicit path wins over everything', async () => {
    // relative to the cwd: <base>/proj/environments/a/ComfyUI/../../../../elsewhere
    const ws = await findWorkspace({
      explicit: '../../../../elsewhere',
      env: { COMFYGIT_HOME: cwdWs },
      cwd: deep,
      home,
    });
    assert.equal(ws.root, elsewhere);
  });

  test('explicit path must be a directory', async () => {
    await assert.rejects(
      findWorkspace({ explicit: join(base, 'nope'), env: {}, cwd: deep, home }),
      (err: unknown) =>
        err instanceof MarshalError &&
        err.code === 'E_NO_WORKSPACE' &&
        err.exitCode === 2 &&
        err.message.includes('nope'),
    );
  });

  test('COMFYGIT_HOME when it exists (no .metadata needed), before ~/comfygit and the cwd', async () => {
    await mkdir(join(home, 'comfygit', '.metadata'), { recursive: true });
    try {
      const ws = await findWorkspace({ env: { COMFYGIT_HOME: elsewhere }, cwd: deep, home });
      assert.equal(ws.root, elsewhere);
      assert.equal(ws.metadataDir, join(elsewhere, '.metadata'));
    } finally {
      await rm(join(home, 'comfygit'), { recursive: true, force: true });
    }
  });

  test('~/comfygit only when it has .metadata/, before the cwd', async () => {
    await mkdir(join(home, 'comfygit'), { recursive: true });
    assert.equal((await findWorkspace({ env: {}, cwd: deep, home })).root, cwdWs);
    await mkdir(join(home, 'comfygit', '.metadata'));
    try {
      assert.equal((await findWorkspace({ env: {}, cwd: deep, home })).root, join(home, 'comfygit'));
    } finally {
      await rm(join(home, 'comfygit'), { recursive: true, force: true });
    }
  });

  test('a COMFYGIT_HOME that does not exist is skipped', async () => {
    const ws = await findWorkspace({ env: { COMFYGIT_HOME: join(base, 'missing') }, cwd: deep, home });
    assert.equal(ws.root, cwdWs);
  });

  test('upward search from the cwd finds the nearest folder with .metadata/', async () => {
    assert.equal((await findWorkspace({ env: {}, cwd: deep, home })).root, cwdWs);
  });

  test('nothing found: E_NO_WORKSPACE (exit 2) listing every place it looked', async () => {
    await assert.rejects(
      findWorkspace({ env: { COMFYGIT_HOME: join(base, 'missing') }, cwd: elsewhere, home }),
      (err: unknown) => {
        assert.ok(err instanceof MarshalError);
        assert.equal(err.code, 'E_NO_WORKSPACE');
        assert.equal(err.exitCode, 2);
        assert.match(err.message, /COMFYGIT_HOME=.*missing/);
        assert.ok(err.message.includes(join(home, 'comfygit')));
        assert.ok(err.message.includes(`${elsewhere} and every parent folder`));
        assert.deepEqual((err.details as { tried: string[] }).tried.length, 3);
        return true;
      },
    );
  });
});
