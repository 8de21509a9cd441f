import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MarshalError } from '../../src/core/errors.ts';
import { type PidRecord, readPidFile, removePidFile, writePidFile } from '../../src/core/pid-file.ts';
import { currentIdentity } from '../../src/core/process-identity.ts';
import { type Agent, startAgent } from '../fixtures/core/agent-client.ts';

let dir: string;
let n = 0;
const fresh = (): string => join(dir, `p-${++n}.pid`);
let live: Agent;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'marshal-pid-'));
  live = await startAgent();
});
after(async () => {
  await live.close();
  await rm(dir, { recursive: true, force: true });
});

/** Has an agent write a PID file, then SIGKILLs it: the file names a dead process. */
async function deadOwnersFile(path: string): Promise<PidRecord> {
  const agent = await startAgent();
  const { record } = await agent.send<{ record: PidRecord }>({ op: 'pidfile', path, extra: { port: 8188 } });
  await agent.kill();
  return record;
}

describe('writePidFile / readPidFile', () => {
  it('records this process with extra fields and reads back alive', async () => {
    const path = fresh();
    const record = await writePidFile(path, { port: 8188, role: 'supervisor' });
    assert.deepEqual(
      { ...record, startedAt: undefined },
      { ...currentIdentity(), startedAt: undefined, port: 8188, role: 'supervisor' },
    );
    assert.ok(Number.isFinite(Date.parse(record.startedAt)));
    assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), record);
    assert.equal((await stat(path)).mode & 0o777, 0o644);
    assert.deepEqual(await readPidFile(path), { status: 'alive', record });
  });

  it('refuses extra fields that would override the identity, naming the field', async () => {
    const path = fresh();
    await assert.rejects(writePidFile(path, { pid: 1 }), (err: unknown) => {
      assert.ok(err instanceof MarshalError);
      assert.equal(err.code, 'E_INVALID_INPUT');
      assert.match(err.message, /^extra\.pid:/);
      return true;
    });
    await assert.rejects(stat(path), { code: 'ENOENT' });
  });

  it('reports a file written by a process that was SIGKILLed as stale (dead)', async () => {
    const path = fresh();
    const record = await deadOwnersFile(path);
    assert.equal(record.port, 8188);
    assert.deepEqual(await readPidFile(path), { status: 'stale', record, reason: 'dead' });
  });

  it('never mistakes a recycled PID for the writer: live PID, other start time is stale', async () => {
    const path = fresh();
    const other = live.identity;
    const forged = {
      ...other,
      processStartTime: (other.processStartTime ?? 0) + 1,
      startedAt: new Date().toISOString(),
    };
    await writeFile(path, JSON.stringify(forged));
    assert.deepEqual(await readPidFile(path), { status: 'stale', record: forged, reason: 'pid_reused' });
    const genuine = await live.send<{ record: PidRecord }>({ op: 'pidfile', path });
    assert.deepEqual(await readPidFile(path), { status: 'alive', record: genuine.record });
  });

  it('treats a record from another host as alive (it cannot be checked from here)', async () => {
    const path = fresh();
    const foreign = {
      pid: 2 ** 22 + 7,
      processStartTime: 5,
      host: `${hostname()}-other`,
      startedAt: '2026-01-01T00:00:00Z',
    };
    await writeFile(path, JSON.stringify(foreign));
    assert.deepEqual(await readPidFile(path), { status: 'alive', record: foreign });
  });

  it('understands a plain integer PID file (ComfyGit .orchestrator.pid) by liveness only', async () => {
    const path = fresh();
    await writeFile(path, `${live.pid}\n`);
    const alive = await readPidFile(path);
    assert.equal(alive.status, 'alive');
    assert.ok(
      alive.status === 'alive' && alive.record.pid === live.pid && alive.record.processStartTime === null,
    );
    const dead = await deadOwnersFile(fresh());
    await writeFile(path, String(dead.pid));
    assert.deepEqual(await readPidFile(path).then((s) => s.status === 'stale' && s.reason), 'dead');
  });

  it('returns missing and corrupt (with the text) instead of throwing', async () => {
    assert.deepEqual(await readPidFile(join(dir, 'absent.pid')), { status: 'missing' });
    for (const text of [
      '',
      'not a pid',
      '0',
      '-5',
      '{}',
      '{"pid":"12"}',
      '{"pid": 12, "host": "h"}',
      '[1]',
    ]) {
      const path = fresh();
      await writeFile(path, text);
      assert.deepEqual(await readPidFile(path), { status: 'corrupt', text }, JSON.stringify(text));
    }
  });

  it('throws for a path it cannot read (a directory)', async () => {
    await assert.rejects(readPidFile(dir), { code: 'EISDIR' });
  });
});

describe('removePidFile', () => {
  it('removes our own file', async () => {
    const path = fresh();
    await writePidFile(path);
    assert.equal(await removePidFile(path), true);
    assert.deepEqual(await readPidFile(path), { status: 'missing' });
    assert.equal(await removePidFile(path), false, 'nothing left to remove');
  });

  it('leaves a live process’s file, a corrupt file and a foreign-host file in place', async () => {
    const livePath = fresh();
    await live.send({ op: 'pidfile', path: livePath });
    const before = await readFile(livePath, 'utf8');
    const inode = (await stat(livePath)).ino;
    assert.equal(await removePidFile(livePath), false);
    assert.equal(await removePidFile(livePath, { alsoStale: true }), false);
    assert.equal(await readFile(livePath, 'utf8'), before);
    assert.equal((await stat(livePath)).ino, inode, 'put back as the same file, not a copy');

    const corrupt = fresh();
    await writeFile(corrupt, 'garbage');
    assert.equal(await removePidFile(corrupt, { alsoStale: true }), false);
    assert.equal(await readFile(corrupt, 'utf8'), 'garbage');

    const foreign = fresh();
    const text = JSON.stringify({
      pid: 3,
      processStartTime: 1,
      host: `${hostname()}-x`,
      startedAt: '2026-01-01T00:00:00Z',
    });
    await writeFile(foreign, text);
    assert.equal(await removePidFile(foreign, { alsoStale: true }), false);
    assert.equal(await readFile(foreign, 'utf8'), text);
  });

  it('removes a dead process’s file only with alsoStale', async () => {
    const path = fresh();
    await deadOwnersFile(path);
    assert.equal(await removePidFile(path), false);
    assert.equal((await readPidFile(path)).status, 'stale');
    assert.equal(await removePidFile(path, { alsoStale: true }), true);
    assert.deepEqual(await readPidFile(path), { status: 'missing' });
  });
});
