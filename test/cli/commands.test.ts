import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { commands } from '../../src/cli/commands.ts';
import { runMain } from '../helpers/run-main.ts';

describe('command registry', () => {
  it('loads every command, whose spec has the listed name and summary', async () => {
    for (const entry of commands) {
      const spec = await entry.load();
      assert.equal(spec.name, entry.name);
      assert.equal(spec.summary, entry.summary, `summary of ${entry.name} differs from its spec`);
    }
  });

  it('has unique names', () => {
    const names = commands.map((c) => c.name);
    assert.equal(new Set(names).size, names.length);
  });
});

/**
 * The frame's conventions through real commands, in-process: the number parser, the capped config
 * reader and the --json error document hold whichever command raises them.
 */
describe('conventions through real commands', () => {
  const env = { OPENROUTER_API_KEY: 'sk-test-not-used' };

  it('reports a negative count as out of range for its option, by name', async () => {
    const r = await runMain(['heavy', '--agents', '-3', 'question'], { env });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'marshal: --agents must be an integer from 1 to 64, got "-3"\n');
  });

  it('refuses hex and exponent counts', async () => {
    for (const v of ['0x4', '1e1']) {
      const r = await runMain(['heavy', `--agents=${v}`, 'question'], { env });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--agents must be an integer from 1 to 64, got "[^"]+" \(decimal digits only\)/);
    }
  });

  it('exits 2 at once for -c /dev/urandom and a FIFO, naming the file and why', {
    timeout: 30_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'marshal-commands-'));
    try {
      const fifo = join(dir, 'marshal.yaml');
      assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
      const cases: Array<[string, RegExp]> = [
        ['/dev/urandom', /\/dev\/urandom: config file is not a regular file \(a character device\)/],
        [fifo, /marshal\.yaml: config file is not a regular file \(a FIFO\)/],
      ];
      for (const [file, message] of cases) {
        const r = await runMain(['heavy', '-c', file, 'question'], { env });
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, message);
        const j = await runMain(['heavy', '-c', file, '--json', 'question'], { env });
        assert.equal(j.code, 2);
        assert.equal((JSON.parse(j.stdout) as { error: { code: string } }).error.code, 'E_CONFIG');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('prints "no workspace found" with real line breaks, and as one document with --json', async () => {
    const r = await runMain(['status', '--workspace', '/nonexistent-marshal-ws'], { cwd: tmpdir() });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^marshal: no workspace found; looked at:\n {2}- /);
    const j = await runMain(['status', '--json', '--workspace', '/nonexistent-marshal-ws'], {
      cwd: tmpdir(),
    });
    assert.equal(j.code, 2);
    assert.equal((JSON.parse(j.stdout) as { error: { code: string } }).error.code, 'E_NO_WORKSPACE');
  });
});
