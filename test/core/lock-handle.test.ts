import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sleep } from '../../src/core/async.ts';
import { acquireLock, type LockOwner, readLock } from '../../src/core/index.ts';
import { type Agent, startAgent } from '../fixtures/core/agent-client.ts';

const HOUR = 3_600_000;
let dir: string;
let n = 0;
const fresh = (): string => join(dir, `lock-${++n}.lock`);
const agents: Agent[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'marshal-lockhandle-'));
  agents.push(...(await Promise.all([startAgent(), startAgent()])));
});
after(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await rm(dir, { recursive: true, force: true });
});

async function onDisk(path: string): Promise<LockOwner> {
  return JSON.parse(await readFile(path, 'utf8')) as LockOwner;
}

/** The heartbeat time another process would see. */
async function heartbeatOnDisk(path: string): Promise<string> {
  const state = await readLock(path);
  assert.ok(state.status !== 'free' && state.owner, `no lock record at ${path}`);
  return state.owner.heartbeatAt;
}

describe('LockHandle', () => {
  it('release and heartbeat by a non-owner refuse and leave the new owner intact', async () => {
    const path = fresh();
    let now = Date.now();
    const mine = await acquireLock(path, { purpose: 'slow', ttlMs: 60_000, now: () => now });
    now += 1000;
    assert.equal(await mine.heartbeat(), true);
    assert.equal(await heartbeatOnDisk(path), new Date(now).toISOString());
    assert.equal(
      (await onDisk(path)).heartbeatAt,
      mine.owner.createdAt,
      'the record itself is not rewritten',
    );
    assert.equal((await onDisk(path)).createdAt, mine.owner.createdAt);
    // Another process whose clock is an hour ahead finds our lock expired and takes it over.
    const thief = agents[0]!;
    assert.equal(
      (await thief.send({ op: 'try', path, purpose: 'thief', ttlMs: 60_000, nowOffsetMs: HOUR })).won,
      true,
    );
    const theirs = await readFile(path, 'utf8');
    assert.equal(await mine.heartbeat(), false);
    assert.equal(await mine.release(), false);
    assert.equal(await readFile(path, 'utf8'), theirs, 'the new owner’s lock is untouched');
    assert.deepEqual(await thief.send({ op: 'release' }), { released: true });
  });

  it('the holder’s heartbeat keeps refreshing it; another process heartbeating sees it is not theirs', async () => {
    const path = fresh();
    const handle = await acquireLock(path, { purpose: 'long' });
    const first = await heartbeatOnDisk(path);
    const stop = handle.startHeartbeat(5);
    let beat = first;
    for (let i = 0; i < 1000 && beat === first; i++) {
      await sleep(5);
      beat = await heartbeatOnDisk(path);
    }
    stop();
    assert.ok(Date.parse(beat) > Date.parse(first), 'heartbeatAt moved on');
    assert.equal((await agents[1]!.send({ op: 'heartbeat' })).alive, false);
    assert.equal(await handle.release(), true);
  });

  it('startHeartbeat reports a lost lock and stops', async () => {
    const path = fresh();
    const handle = await acquireLock(path, { purpose: 'long' });
    let lost = false;
    handle.startHeartbeat(5, { onLost: () => (lost = true) });
    await rm(path);
    assert.equal((await agents[1]!.send({ op: 'try', path, purpose: 'next' })).won, true);
    for (let i = 0; i < 1000 && !lost; i++) await sleep(5);
    assert.equal(lost, true);
    assert.equal((await onDisk(path)).pid, agents[1]!.pid);
    assert.equal(await handle.release(), false);
    assert.deepEqual(await agents[1]!.send({ op: 'release' }), { released: true });
    assert.throws(() => handle.startHeartbeat(0), /intervalMs/);
  });

  it('startHeartbeat reports errors and keeps going, and stops when its signal aborts', async () => {
    const path = fresh();
    const handle = await acquireLock(path, { purpose: 'long' });
    await rm(path);
    await mkdir(path); // reading the "lock" now fails with EISDIR
    const errors: unknown[] = [];
    const ac = new AbortController();
    handle.startHeartbeat(5, {
      onError: (err) => errors.push(err),
      signal: ac.signal,
      onLost: () => errors.push('lost'),
    });
    for (let i = 0; i < 1000 && errors.length < 2; i++) await sleep(5);
    assert.ok(errors.length >= 2, 'a failed heartbeat does not stop the next one');
    assert.ok(errors.every((e) => (e as NodeJS.ErrnoException).code === 'EISDIR'));
    ac.abort();
    const count = errors.length;
    await sleep(30);
    assert.equal(errors.length, count, 'no heartbeat after abort');
    await rm(path, { recursive: true });
    assert.equal(await handle.release(), false);
  });
});
