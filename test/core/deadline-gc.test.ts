/**
 * Deadlines under real garbage-collection pressure (issue 8, section 1): a child process churns
 * allocations and calls gc() all along, and each bounded wait must still end. On Node 20 the old
 * `AbortSignal.any([signal, AbortSignal.timeout(ms)])` (core's former `timeoutSignal`) loses its
 * timeout here and the first case gives up instead (nodejs/node#57736).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('../fixtures/core/gc-deadline.ts', import.meta.url));
/** Far past the fixture's 300 ms deadlines: reaching it means the deadline never fired. */
const GIVE_UP_MS = 10_000;

function runCase(which: string): Promise<{ case: string; aborted: boolean; reason?: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', FIXTURE, which, String(GIVE_UP_MS)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`fixture exited ${code}: ${err}`));
      else resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{}'));
    });
  });
}

describe('deadlines under GC pressure', () => {
  it('a deadline linked to a controller signal aborts with its TimeoutError', async () => {
    assert.deepEqual(await runCase('deadline'), { case: 'deadline', aborted: true, reason: 'TimeoutError' });
  });

  it('waitHealthy against a server that never becomes healthy ends at its timeout', async () => {
    assert.deepEqual(await runCase('waitHealthy'), { case: 'waitHealthy', aborted: true, reason: 'timeout' });
  });
});
