import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AbortedError, MarshalError } from '../../src/core/errors.ts';
import { acquireLock, type LockOwner, readLock, tryAcquireLock } from '../../src/core/index.ts';
import { currentIdentity } from '../../src/core/process-identity.ts';
import { type Agent, startAgent } from '../fixtures/core/agent-client.ts';

const HOUR = 3_600_000;
let dir: string;
let n = 0;
const fresh = (): string => join(dir, `lock-${++n}.lock`);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'marshal-lock-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function onDisk(path: string): Promise<LockOwner> {
  return JSON.parse(await readFile(path, 'utf8')) as LockOwner;
}

function record(overrides: Partial<LockOwner>): string {
  const at = new Date().toISOString();
  return JSON.stringify({
    ...currentIdentity(),
    purpose: 'test',
    createdAt: at,
    heartbeatAt: at,
    ...overrides,
  });
}

/** Writes a lock file whose mtime (the heartbeat time) is an hour ago. */
async function writeOld(path: string, text: string): Promise<void> {
  await writeFile(path, text);
  const old = new Date(Date.now() - HOUR);
  await utimes(path, old, old);
}

/** A PID that belonged to a process which has exited and been reaped (a plain `true`: no tsx start-up). */
async function deadPid(): Promise<number> {
  const child = spawn('true', [], { stdio: 'ignore' });
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
  return child.pid!;
}

describe('acquire and release in one process', () => {
  it('writes the owner record, reports it held, and releases it', async () => {
    const path = fresh();
    const handle = await acquireLock(path, { purpose: 'switch' });
    const owner = await onDisk(path);
    assert.deepEqual(owner, handle.owner);
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.host, hostname());
    assert.equal(owner.purpose, 'switch');
    assert.equal(owner.processStartTime, currentIdentity().processStartTime);
    assert.equal(owner.heartbeatAt, owner.createdAt);
    assert.deepEqual(await readLock(path), { status: 'held', owner });
    assert.equal(await handle.release(), true);
    assert.deepEqual(await readLock(path), { status: 'free' });
    assert.equal(await handle.release(), false, 'a second release has nothing to remove');
    const leftovers = (await readdir(dir)).filter((name) => name.includes(basename(path)));
    assert.deepEqual(leftovers, [], 'no temp or moved-aside files remain');
  });

  it('is not re-entrant: a held lock refuses a second acquisition with E_LOCKED (exit 6)', async () => {
    const path = fresh();
    const handle = await acquireLock(path, { purpose: 'train launch' });
    assert.equal(await tryAcquireLock(path, { purpose: 'other' }), null);
    await assert.rejects(acquireLock(path, { purpose: 'other' }), (err: unknown) => {
      assert.ok(err instanceof MarshalError);
      assert.equal(err.code, 'E_LOCKED');
      assert.equal(err.exitCode, 6);
      assert.equal((err.details as { owner: LockOwner }).owner.pid, process.pid);
      assert.match(err.message, new RegExp(`pid ${process.pid} .*train launch`));
      return true;
    });
    assert.equal(await handle.release(), true);
  });

  it('validates its options, naming the field', async () => {
    await assert.rejects(acquireLock(fresh(), { purpose: '' }), /purpose: a non-empty string/);
    await assert.rejects(acquireLock(fresh(), { purpose: 'x', ttlMs: 0 }), /ttlMs: a positive number/);
    await assert.rejects(acquireLock(fresh(), { purpose: 'x', ttlMs: Number.NaN }), {
      code: 'E_INVALID_INPUT',
    });
  });

  it('fails with the filesystem error when the directory does not exist', async () => {
    await assert.rejects(acquireLock(join(dir, 'missing-dir', 'x.lock'), { purpose: 'x' }), {
      code: 'ENOENT',
    });
  });
});

