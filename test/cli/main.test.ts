import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { CommandSpec } from '../../src/cli/command.ts';
import { main, VERSION } from '../../src/cli/main.ts';
import { CORE_ERRORS, MarshalError } from '../../src/core/errors.ts';
import { memoryIo } from '../helpers/memory-io.ts';
import { runCli } from '../helpers/run-cli.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const echo: CommandSpec = {
  name: 'echo',
  summary: 'print its arguments',
  usage: 'echo [options] <words...>',
  options: {
    upper: { type: 'boolean', short: 'u', description: 'upper-case' },
    times: { type: 'string', valueName: 'n', description: 'repeat' },
  },
  positionals: { min: 1, max: 3, names: '<words...>' },
  async run({ values, positionals, io }) {
    const text = positionals.join(' ');
    const n = Number(values.times ?? 1);
    for (let i = 0; i < n; i++) io.stdout.write(`${values.upper ? text.toUpperCase() : text}\n`);
    return 0;
  },
};
const fail: CommandSpec = {
  name: 'grp fail',
  summary: 'fail on purpose',
  usage: 'grp fail',
  options: {},
  async run() {
    throw new MarshalError(CORE_ERRORS.E_LOCKED, 'held by pid 1');
  },
};
const crash: CommandSpec = {
  name: 'grp crash',
  summary: 'throw an unexpected error',
  usage: 'grp crash',
  options: {},
  async run() {
    throw new TypeError('boom\nsecond line');
  },
};
const commands = [echo, fail, crash];

describe('main()', () => {
  it('dispatches a command with options and positionals', async () => {
    const m = memoryIo();
    assert.equal(await main(['echo', '-u', '--times', '2', 'hi', 'there'], m.io, { commands }), 0);
    assert.equal(m.stdout, 'HI THERE\nHI THERE\n');
  });

  it('prints the version', async () => {
    const m = memoryIo();
    assert.equal(await main(['--version'], m.io, { commands }), 0);
    assert.equal(m.stdout, `${pkg.version}\n`);
    assert.equal(VERSION, pkg.version);
  });

  it('lists commands and exit codes in --help', async () => {
    const m = memoryIo();
    assert.equal(await main(['--help'], m.io, { commands }), 0);
    assert.match(m.stdout, /echo\s+print its arguments/);
    assert.match(m.stdout, /grp fail\s+fail on purpose/);
    assert.match(m.stdout, /130\s+interrupted/);
  });

  it('shows command help through --help and help <command>', async () => {
    for (const argv of [
      ['echo', '--help'],
      ['help', 'echo'],
    ]) {
      const m = memoryIo();
      assert.equal(await main(argv, m.io, { commands }), 0);
      assert.match(m.stdout, /Usage: marshal echo/);
      assert.match(m.stdout, /-u, --upper/);
      assert.match(m.stdout, /--times <n>/);
    }
  });

  it('shows a group help for a bare group name', async () => {
    const m = memoryIo();
    assert.equal(await main(['grp'], m.io, { commands }), 2);
    assert.match(m.stderr, /marshal grp <command>/);
    const h = memoryIo();
    assert.equal(await main(['help', 'grp'], h.io, { commands }), 0);
    assert.match(h.stdout, /grp crash/);
  });

  it('exits 2 naming an unknown command and suggesting the closest', async () => {
    const m = memoryIo();
    assert.equal(await main(['ecko', 'x'], m.io, { commands }), 2);
    assert.match(m.stderr, /unknown command "ecko" \(did you mean "echo"\?\)/);
    const g = memoryIo();
    assert.equal(await main(['grp', 'fial'], g.io, { commands }), 2);
    assert.match(g.stderr, /unknown command "grp fial" \(did you mean "grp fail"\?\)/);
  });

  it('exits 2 naming an unknown option and suggesting the closest', async () => {
    const m = memoryIo();
    assert.equal(await main(['echo', '--uper', 'x'], m.io, { commands }), 2);
    assert.match(m.stderr, /unknown option --uper \(did you mean --upper\?\)/);
  });

  it('exits 2 for missing and extra positionals and missing option values', async () => {
    const a = memoryIo();
    assert.equal(await main(['echo'], a.io, { commands }), 2);
    assert.match(a.stderr, /missing <words\.\.\.>/);
    const b = memoryIo();
    assert.equal(await main(['echo', 'a', 'b', 'c', 'd'], b.io, { commands }), 2);
    assert.match(b.stderr, /unexpected argument "d"/);
    const c = memoryIo();
    assert.equal(await main(['echo', 'a', '--times'], c.io, { commands }), 2);
    assert.match(c.stderr, /--times needs a value/);
  });

  it('explains a negative number read as an option', async () => {
    const m = memoryIo();
    assert.equal(await main(['echo', 'a', '--times', '-1'], m.io, { commands }), 2);
    assert.match(m.stderr, /"-1" for --times looks like an option; write --times=-1/);
  });

  it('maps MarshalError codes to exit codes', async () => {
    const m = memoryIo();
    assert.equal(await main(['grp', 'fail'], m.io, { commands }), 6);
    assert.equal(m.stderr, 'marshal: held by pid 1\n');
  });

  it('prints one line and a --debug hint for unexpected errors, the stack with --debug', async () => {
    const m = memoryIo();
    assert.equal(await main(['grp', 'crash'], m.io, { commands }), 1);
    assert.equal(
      m.stderr,
      'marshal: unexpected error: boom\\nsecond line\n  rerun with --debug (or MARSHAL_DEBUG=1) for the stack trace\n',
    );
    const d = memoryIo({ env: { MARSHAL_DEBUG: '1' } });
    assert.equal(await main(['grp', 'crash'], d.io, { commands }), 1);
    assert.match(d.stderr, /TypeError: boom/);
    assert.match(d.stderr, /at /);
  });
});

describe('bin/marshal.js', () => {
  it('prints the package version', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${pkg.version}\n`);
  });

  it('exits 2 and names an unknown command on stderr', async () => {
    const r = await runCli(['nosuch']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "nosuch"/);
    assert.equal(r.stdout, '');
  });

  it('lists the registered commands in --help', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: marshal <command>/);
  });
});
