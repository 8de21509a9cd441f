/**
 * A SIGKILLed marshal leaves no mpirun rank behind. pdeathsig reaches only marshal's direct child
 * (mpirun); Open MPI forks the ranks (and, over ssh, its daemons) itself, so without more the
 * ranks outlive both. Real processes: a 2-rank Open MPI job started through the CLI in a child
 * process, found again by a unique token in their argv through /proc.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { sleep } from '../../src/core/async.ts';
import { deadline } from '../../src/core/deadline.ts';
import { listProcStats } from '../../src/core/process-identity.ts';
import { memoryIo } from '../helpers/memory-io.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const DRIVER = join(ROOT, 'test/fixtures/cli/main-driver.ts');
const TOKEN = `hang_${randomBytes(6).toString('hex')}`;
let dir: string;
let child: ChildProcess | undefined;

/** Live processes whose argv contains the token (the ranks, and mpirun while it lives). */
function holders(): Array<{ pid: number; argv: string }> {
  const out: Array<{ pid: number; argv: string }> = [];
  for (const [pid, stat] of listProcStats() ?? new Map()) {
    if (!stat.live || pid === process.pid) continue;
    let argv: string;
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    if (argv.includes(TOKEN)) out.push({ pid, argv });
  }
  return out;
}

/** `promise`, or a rejection naming `what` once `ms` passed (a core deadline, cleared either way). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const d = deadline(ms, [], what);
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => d.signal.addEventListener('abort', () => reject(d.signal.reason))),
    ]);
  } finally {
    d.clear();
  }
}

describe('mpirun under a SIGKILLed marshal', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-mpikill-'));
    const wd = join(dir, 'node');
    mkdirSync(wd);
    copyFileSync(join(ROOT, 'python/marshal_train.py'), join(wd, 'marshal_train.py'));
    // Each rank says it started, then waits far longer than the test.
    writeFileSync(
      join(wd, `${TOKEN}.py`),
      'import os, sys, time\nprint(f"ranks-up {os.environ.get(\'RANK\')}", flush=True)\ntime.sleep(600)\n',
    );
    writeFileSync(
      join(dir, 'cluster.yaml'),
      [
        'launcher: mpirun',
        'master: { addr: 127.0.0.1, port: 29731 }',
        'nodes:',
        '  - { name: a, host: local, slots: 2, python: /usr/bin/python3, workdir: node }',
      ].join('\n'),
    );
    const mem = memoryIo({ cwd: dir, env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'config') } });
    const code = await main(
      [
        'train',
        'plan',
        '--cluster',
        'cluster.yaml',
        '--script',
        `${TOKEN}.py`,
        '--dataset',
        '100',
        '--skip-calibration',
        '--out',
        'plan.json',
      ],
      mem.io,
    );
    assert.equal(code, 0, mem.stderr);
  });

  after(async () => {
    child?.kill('SIGKILL');
    // Whatever a failing run left behind is stopped here, by pid.
    for (const h of holders()) {
      try {
        process.kill(h.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('no rank survives marshal being SIGKILLed mid-run', async () => {
    child = spawn(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), DRIVER, 'train', 'launch', '--plan', 'plan.json'],
      {
        cwd: dir,
        env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'config') },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    const bothUp = new Promise<void>((resolve) => {
      const onData = (c: Buffer) => {
        output += c.toString();
        if ((output.match(/ranks-up \d/g) ?? []).length >= 2) resolve();
      };
      child!.stdout!.on('data', onData);
      child!.stderr!.on('data', onData);
    });
    const exited = new Promise<void>((resolve) => child!.on('exit', () => resolve()));
    await within(
      Promise.race([
        bothUp,
        exited.then(() => {
          throw new Error(`marshal exited before the ranks started:\n${output}`);
        }),
      ]),
      120_000,
      'both ranks to start',
    );
    const ranks = holders().filter((h) => h.argv.includes('marshal_train'));
    assert.ok(ranks.length >= 2, `two ranks run: ${JSON.stringify(holders())}`);

    child.kill('SIGKILL');
    await within(exited, 30_000, 'marshal to exit after SIGKILL');
    // Bounded wait for the tree to go: nothing holding the token may be left.
    const gone = deadline(30_000, [], 'the ranks to be stopped');
    let left = holders();
    try {
      while (left.length > 0 && !gone.signal.aborted) {
        await sleep(200, { signal: gone.signal }).catch(() => {});
        left = holders();
      }
    } finally {
      gone.clear();
    }
    assert.deepEqual(left, [], 'no process of the job survives marshal');
  });
});