describe('staleness', () => {
  it('PID reuse: a live PID with a different start time is stale and taken over', async () => {
    const path = fresh();
    const me = currentIdentity();
    await writeFile(path, record({ processStartTime: (me.processStartTime ?? 0) + 12345 }));
    assert.equal(((await readLock(path)) as { reason?: string }).reason, 'pid_reused');
    const handle = await tryAcquireLock(path, { purpose: 'x' });
    assert.ok(handle);
    assert.equal((await onDisk(path)).processStartTime, me.processStartTime);
    assert.equal(await handle.release(), true);
  });

  it('TTL: a live owner older than the TTL is stale; a recent heartbeat keeps it fresh', async () => {
    const path = fresh();
    const oldDate = new Date(Date.now() - HOUR);
    const old = oldDate.toISOString();
    await writeOld(path, record({ createdAt: old, heartbeatAt: new Date().toISOString() }));
    assert.equal((await readLock(path, { ttlMs: 60_000 })).status, 'held', 'recorded heartbeat is recent');
    await writeOld(path, record({ createdAt: old, heartbeatAt: old }));
    assert.deepEqual(
      await readLock(path, { ttlMs: 60_000 }).then((s) => s.status === 'stale' && s.reason),
      'expired',
    );
    assert.equal((await readLock(path, { ttlMs: 2 * HOUR })).status, 'held');
    await utimes(path, new Date(), new Date()); // what a heartbeat does
    const touched = await readLock(path, { ttlMs: 60_000 });
    assert.equal(touched.status, 'held', 'a recent mtime (heartbeat) keeps it fresh');
    assert.ok(touched.status === 'held' && Date.parse(touched.owner!.heartbeatAt) > Date.parse(old));
    await utimes(path, oldDate, oldDate);
    const handle = await tryAcquireLock(path, { purpose: 'x', ttlMs: 60_000 });
    assert.ok(handle);
    assert.equal(await handle.release(), true);
  });

  it('a record without heartbeatAt ages from createdAt', async () => {
    const path = fresh();
    const { heartbeatAt: _drop, ...noBeat } = JSON.parse(
      record({ createdAt: new Date(Date.now() - HOUR).toISOString() }),
    );
    await writeOld(path, JSON.stringify(noBeat));
    assert.deepEqual(
      await readLock(path, { ttlMs: 60_000 }).then((s) => s.status === 'stale' && s.reason),
      'expired',
    );
  });

  it('an empty (ownerless) lock is held while young, stale when old, adoptable at once with adoptEmpty', async () => {
    const path = fresh();
    await writeFile(path, '');
    assert.deepEqual(await readLock(path), { status: 'held', owner: null });
    assert.equal(await tryAcquireLock(path, { purpose: 'x' }), null);
    await assert.rejects(
      acquireLock(path, { purpose: 'x' }),
      /held by an ownerless \(empty or unreadable\) lock file/,
    );
    assert.deepEqual(await readLock(path, { adoptEmpty: true }), {
      status: 'stale',
      owner: null,
      reason: 'empty',
    });
    const aged = new Date(Date.now() - HOUR);
    await utimes(path, aged, aged);
    assert.deepEqual(await readLock(path), { status: 'stale', owner: null, reason: 'expired' });
    await utimes(path, new Date(), new Date());
    const handle = await tryAcquireLock(path, { purpose: 'switch', adoptEmpty: true });
    assert.ok(handle);
    assert.equal((await onDisk(path)).purpose, 'switch');
    assert.equal(await handle.release(), true);
  });

  it('an unparsable lock is ownerless too: held while young, taken over after the TTL', async () => {
    const path = fresh();
    await writeFile(path, '{"pid": "not a number"');
    assert.deepEqual(await readLock(path), { status: 'held', owner: null });
    const later = () => Date.now() + HOUR;
    assert.deepEqual(await readLock(path, { now: later }), {
      status: 'stale',
      owner: null,
      reason: 'expired',
    });
    const handle = await tryAcquireLock(path, { purpose: 'x', now: later });
    assert.ok(handle);
    assert.equal(await handle.release(), true);
  });
});

