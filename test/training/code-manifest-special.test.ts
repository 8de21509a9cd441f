/**
 * The code manifest and the node probe on special files: a FIFO in place of a code file is refused
 * as that file's error (never read: reading it would block until the probe timed out), and a file
 * replaced by a symlink leading out of the workdir is that node's and file's error, not a crash.
 * Real probes, run by the real python.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compareManifests, probeCodeManifest } from '../../src/training/code-manifest.ts';
import { probeNode } from '../../src/training/node-probe.ts';

let dir: string;
const node = () => ({
  name: 'alpha',
  host: 'local',
  transport: 'local' as const,
  slots: 1,
  python: '/usr/bin/python3',
  workdir: join(dir, 'wd'),
});
// Far above any real probe's run time: only a probe blocked on the FIFO reaches it.
const timeoutMs = 30_000;

describe('code manifest: special files in place of code', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-manifest-'));
    mkdirSync(join(dir, 'wd'));
    writeFileSync(join(dir, 'wd/train.py'), 'print(1)\n');
    writeFileSync(join(dir, 'outside.py'), 'print(2)\n');
    execFileSync('mkfifo', [join(dir, 'wd/marshal_train.py')]);
    execFileSync('mkfifo', [join(dir, 'wd/fifo_script.py')]);
    symlinkSync('../outside.py', join(dir, 'wd/extra.py'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a FIFO is that file's error and a symlink out of the workdir names node and file", async () => {
    const m = await probeCodeManifest(node(), ['train.py', 'marshal_train.py', 'extra.py'], {
      env: process.env,
      timeoutMs,
    });
    assert.equal(m.error, undefined);
    assert.match(String(m.files?.['train.py']), /^[0-9a-f]{64}$/);
    assert.equal(m.files?.['marshal_train.py'], null);
    assert.equal(m.errors['marshal_train.py'], 'NotARegularFile');
    assert.equal(m.files?.['extra.py'], null);
    assert.match(String(m.errors['extra.py']), /leads outside .* through a symlink/);
    const changes = compareManifests(
      {
        alpha: {
          'train.py': m.files?.['train.py'] ?? null,
          'marshal_train.py': 'a'.repeat(64),
          'extra.py': 'b'.repeat(64),
        },
      },
      [m],
    );
    assert.deepEqual(
      changes.map((c) => [c.node, c.file]),
      [
        ['alpha', 'marshal_train.py'],
        ['alpha', 'extra.py'],
      ],
    );
  });

  it('the node probe refuses a FIFO script instead of blocking on it', async () => {
    const p = await probeNode(node(), 'fifo_script.py', { env: process.env, timeoutMs });
    assert.equal(p.status, 'ok', JSON.stringify(p));
    assert.equal(p.status === 'ok' && p.scriptSha256, null);
    assert.match(p.status === 'ok' ? String(p.scriptError) : '', /not a regular file/);
  });
});
