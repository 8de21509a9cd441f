import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CommandSchema,
  metadataPaths,
  readProtocolFile,
  readSwitchStatus,
  SWITCH_PROGRESS,
  SwitchRequestSchema,
  takeCommand,
  takeProtocolFile,
  takeSwitchRequest,
  type Workspace,
  workspaceAt,
  writeCommand,
  writeSwitchRequest,
  writeSwitchStatus,
} from '../../src/supervisor/index.ts';

describe('protocol files', () => {
  let root: string;
  let ws: Workspace;
  let p: ReturnType<typeof metadataPaths>;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'marshal-proto-'));
    ws = workspaceAt(root);
    p = metadataPaths(root);
  });
  after(() => rm(root, { recursive: true, force: true }));

  test("file names are ComfyGit's, under .metadata/", () => {
    assert.deepEqual(
      Object.values(p).map((f) => f.slice(root.length + 1)),
      [
        '.metadata',
        '.metadata/.switch_request.json',
        '.metadata/.switch_status.json',
        '.metadata/.switch.lock',
        '.metadata/.orchestrator.pid',
        '.metadata/.cmd',
        '.metadata/.control_port',
        '.metadata/.control_token',
        '.metadata/supervisor-switch.log',
        '.metadata/orchestrator.log',
      ],
    );
  });

  test('switch request: {target_env, source_env, timestamp (float seconds)}, written atomically', async () => {
    await writeSwitchRequest(ws, { target_env: 'b', source_env: 'a', timestamp: 1705776100.25 });
    const raw = JSON.parse(await readFile(p.switchRequest, 'utf8'));
    assert.deepEqual(raw, { target_env: 'b', source_env: 'a', timestamp: 1705776100.25 });
    assert.deepEqual(
      (await readdir(p.dir)).filter((n) => n.includes('tmp')),
      [],
    );
    const now = await writeSwitchRequest(ws, { target_env: 'c' });
    assert.equal(now.source_env, null);
    assert.ok(typeof now.timestamp === 'number' && Math.abs(now.timestamp - Date.now() / 1000) < 60);
  });

  test('take: claims, returns and deletes; a second take finds nothing', async () => {
    await writeSwitchRequest(ws, { target_env: 'b', source_env: 'a' });
    const [one, two] = await Promise.all([takeSwitchRequest(ws), takeSwitchRequest(ws)]);
    const statuses = [one.status, two.status].sort();
    assert.deepEqual(statuses, ['missing', 'ok']);
    assert.equal(existsSync(p.switchRequest), false);
  });

  test("ComfyGit's original request shape (no source_env) is accepted", async () => {
    await writeFile(
      p.switchRequest,
      JSON.stringify({ target_env: 'env2', timestamp: 1705776100.0 }, null, 2),
    );
    const read = await takeSwitchRequest(ws);
    assert.ok(read.status === 'ok');
    assert.equal(read.value.target_env, 'env2');
  });

  for (const [name, text] of [
    ['invalid JSON', 'invalid json{'],
    ['truncated', '{"target_env": "b", "timest'],
    ['empty', ''],
    ['wrong shape', '{"target": "b"}'],
    ['not an object', '[1,2]'],
  ] as const) {
    test(`corrupt request (${name}) is reported as bad and cleaned, never thrown`, async () => {
      await writeFile(p.switchRequest, text);
      const peek = await readProtocolFile(p.switchRequest, SwitchRequestSchema);
      assert.equal(peek.status, 'bad');
      const read = await takeSwitchRequest(ws);
      assert.ok(read.status === 'bad');
      assert.ok(read.problem.length > 0);
      assert.equal(existsSync(p.switchRequest), false);
    });
  }

  test('missing files read as missing', async () => {
    assert.deepEqual(await takeCommand(ws), { status: 'missing' });
    assert.equal(await readSwitchStatus(ws), null);
    assert.deepEqual(await takeProtocolFile(join(p.dir, 'nothing'), CommandSchema), { status: 'missing' });
  });

  test('command: {command, timestamp} for restart / shutdown / abort_switch; unknown commands are bad', async () => {
    for (const command of ['restart', 'shutdown', 'abort_switch'] as const) {
      await writeCommand(ws, { command });
      const raw = JSON.parse(await readFile(p.cmd, 'utf8'));
      assert.deepEqual(Object.keys(raw).sort(), ['command', 'timestamp']);
      const read = await takeCommand(ws);
      assert.ok(read.status === 'ok' && read.value.command === command);
    }
    await writeFile(p.cmd, JSON.stringify({ command: 'explode', timestamp: 1 }));
    assert.equal((await takeCommand(ws)).status, 'bad');
    assert.equal(existsSync(p.cmd), false);
  });

  test('status: ComfyGit shape, read tolerantly (unknown states from other writers too)', async () => {
    const status = {
      state: 'rolled_back',
      progress: SWITCH_PROGRESS.rolled_back,
      message: 'm',
      updated_at: 1705776100.5,
      target_env: 'b',
      source_env: 'a',
      error: 'b exited',
    };
    await writeSwitchStatus(ws, status);
    assert.deepEqual(JSON.parse(await readFile(p.switchStatus, 'utf8')), status);
    assert.deepEqual(await readSwitchStatus(ws), status);
    await writeFile(
      p.switchStatus,
      JSON.stringify({ state: 'recovering', progress: 50, message: 'x', updated_at: 1 }),
    );
    assert.equal((await readSwitchStatus(ws))?.state, 'recovering');
    await writeFile(p.switchStatus, '{"state": "compl');
    assert.equal(await readSwitchStatus(ws), null);
  });

  test("progress numbers are ComfyGit's", () => {
    assert.deepEqual(SWITCH_PROGRESS, {
      preparing: 10,
      syncing: 30,
      starting: 60,
      validating: 80,
      rolling_back: 90,
      complete: 100,
      rolled_back: 100,
      failed: 100,
      critical_failure: 100,
      aborted: 100,
      recovering: 50,
    });
  });
});