describe('with other processes', () => {
  const agents: Agent[] = [];
  let gone = 0;
  before(async () => {
    // Started side by side: each agent's tsx start-up is a second or more of mostly waiting.
    const [started, dead] = await Promise.all([Promise.all([1, 2, 3, 4].map(() => startAgent())), deadPid()]);
    agents.push(...started);
    gone = dead;
  });
  after(async () => {
    await Promise.all(agents.map((a) => a.close()));
  });

  it('a dead owner (SIGKILLed while holding) is detected and its lock taken over', async () => {
    const path = fresh();
    const victim = await startAgent();
    assert.deepEqual(await victim.send({ op: 'try', path, purpose: 'doomed' }).then((r) => r.won), true);
    assert.equal((await readLock(path)).status, 'held');
    await victim.kill();
    const state = await readLock(path);
    assert.ok(state.status === 'stale' && state.reason === 'dead' && state.owner?.pid === victim.pid);
    const handle = await tryAcquireLock(path, { purpose: 'rescue' });
    assert.ok(handle);
    assert.equal((await onDisk(path)).pid, process.pid);
    assert.equal(await handle.release(), true);
  });

  it('a live PID of another process with the wrong start time is stale (PID reuse)', async () => {
    const path = fresh();
    const other = agents[0]!.identity;
    await writeFile(path, record({ ...other, processStartTime: (other.processStartTime ?? 0) - 1 }));
    assert.equal(((await readLock(path)) as { reason?: string }).reason, 'pid_reused');
    await writeFile(path, record({ ...other }));
    assert.equal((await readLock(path)).status, 'held', 'the same record with the right start time is held');
  });

  const scenarios: [string, (path: string) => Promise<void>, Record<string, unknown>][] = [
    ['no lock', async () => undefined, {}],
    ['a dead owner', async (path) => writeFile(path, record({ pid: gone })), {}],
    [
      'an expired owner',
      async (path) =>
        writeOld(
          path,
          record({ createdAt: new Date(0).toISOString(), heartbeatAt: new Date(0).toISOString() }),
        ),
      {},
    ],
    ['an empty lock with adoptEmpty', async (path) => writeFile(path, ''), { adoptEmpty: true }],
  ];
  for (const [label, setup, extra] of scenarios) {
    it(`exactly one of 4 processes wins the race for ${label} (repeated)`, async () => {
      for (let round = 0; round < 10; round++) {
        const path = fresh();
        await setup(path);
        const at = Date.now() + 60;
        const results = await Promise.all(
          agents.map((a) =>
            a.send<{ won: boolean }>({ op: 'try', path, purpose: `race ${round}`, at, ...extra }),
          ),
        );
        const winners = agents.filter((_, i) => results[i]!.won);
        assert.equal(winners.length, 1, `round ${round}: ${winners.length} winners`);
        assert.equal((await onDisk(path)).pid, winners[0]!.pid);
        assert.deepEqual(await winners[0]!.send({ op: 'release' }), { released: true });
        for (const a of agents) await a.send({ op: 'release' });
        assert.deepEqual(await readLock(path), { status: 'free' });
      }
    });
  }

  it('acquireLock waits for a holder that releases, and stops waiting on abort', async () => {
    const path = fresh();
    const holder = agents[2]!;
    assert.equal((await holder.send({ op: 'try', path, purpose: 'hold' })).won, true);
    const ac = new AbortController();
    const aborted = acquireLock(path, { purpose: 'waiter', waitMs: HOUR, pollMs: 5, signal: ac.signal });
    ac.abort();
    await assert.rejects(aborted, AbortedError);
    const waiting = acquireLock(path, { purpose: 'waiter', waitMs: HOUR, pollMs: 5 });
    assert.deepEqual(await holder.send({ op: 'release' }), { released: true });
    const handle = await waiting;
    assert.equal((await onDisk(path)).purpose, 'waiter');
    assert.equal(await handle.release(), true);
  });
});
