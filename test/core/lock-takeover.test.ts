import assert from 'node:assert/strict';
import { mkdtemp, readdir, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tryAcquireLock } from '../../src/core/index.ts';
import { snapshotLock } from '../../src/core/lock-record.ts';
import { takeOverStale, takeoverGuardPath } from '../../src/core/lock-takeover.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'marshal-takeover-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

// PID 2^30 is above any pid_max, so its owner is certainly dead.
const stale = JSON.stringify({
  pid: 2 ** 30,
  processStartTime: 1,
  host: hostname(),
  purpose: 'p',
  createdAt: '2020-01-01T00:00:00Z',
});

describe('takeOverStale', () => {
  it('removes the judged instance and cleans up after itself', async () => {
    const sub = await mkdtemp(join(dir, 'a-'));
    const path = join(sub, 'x.lock');
    await writeFile(path, stale);
    const judged = (await snapshotLock(path))!;
    assert.equal(await takeOverStale(path, judged), 'removed');
    assert.deepEqual(await readdir(sub), []);
  });

  it('leaves a lock that was replaced after it was judged', async () => {
    const sub = await mkdtemp(join(dir, 'b-'));
    const path = join(sub, 'x.lock');
    await writeFile(path, stale);
    const judged = (await snapshotLock(path))!;
    // Same content, new inode (the old one is kept alive so its number cannot be recycled).
    await rename(path, join(sub, 'kept'));
    await writeFile(path, stale);
    assert.equal(await takeOverStale(path, judged), 'changed');
    assert.deepEqual((await readdir(sub)).sort(), ['kept', 'x.lock']);
    await rm(path);
    assert.equal(await takeOverStale(path, judged), 'changed', 'nothing there any more');
  });

  it('backs off while another remover holds the guard, and clears a guard abandoned by a crashed remover', async () => {
    const sub = await mkdtemp(join(dir, 'c-'));
    const path = join(sub, 'x.lock');
    await writeFile(path, stale);
    const judged = (await snapshotLock(path))!;
    const guard = takeoverGuardPath(path, judged);
    await writeFile(guard, '');
    assert.equal(await takeOverStale(path, judged), 'contended');
    assert.equal(await tryAcquireLock(path, { purpose: 'x' }), null, 'someone else is taking it over');
    const old = new Date(Date.now() - 60_000);
    await utimes(guard, old, old);
    const handle = await tryAcquireLock(path, { purpose: 'x' });
    assert.ok(handle);
    assert.equal(await handle.release(), true);
    assert.deepEqual(await readdir(sub), []);
  });
});
