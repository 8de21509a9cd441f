import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCommand } from '../../src/core/run-command.ts';
import { isSshDestination, prepareCommand, remoteCommand } from '../../src/training/transport.ts';

const PRINT_ARGV =
  'import json, os, sys; print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "x": os.environ.get("X")}))';

describe('transport', () => {
  it('validates ssh destinations: never a leading dash, no shell characters', () => {
    for (const ok of ['host', 'user@host', 'deploy@10.0.0.2', 'a.b-c.example.org'])
      assert.ok(isSshDestination(ok), ok);
    for (const bad of [
      '-oProxyCommand=x',
      'user@-host',
      'host;rm -rf /',
      'us er@host',
      '',
      'host name',
      '@host',
      'u@h@h',
    ]) {
      assert.equal(isSshDestination(bad), false, bad);
    }
  });

  it('quotes every word of the remote command with the core POSIX quoting helper', () => {
    assert.equal(
      remoteCommand('/w d', ['python3', 'a b.py', "it's"], { K: 'v', J: '$x' }),
      `cd '/w d' && exec env K=v 'J=$x' python3 'a b.py' 'it'\\''s'`,
    );
    assert.throws(() => remoteCommand('/w', ['a\0b'], {}), /NUL/);
  });

  it('builds the exact ssh argv', () => {
    const cmd = prepareCommand(
      { host: 'me@gpu1', transport: 'ssh', workdir: '/srv/train' },
      ['python3', 'train.py'],
      {
        RANK: '1',
      },
    );
    assert.deepEqual(cmd.argv, [
      'ssh',
      '-o',
      'BatchMode=yes',
      'me@gpu1',
      '--',
      'cd /srv/train && exec env RANK=1 python3 train.py',
    ]);
    assert.equal(cmd.cwd, undefined);
    assert.throws(() => prepareCommand({ host: '-oEvil', transport: 'ssh', workdir: '/w' }, ['x']), /host/);
  });

  it('the remote command survives a POSIX shell with hostile arguments intact', async () => {
    // What sshd does on the far side: hand the command string to the user's shell.
    const dir = mkdtempSync(join(tmpdir(), 'marshal-transport-'));
    try {
      const hostile = [`$(touch ${dir}/pwned)`, "a'b", '"; exit 1; "', '`id`', 'two words', '*', '\\n'];
      const line = remoteCommand(dir, ['/usr/bin/python3', '-c', PRINT_ARGV, ...hostile], { X: "v'$HOME" });
      const r = await runCommand(['/bin/sh', '-c', line], { timeoutMs: 30_000 });
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.deepEqual(out.argv, hostile);
      assert.equal(out.cwd, dir);
      assert.equal(out.x, "v'$HOME");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs local commands in the node workdir with the extra env, without a shell', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'marshal-transport-'));
    try {
      const cmd = prepareCommand(
        { host: 'local', transport: 'local', workdir: dir },
        ['/usr/bin/python3', '-c', PRINT_ARGV, '$HOME'],
        {
          X: '1',
        },
      );
      const r = await runCommand(cmd.argv, {
        cwd: cmd.cwd,
        env: { ...process.env, ...cmd.env },
        timeoutMs: 30_000,
      });
      const out = JSON.parse(r.stdout);
      assert.deepEqual(out.argv, ['$HOME']);
      assert.equal(out.cwd, dir);
      assert.equal(out.x, '1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
