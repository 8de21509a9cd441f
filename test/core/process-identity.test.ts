import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { sleep } from '../../src/core/async.ts';
import {
  currentIdentity,
  identityStatus,
  isProcessAlive,
  isSameLiveProcess,
  listProcStats,
  parseProcStat,
  parseStatStartTime,
  processStartTime,
} from '../../src/core/process-identity.ts';

const linux = process.platform === 'linux';
let dir: string;
const children: ChildProcess[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'marshal-ident-'));
});
after(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

function startSleeper(argv0 = '/bin/sleep'): ChildProcess {
  const child = spawn(argv0, ['30'], { stdio: 'ignore' });
  children.push(child);
  return child;
}

async function stopAndReap(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** A stat line with the given comm and starttime (field 22); other fields are plausible numbers. */
function statLine(pid: number, comm: string, start: string): string {
  const after = ['S', ...Array.from({ length: 18 }, (_, i) => String(i + 1)), start, '1000', '200'];
  return `${pid} (${comm}) ${after.join(' ')}\n`;
}

describe('parseStatStartTime', () => {
  it('reads field 22 after a plain command name', () => {
    assert.equal(parseStatStartTime(statLine(42, 'node', '123456')), 123456);
  });

  it('splits after the last ")" so names with spaces and parentheses parse', () => {
    assert.equal(parseStatStartTime(statLine(42, 'evil) S 1 2 3 (name', '98765')), 98765);
    assert.equal(parseStatStartTime(statLine(42, ') ) )', '5')), 5);
    assert.equal(parseStatStartTime(statLine(42, 'a b c', '77')), 77);
  });

  it('returns undefined for malformed lines', () => {
    assert.equal(parseStatStartTime(''), undefined);
    assert.equal(parseStatStartTime('42 node S 1 2'), undefined);
    assert.equal(parseStatStartTime('42 (node) S 1 2 3'), undefined);
    assert.equal(parseStatStartTime(statLine(42, 'node', '12x')), undefined);
    assert.equal(parseStatStartTime(statLine(42, 'node', '-5')), undefined);
  });
});

describe('processStartTime', () => {
  if (!linux) {
    it('is undefined without /proc, so identity falls back to liveness', () => {
      assert.equal(processStartTime(process.pid), undefined);
      assert.equal(identityStatus(currentIdentity()), 'alive');
    });
    return;
  }

  it('is stable for this process and equals the /proc value', async () => {
    const mine = processStartTime(process.pid);
    assert.equal(typeof mine, 'number');
    assert.equal(processStartTime(process.pid), mine);
    const stat = await readFile(`/proc/${process.pid}/stat`, 'utf8');
    assert.equal(mine, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]));
  });

  it('reads a real process whose name contains spaces and parentheses', async () => {
    const weird = join(dir, 'we) ird (x');
    await symlink('/bin/sleep', weird);
    const child = startSleeper(weird);
    await once(child, 'spawn');
    const pid = child.pid!;
    // The kernel sets comm from the executed file name, so /proc shows the hostile name.
    let stat = '';
    for (let i = 0; i < 500 && !stat.includes('we) ird'); i++) {
      stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      if (!stat.includes('we) ird')) await sleep(10);
    }
    assert.match(stat, /\(we\) ird \(x\)/);
    const start = processStartTime(pid);
    assert.equal(typeof start, 'number');
    assert.ok(start! >= processStartTime(process.pid)!, 'a child starts after its parent');
    await stopAndReap(child);
    assert.equal(processStartTime(pid), undefined);
  });

  it('returns undefined for invalid and nonexistent PIDs', () => {
    for (const pid of [0, -1, 1.5, Number.NaN, 2 ** 53]) assert.equal(processStartTime(pid), undefined);
  });
});

