import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sleep } from '../../src/core/async.ts';
import { AbortedError, MarshalError, TimeoutError } from '../../src/core/errors.ts';
import {
  isProcessGroupAlive,
  killProcessGroup,
  type ManagedProcess,
  spawnProcess,
  waitForExit,
} from '../../src/core/index.ts';
import { isProcessAlive } from '../../src/core/process-identity.ts';

const fixture = (name: string): string => new URL(`../fixtures/core/${name}`, import.meta.url).pathname;
const node = process.execPath;
const root = new URL('../..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'marshal-proc-'));
const started: ManagedProcess[] = [];
after(async () => {
  await Promise.all(started.map((p) => p.stop({ graceMs: 0 })));
  rmSync(dir, { recursive: true, force: true });
});

/** Spawns and registers for cleanup; resolves once the child printed `ready`. */
async function startReady(argv: string[], opts: { pdeathsig?: boolean } = {}) {
  const lines: string[] = [];
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  const proc = spawnProcess(argv, {
    ...opts,
    cwd: root,
    onStdoutLine: (l) => {
      lines.push(l);
      onReady();
    },
  });
  started.push(proc);
  await waitForExit({ exited: ready.then(() => ({ code: 0, signal: null })) }, { timeoutMs: 20_000 });
  return { proc, lines };
}

/** Polls (bounded) until `pid` is no longer running. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 500 && isProcessAlive(pid); i++) await sleep(20);
  return !isProcessAlive(pid);
}

describe('spawnProcess', () => {
  it('streams stdout and stderr by line (CRLF, partial last line) and reports the exit code', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const proc = spawnProcess([node, fixture('proc-output.mjs'), '3'], {
      onStdoutLine: (l) => out.push(l),
      onStderrLine: (l) => err.push(l),
    });
    assert.deepEqual(await proc.exited, { code: 3, signal: null });
    assert.deepEqual(out, ['line one', 'line two', 'partial']);
    assert.deepEqual(err, ['err line']);
  });

  it('pipes stdin when asked', async () => {
    const out: string[] = [];
    const echo = 'process.stdin.on("data", (d) => process.stdout.write(String(d).toUpperCase()))';
    const proc = spawnProcess([node, '-e', echo], { stdin: 'pipe', onStdoutLine: (l) => out.push(l) });
    proc.stdin?.end('hello\nworld\n');
    assert.deepEqual(await proc.exited, { code: 0, signal: null });
    assert.deepEqual(out, ['HELLO', 'WORLD']);
  });

  it('reports a signal exit', async () => {
    const proc = spawnProcess([node, fixture('proc-signal-self.mjs'), 'SIGUSR2']);
    assert.deepEqual(await proc.exited, { code: null, signal: 'SIGUSR2' });
  });

  it('caps a line-less flood and keeps streaming after it', async () => {
    const out: string[] = [];
    const proc = spawnProcess([node, fixture('proc-flood.mjs')], {
      maxLineLength: 1000,
      onStdoutLine: (l) => out.push(l),
    });
    await proc.exited;
    assert.deepEqual(out, ['x'.repeat(1000), 'after']);
  });

  it('runs the child as leader of its own process group', async () => {
    const { proc } = await startReady([node, fixture('proc-sleep.mjs')]);
    const stat = readFileSync(`/proc/${proc.pid}/stat`, 'utf8');
    const pgrp = Number(
      stat
        .slice(stat.lastIndexOf(')') + 1)
        .trim()
        .split(/\s+/)[2],
    );
    assert.equal(pgrp, proc.pid);
    assert.notEqual(pgrp, process.pid);
    assert.equal(isProcessGroupAlive(proc.pid), true);
    const res = await proc.stop({ graceMs: 5000 });
    assert.deepEqual(res, { code: null, signal: 'SIGTERM', forced: false });
    assert.equal(isProcessGroupAlive(proc.pid), false);
    assert.equal(killProcessGroup(proc.pid, 'SIGTERM'), false);
  });

  it('stop kills grandchildren with the group', async () => {
    const pidFile = join(dir, 'gc1.pid');
    const { proc } = await startReady([node, fixture('proc-grandchild.mjs'), pidFile]);
    const gc = Number(readFileSync(pidFile, 'utf8'));
    assert.equal(isProcessAlive(gc), true);
    const res = await proc.stop({ graceMs: 5000 });
    assert.equal(res.forced, false);
    assert.equal(isProcessAlive(gc), false);
    assert.equal(isProcessGroupAlive(proc.pid), false);
  });

  it('SIGKILLs a child that ignores SIGTERM after the grace period', async () => {
    const { proc } = await startReady([node, fixture('proc-sleep.mjs'), '--ignore-term']);
    const res = await proc.stop({ graceMs: 200 });
    assert.deepEqual(res, { code: null, signal: 'SIGKILL', forced: true });
    assert.equal(isProcessAlive(proc.pid), false);
  });

  it('SIGKILLs a grandchild that ignores SIGTERM even though the leader exited', async () => {
    const pidFile = join(dir, 'gc2.pid');
    const { proc } = await startReady([
      node,
      fixture('proc-grandchild.mjs'),
      pidFile,
      '--grandchild-ignores-term',
    ]);
    const gc = Number(readFileSync(pidFile, 'utf8'));
    const res = await proc.stop({ graceMs: 300 });
    assert.equal(res.signal, 'SIGTERM'); // the leader itself obeyed
    assert.equal(res.forced, true);
    assert.equal(isProcessAlive(gc), false);
    assert.equal(isProcessGroupAlive(proc.pid), false);
  });

  it('stop after exit and concurrent stops return the same result', async () => {
    const proc = spawnProcess([node, fixture('proc-output.mjs'), '0']);
    await proc.exited;
    const [a, b] = await Promise.all([proc.stop(), proc.stop()]);
    assert.deepEqual(a, { code: 0, signal: null, forced: false });
    assert.equal(a, b);
  });

  it('waitForExit rejects on abort and timeout without stopping the process', async () => {
    const { proc } = await startReady([node, fixture('proc-sleep.mjs')]);
    const ac = new AbortController();
    const waiting = waitForExit(proc, { signal: ac.signal });
    ac.abort(new Error('enough'));
    const err = await waiting.catch((e: unknown) => e);
    assert.ok(err instanceof AbortedError);
    assert.equal((err.cause as Error).message, 'enough');
    await assert.rejects(waitForExit(proc, { timeoutMs: 10 }), TimeoutError);
    assert.equal(isProcessAlive(proc.pid), true);
    await proc.stop({ graceMs: 5000 });
    assert.deepEqual(await waitForExit(proc, { timeoutMs: 5000 }), { code: null, signal: 'SIGTERM' });
  });

  it('a missing program is E_PROCESS naming it', () => {
    assert.throws(
      () => spawnProcess(['marshal-no-such-program-xyz']),
      (e: unknown) =>
        e instanceof MarshalError && e.code === 'E_PROCESS' && /marshal-no-such-program-xyz/.test(e.message),
    );
    assert.throws(
      () => spawnProcess([join(dir, 'nope')], { pdeathsig: true }),
      (e: unknown) => e instanceof MarshalError && e.code === 'E_PROCESS' && /ENOENT/.test(e.message),
    );
  });

  it('a non-executable program is E_PROCESS with EACCES', () => {
    assert.throws(
      () => {
        const file = join(dir, 'not-executable.sh');
        writeFileSync(file, '#!/bin/sh\n', { mode: 0o644 });
        return spawnProcess([file]);
      },
      (e: unknown) => e instanceof MarshalError && e.code === 'E_PROCESS' && /EACCES/.test(e.message),
    );
  });

  it('rejects argv that is empty or not all strings', () => {
    for (const bad of [[], [''], [node, 3], 'node'] as unknown as string[][]) {
      assert.throws(
        () => spawnProcess(bad),
        (e: unknown) => e instanceof MarshalError && e.code === 'E_INVALID_INPUT' && /argv/.test(e.message),
      );
    }
  });
});

describe('pdeathsig', () => {
  /** Starts the intermediary, returns its grandchild's pid once running, then SIGKILLs the intermediary. */
  async function killIntermediary(mode: 'on' | 'off') {
    const { proc, lines } = await startReady([
      node,
      '--import',
      'tsx',
      fixture('proc-pdeathsig-parent.mjs'),
      mode,
    ]);
    const [pid, applied] = (lines[0] ?? '').split(' ');
    process.kill(proc.pid, 'SIGKILL');
    await proc.exited;
    return { child: Number(pid), applied: applied === 'true' };
  }

  it('the child dies when its parent is SIGKILLed', async () => {
    const { child, applied } = await killIntermediary('on');
    assert.equal(applied, true);
    assert.equal(await gone(child), true);
  });

  it('without pdeathsig the child survives its parent (control)', async () => {
    const { child, applied } = await killIntermediary('off');
    assert.equal(applied, false);
    try {
      await sleep(100);
      assert.equal(isProcessAlive(child), true);
    } finally {
      killProcessGroup(child, 'SIGKILL');
    }
    assert.equal(await gone(child), true);
  });
});
