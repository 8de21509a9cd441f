import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AbortedError, MarshalError } from '../../src/core/errors.ts';
import { runCommand } from '../../src/core/index.ts';
import { isProcessAlive } from '../../src/core/process-identity.ts';

const fixture = (name: string): string => new URL(`../fixtures/core/${name}`, import.meta.url).pathname;
const node = process.execPath;
const dir = mkdtempSync(join(tmpdir(), 'marshal-run-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('runCommand', () => {
  it('captures stdout, stderr and the exit code', async () => {
    const r = await runCommand([node, fixture('proc-output.mjs'), '4'], { timeoutMs: 20_000 });
    assert.deepEqual(r, {
      code: 4,
      signal: null,
      stdout: 'line one\r\nline two\npartial',
      stderr: 'err line\n',
      timedOut: false,
      truncated: false,
    });
  });

  it('passes cwd and env', async () => {
    const r = await runCommand(
      [node, '-e', 'process.stdout.write(process.cwd() + " " + process.env.MARSHAL_X)'],
      {
        cwd: dir,
        env: { MARSHAL_X: 'yes', PATH: '/usr/bin:/bin' },
      },
    );
    assert.equal(r.stdout, `${dir} yes`);
  });

  it('stops the group on timeout and reports timedOut', async () => {
    const r = await runCommand([node, fixture('proc-sleep.mjs')], { timeoutMs: 50, graceMs: 5000 });
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, 'SIGTERM');
  });

  it('bounds captured output', async () => {
    const r = await runCommand([node, fixture('proc-flood.mjs')], { maxOutputBytes: 100 });
    assert.equal(r.stdout, 'x'.repeat(100));
    assert.equal(r.truncated, true);
    assert.equal(r.code, 0);
  });

  it('reaps what the command left running in its group', async () => {
    const pidFile = join(dir, 'left.pid');
    const r = await runCommand([node, fixture('proc-grandchild.mjs'), pidFile, '--exit-after-ready'], {
      timeoutMs: 20_000,
    });
    assert.equal(r.code, 0);
    assert.equal(isProcessAlive(Number(readFileSync(pidFile, 'utf8'))), false);
  });

  it('on abort, kills the group then rejects with AbortedError', async () => {
    const pidFile = join(dir, 'abort.pid');
    const ac = new AbortController();
    const p = runCommand([node, fixture('proc-grandchild.mjs'), pidFile], {
      signal: ac.signal,
      timeoutMs: 20_000,
    });
    // Abort once the grandchild exists (the fixture writes its pid first).
    for (let i = 0; i < 1000; i++) {
      try {
        readFileSync(pidFile, 'utf8');
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    ac.abort();
    await assert.rejects(p, AbortedError);
    assert.equal(isProcessAlive(Number(readFileSync(pidFile, 'utf8'))), false);
  });

  it('a missing program is E_PROCESS', async () => {
    await assert.rejects(
      runCommand(['marshal-no-such-program-xyz']),
      (e: unknown) => e instanceof MarshalError && e.code === 'E_PROCESS',
    );
  });
});