describe('isProcessAlive', () => {
  it('is true for this process and for PID 1 (EPERM counts as alive)', () => {
    assert.equal(isProcessAlive(process.pid), true);
    assert.equal(isProcessAlive(1), true);
  });

  it('never treats 0, negative or non-integer PIDs as processes (they address groups in kill)', () => {
    for (const pid of [0, -1, -process.pid, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.equal(isProcessAlive(pid), false, String(pid));
    }
  });

  it('is false once a child has been killed and reaped', async () => {
    const child = startSleeper();
    await once(child, 'spawn');
    assert.equal(isProcessAlive(child.pid!), true);
    await stopAndReap(child);
    assert.equal(isProcessAlive(child.pid!), false);
  });

  // Zombies are told apart through /proc, so this case is Linux-only.
  const linuxIt = linux ? it : () => undefined;
  linuxIt('is false for a zombie, although kill(pid, 0) still succeeds', async () => {
    // The python parent forks a child that exits at once and is never waited for.
    const parent = spawn(
      '/usr/bin/python3',
      [
        '-c',
        'import os,sys,time\npid=os.fork()\nif pid==0: os._exit(0)\nprint(pid, flush=True)\ntime.sleep(30)',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(parent);
    const [line] = (await once(createInterface({ input: parent.stdout! }), 'line')) as [string];
    const zombie = Number(line);
    let state = '';
    for (let i = 0; i < 500 && state !== 'Z'; i++) {
      const stat = await readFile(`/proc/${zombie}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z') await sleep(10);
    }
    assert.equal(state, 'Z');
    assert.doesNotThrow(() => process.kill(zombie, 0));
    assert.equal(isProcessAlive(zombie), false);
    await stopAndReap(parent);
  });
});

describe('identity', () => {
  it('currentIdentity describes this process', () => {
    const me = currentIdentity();
    assert.deepEqual(me, {
      pid: process.pid,
      processStartTime: processStartTime(process.pid) ?? null,
      host: hostname(),
    });
  });

  it('classifies alive, dead, reused and foreign identities', async () => {
    const me = currentIdentity();
    assert.equal(identityStatus(me), 'alive');
    assert.equal(isSameLiveProcess(me), true);

    if (linux) {
      const reused = { ...me, processStartTime: (me.processStartTime ?? 0) + 1 };
      assert.equal(identityStatus(reused), 'reused');
      assert.equal(isSameLiveProcess(reused), false);
    }

    const child = startSleeper();
    await once(child, 'spawn');
    const childIdentity = {
      pid: child.pid!,
      processStartTime: processStartTime(child.pid!) ?? null,
      host: hostname(),
    };
    assert.equal(identityStatus(childIdentity), 'alive');
    await stopAndReap(child);
    assert.equal(identityStatus(childIdentity), 'dead');
    assert.equal(isSameLiveProcess(childIdentity), false);

    // Unknown start time (written on another platform): liveness decides.
    assert.equal(identityStatus({ ...me, processStartTime: null }), 'alive');
    assert.equal(identityStatus({ ...childIdentity, processStartTime: null }), 'dead');

    // Another host's process cannot be checked from here.
    const foreign = { ...childIdentity, host: `${hostname()}-elsewhere` };
    assert.equal(identityStatus(foreign), 'foreign');
    assert.equal(isSameLiveProcess(foreign), true);
  });
});

describe('parseProcStat / listProcStats', () => {
  it('splits after the last parenthesis of a command name holding spaces and parentheses', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[0] = 'Z';
    fields[1] = '77';
    fields[2] = '88';
    fields[19] = '123456';
    assert.deepEqual(parseProcStat(9, `9 (a) (b c) ${fields.join(' ')}`), {
      pid: 9,
      state: 'Z',
      ppid: 77,
      pgrp: 88,
      startTime: 123456,
      live: false,
    });
    assert.equal(parseProcStat(9, '9 no-parenthesis S 1 2'), undefined);
    assert.equal(parseProcStat(9, '9 (x) S one 2 3'), undefined);
  });

  it('lists this process with its parent and group', { skip: !linux && 'needs /proc' }, () => {
    const self = listProcStats()?.get(process.pid);
    assert.ok(self?.live);
    assert.equal(self.ppid, process.ppid);
    assert.equal(self.startTime, processStartTime(process.pid));
  });
});
