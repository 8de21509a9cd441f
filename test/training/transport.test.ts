import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { spawnProcess, waitForExit } from '../../src/core/process.ts';
import { runCommand } from '../../src/core/run-command.ts';
import {
  isSshDestination,
  prepareCommand,
  remoteCommand,
  sshCommand,
  TIE_PROGRAM,
} from '../../src/training/transport.ts';

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
      '-o',
      'ConnectTimeout=10',
      '-o',
      'ServerAliveInterval=5',
      '-o',
      'ServerAliveCountMax=3',
      'me@gpu1',
      '--',
      'cd /srv/train && exec env RANK=1 python3 train.py',
    ]);
    assert.equal(cmd.cwd, undefined);
    assert.equal(cmd.stdin, 'ignore');
    // The cluster's ssh section: its ssh_config first (-F), then marshal's options (which win over it).
    const ssh = {
      config: '/etc/marshal/ssh config',
      connect_timeout_s: 3,
      server_alive_interval_s: 1,
      server_alive_count_max: 2,
    };
    assert.deepEqual(
      prepareCommand({ host: 'h0', transport: 'ssh', workdir: '/w', ssh }, ['true']).argv.slice(0, 11),
      [
        'ssh',
        '-F',
        '/etc/marshal/ssh config',
        '-o',
        'BatchMode=yes',
        '-o',
        'ConnectTimeout=3',
        '-o',
        'ServerAliveInterval=1',
        '-o',
        'ServerAliveCountMax=2',
      ],
    );
    assert.deepEqual(
      sshCommand(ssh),
      prepareCommand({ host: 'h0', transport: 'ssh', workdir: '/w', ssh }, ['x']).argv.slice(0, 11),
    );
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

  it('a tied command runs under a supervisor that stops its whole group when stdin ends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'marshal-transport-'));
    try {
      const cmd = prepareCommand(
        { host: 'h0', transport: 'ssh', workdir: dir },
        ['/usr/bin/python3', 'r.py'],
        {},
        {
          tie: { python: '/usr/bin/python3', graceS: 2 },
        },
      );
      assert.equal(cmd.stdin, 'pipe');
      // What the node's shell runs: the command after `--`.
      const line = cmd.argv.at(-1)!;
      assert.ok(line.startsWith(`cd ${dir} && exec /usr/bin/python3 -c `), line);
      assert.ok(line.endsWith(` 2 /usr/bin/python3 r.py`), line);
      // r.py starts a grandchild and sleeps; both must go when the supervisor's stdin closes.
      writeFileSync(
        join(dir, 'r.py'),
        'import subprocess, time\np = subprocess.Popen(["sleep", "300"])\nopen("pids", "w").write(str(p.pid))\ntime.sleep(300)\n',
      );
      const proc = spawnProcess(['/bin/sh', '-c', line], { stdin: 'pipe' });
      const pids = join(dir, 'pids');
      for (let i = 0; i < 600 && !existsSync(pids); i++) await new Promise((r) => setTimeout(r, 50));
      const grandchild = Number(readFileSync(pids, 'utf8'));
      assert.ok(grandchild > 0);
      proc.stdin!.end();
      const exit = await waitForExit(proc, { timeoutMs: 30_000 });
      assert.equal(
        exit.code,
        128 + 15,
        'the rank was stopped by SIGTERM and the supervisor reports 128 + 15',
      );
      // Gone, or a zombie its new parent has not reaped yet.
      const state = existsSync(`/proc/${grandchild}/stat`)
        ? readFileSync(`/proc/${grandchild}/stat`, 'utf8').split(') ')[1]?.[0]
        : 'gone';
      assert.ok(state === 'gone' || state === 'Z', `grandchild state ${state}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a tied command passes its exit status through', async () => {
    // stdin stays open (a pipe): at EOF the supervisor would stop the command instead.
    const proc = spawnProcess(
      ['/usr/bin/python3', '-c', TIE_PROGRAM, '1', '/usr/bin/python3', '-c', 'raise SystemExit(7)'],
      {
        stdin: 'pipe',
      },
    );
    const exit = await waitForExit(proc, { timeoutMs: 30_000 });
    proc.stdin!.end();
    assert.equal(exit.code, 7);
  });
});
