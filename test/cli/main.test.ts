/**
 * The CLI frame, in-process through `main()` (test/helpers/run-main.ts) for parsing, help and
 * error reporting; real processes only where one is needed (EPIPE, signals, the exit of bin/).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type CommandSpec, numberOption } from '../../src/cli/command.ts';
import { printJson } from '../../src/cli/io.ts';
import { main, VERSION } from '../../src/cli/main.ts';
import { AbortedError, CORE_ERRORS, MarshalError } from '../../src/core/errors.ts';
import { memoryIo } from '../helpers/memory-io.ts';
import { runCli } from '../helpers/run-cli.ts';
import { runMain } from '../helpers/run-main.ts';

const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const echo: CommandSpec = {
  name: 'echo',
  summary: 'print its arguments',
  usage: 'echo [options] <words...>',
  options: {
    upper: { type: 'boolean', short: 'u', description: 'upper-case' },
    times: { type: 'string', short: 't', valueName: 'n', description: 'repeat' },
    json: { type: 'boolean', description: 'print a JSON document' },
  },
  positionals: { min: 1, max: 3, names: '<words...>' },
  async run({ values, positionals, io }) {
    const text = positionals.join(' ');
    const n = numberOption(values, 'times', { min: 1, max: 64, integer: true }) ?? 1;
    if (values.json) {
      printJson(io, { text, n });
      return 0;
    }
    for (let i = 0; i < n; i++) io.stdout.write(`${values.upper ? text.toUpperCase() : text}\n`);
    return 0;
  },
};
const scale: CommandSpec = {
  name: 'scale',
  summary: 'print a factor',
  usage: 'scale --factor <x>',
  options: { factor: { type: 'string', description: 'a factor' } },
  async run({ values, io }) {
    io.stdout.write(`${numberOption(values, 'factor', { min: 0 })}\n`);
    return 0;
  },
};
const fail: CommandSpec = {
  name: 'grp fail',
  summary: 'fail on purpose',
  usage: 'grp fail',
  options: { json: { type: 'boolean', description: 'JSON' } },
  async run() {
    throw new MarshalError(CORE_ERRORS.E_LOCKED, 'held by pid 1', {
      details: { owner: { pid: 1 }, path: '/tmp/x.lock' },
      hint: 'wait for it',
    });
  },
};
const crash: CommandSpec = {
  name: 'grp crash',
  summary: 'throw an unexpected error',
  usage: 'grp crash',
  options: { json: { type: 'boolean', description: 'JSON' } },
  async run() {
    throw new TypeError('boom\nsecond line');
  },
};
const lines: CommandSpec = {
  name: 'grp lines',
  summary: 'fail with a multi-line message',
  usage: 'grp lines',
  options: {},
  async run() {
    throw new MarshalError(CORE_ERRORS.E_USAGE, 'no workspace found; looked at:\n  - /a\n  - /b\x1b[31m');
  },
};
/** Prints its document, then fails in both ways a command may: an exit code, or a throw. */
const partial: CommandSpec = {
  name: 'partial',
  summary: 'print a result document and fail',
  usage: 'partial [--throw]',
  options: {
    json: { type: 'boolean', description: 'JSON' },
    throw: { type: 'boolean', description: 'throw' },
  },
  async run({ values, io }) {
    printJson(io, { answer: null, agents: [] });
    if (values.throw) throw new MarshalError(CORE_ERRORS.E_RUNTIME, 'late failure');
    return 3;
  },
};
/** Waits until its signal aborts, then returns 0 (a clean stop, as `supervise` and `logs -f` do). */
const wait: CommandSpec = {
  name: 'wait',
  summary: 'wait for the signal',
  usage: 'wait [--throw]',
  options: {
    throw: { type: 'boolean', description: 'throw' },
    json: { type: 'boolean', description: 'JSON' },
  },
  async run({ values, signal, io }) {
    io.stderr.write('waiting\n');
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    if (values.throw) throw new AbortedError('stopped');
    return 0;
  },
};
/** Writes lines until its signal aborts, as `logs -f` does. */
const flood: CommandSpec = {
  name: 'flood',
  summary: 'write until stopped',
  usage: 'flood',
  options: {},
  async run({ signal, io }) {
    while (!signal.aborted) {
      io.stdout.write('line\n');
      await new Promise((resolve) => setImmediate(resolve));
    }
    return 0;
  },
};
let ran: string[] = [];
const write: CommandSpec = {
  name: 'write',
  summary: 'write a file',
  usage: 'write --out <file>',
  options: {
    out: { type: 'string', output: true, description: 'output file' },
    json: { type: 'boolean', description: 'JSON' },
  },
  async run({ values }) {
    ran.push(String(values.out));
    return 0;
  },
};
const commands = [echo, scale, fail, crash, lines, partial, wait, write, flood];
/** `main()` in-process over the test commands above. */
const runMainWith = (args: string[], options: Parameters<typeof runMain>[1] = {}) =>
  runMain(args, { ...options, commands });

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'marshal-main-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('main(): dispatch and help', () => {
  it('dispatches a command with options and positionals', async () => {
    const r = await runMainWith(['echo', '-u', '--times', '2', 'hi', 'there']);
    assert.deepEqual(r, { code: 0, stdout: 'HI THERE\nHI THERE\n', stderr: '' });
  });

  it('prints the version', async () => {
    const r = await runMainWith(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${pkg.version}\n`);
    assert.equal(VERSION, pkg.version);
  });

  it('prints the same help on stdout with exit 0 for no arguments, --help, -h and help', async () => {
    const bare = await runMainWith([]);
    assert.equal(bare.code, 0);
    assert.equal(bare.stderr, '');
    assert.match(bare.stdout, /echo\s+print its arguments/);
    assert.match(bare.stdout, /grp fail\s+fail on purpose/);
    assert.match(bare.stdout, /130\s+interrupted/);
    assert.match(bare.stdout, /no arguments: this help, exit 0/);
    for (const argv of [['--help'], ['-h'], ['help']]) {
      assert.deepEqual(await runMainWith(argv), bare, argv.join(' '));
    }
  });

  it('shows command help through --help and help <command>', async () => {
    for (const argv of [
      ['echo', '--help'],
      ['help', 'echo'],
    ]) {
      const r = await runMainWith(argv);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /Usage: marshal echo/);
      assert.match(r.stdout, /-u, --upper/);
      assert.match(r.stdout, /--times <n>/);
    }
  });

  it('shows a group help for a bare group name (exit 2) and on request (exit 0)', async () => {
    const bare = await runMainWith(['grp']);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /marshal grp <command>/);
    for (const argv of [
      ['help', 'grp'],
      ['grp', '--help'],
    ]) {
      const r = await runMainWith(argv);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /grp crash/);
    }
  });

  it('exits 2 naming an unknown command and suggesting the closest', async () => {
    const r = await runMainWith(['ecko', 'x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "ecko" \(did you mean "echo"\?\)/);
    const g = await runMainWith(['grp', 'fial']);
    assert.equal(g.code, 2);
    assert.match(g.stderr, /unknown command "grp fial" \(did you mean "grp fail"\?\)/);
  });

  it('exits 2 naming an unknown option and suggesting the closest', async () => {
    const r = await runMainWith(['echo', '--uper', 'x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option --uper \(did you mean --upper\?\)/);
  });

  it('exits 2 for missing and extra positionals and missing option values', async () => {
    const a = await runMainWith(['echo']);
    assert.equal(a.code, 2);
    assert.match(a.stderr, /missing <words\.\.\.>/);
    const b = await runMainWith(['echo', 'a', 'b', 'c', 'd']);
    assert.equal(b.code, 2);
    assert.match(b.stderr, /unexpected argument "d"/);
    const c = await runMainWith(['echo', 'a', '--times']);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /--times needs a value/);
  });

  it('explains a value that looks like an option', async () => {
    const r = await runMainWith(['echo', 'a', '--times', '--upper']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /"--upper" for --times looks like an option; write --times=--upper/);
  });

  it('maps MarshalError codes to exit codes, message and hint on stderr', async () => {
    const r = await runMainWith(['grp', 'fail']);
    assert.deepEqual(r, { code: 6, stdout: '', stderr: 'marshal: held by pid 1\n  wait for it\n' });
  });

  it('prints the line breaks of a multi-line MarshalError message, neutralising other controls', async () => {
    const r = await runMainWith(['grp', 'lines']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'marshal: no workspace found; looked at:\n  - /a\n  - /b\\e[31m\n');
  });

  it('prints one line and a --debug hint for unexpected errors, the stack with --debug', async () => {
    const r = await runMainWith(['grp', 'crash']);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      'marshal: unexpected error: boom\\nsecond line\n  rerun with --debug (or MARSHAL_DEBUG=1) for the stack trace\n',
    );
    const d = await runMainWith(['grp', 'crash'], { env: { MARSHAL_DEBUG: '1' } });
    assert.equal(d.code, 1);
    assert.match(d.stderr, /TypeError: boom/);
    assert.match(d.stderr, /at /);
  });
});

describe('main(): numbers in options', () => {
  for (const bad of ['0x4', '1e1', '+3', ' 4', '4 ', '4.0', '', 'Infinity', '0b1', '1_000']) {
    it(`refuses ${JSON.stringify(bad)} for a count, naming the option`, async () => {
      const r = await runMainWith(['echo', 'a', `--times=${bad}`]);
      assert.equal(r.code, 2);
      assert.equal(
        r.stderr,
        `marshal: --times must be an integer from 1 to 64, got ${JSON.stringify(bad)} (decimal digits only)\n`,
      );
    });
  }

  for (const argv of [['--times', '-3'], ['-t', '-3'], ['--times=-3']]) {
    it(`reports ${argv.join(' ')} as out of range for --times`, async () => {
      const r = await runMainWith(['echo', 'a', ...argv]);
      assert.equal(r.code, 2);
      assert.equal(r.stderr, 'marshal: --times must be an integer from 1 to 64, got "-3"\n');
    });
  }

  it('accepts decimal numbers and refuses exponents for a real-valued option', async () => {
    assert.equal((await runMainWith(['scale', '--factor', '0.25'])).stdout, '0.25\n');
    assert.equal((await runMainWith(['scale', '--factor', '.5'])).stdout, '0.5\n');
    const e = await runMainWith(['scale', '--factor', '1e3']);
    assert.equal(e.code, 2);
    assert.match(e.stderr, /--factor must be a number >= 0, got "1e3" \(plain decimal notation only\)/);
    const n = await runMainWith(['scale', '--factor', '-0.5']);
    assert.equal(n.stderr, 'marshal: --factor must be a number >= 0, got "-0.5"\n');
  });

  it('reports the range in the --json error document', async () => {
    const r = await runMainWith(['echo', 'a', '--times', '-3', '--json']);
    assert.equal(r.code, 2);
    assert.deepEqual(JSON.parse(r.stdout), {
      error: {
        code: 'E_INVALID_INPUT',
        message: '--times must be an integer from 1 to 64, got "-3"',
        field: '--times',
        value: '-3',
        reason: 'out_of_range',
        min: 1,
        max: 64,
        integer: true,
      },
    });
  });
});

describe('main(): --json errors', () => {
  it('prints exactly one error document on stdout, with the exit code of the human run', async () => {
    const human = await runMainWith(['grp', 'fail']);
    const r = await runMainWith(['grp', 'fail', '--json']);
    assert.equal(r.code, human.code);
    assert.deepEqual(JSON.parse(r.stdout), {
      error: {
        code: 'E_LOCKED',
        message: 'held by pid 1',
        owner: { pid: 1 },
        path: '/tmp/x.lock',
        hint: 'wait for it',
      },
    });
    assert.equal(r.stderr, human.stderr, 'stderr keeps the human lines');
  });

  it('covers usage errors found while parsing, unknown commands and unexpected errors', async () => {
    const cases: Array<[string[], number, Record<string, unknown>]> = [
      [
        ['echo', '--uper', 'x', '--json'],
        2,
        { code: 'E_UNKNOWN_OPTION', option: '--uper', suggestion: '--upper' },
      ],
      [['--json', 'ecko'], 2, { code: 'E_UNKNOWN_OPTION', option: '--json' }],
      [['ecko', '--json'], 2, { code: 'E_UNKNOWN_COMMAND', command: 'ecko', suggestion: 'echo' }],
      [['echo', '--json'], 2, { code: 'E_USAGE' }],
      [['grp', '--json'], 2, { code: 'E_USAGE', group: 'grp' }],
      [['grp', 'crash', '--json'], 1, { code: 'E_INTERNAL', message: 'unexpected error: boom\nsecond line' }],
    ];
    for (const [argv, code, expected] of cases) {
      const r = await runMainWith(argv);
      assert.equal(r.code, code, argv.join(' '));
      const doc = JSON.parse(r.stdout) as { error: Record<string, unknown> };
      assert.deepEqual(Object.keys(doc), ['error'], argv.join(' '));
      assert.equal(typeof doc.error.message, 'string');
      for (const [k, v] of Object.entries(expected))
        assert.deepEqual(doc.error[k], v, `${argv.join(' ')}: ${k}`);
      assert.equal((await runMainWith(argv.filter((a) => a !== '--json'))).code, code, 'same exit code');
    }
  });

  it('prints nothing more when the command printed its own document, returned or thrown', async () => {
    const returned = await runMainWith(['partial', '--json']);
    assert.equal(returned.code, 3);
    assert.deepEqual(JSON.parse(returned.stdout), { answer: null, agents: [] });
    const thrown = await runMainWith(['partial', '--json', '--throw']);
    assert.equal(thrown.code, 1);
    assert.deepEqual(JSON.parse(thrown.stdout), { answer: null, agents: [] });
    assert.equal(thrown.stderr, 'marshal: late failure\n');
  });

  it('leaves stdout alone without --json, and after -- (an argument, not the option)', async () => {
    assert.equal((await runMainWith(['grp', 'fail'])).stdout, '');
    assert.equal((await runMainWith(['nosuch', '--', '--json'])).stdout, '');
  });
});

describe('main(): interrupts give 130', () => {
  it('when the signal is aborted before the command starts', async () => {
    const r = await runMainWith(['echo', 'a'], { signal: AbortSignal.abort(new Error('received SIGINT')) });
    assert.equal(r.code, 130);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'marshal: interrupted\n');
  });

  it('when the command stops cleanly and returns 0 after the abort', async () => {
    const ac = new AbortController();
    const pending = runMainWith(['wait'], { signal: ac.signal });
    setImmediate(() => ac.abort(new Error('received SIGINT')));
    const r = await pending;
    assert.equal(r.code, 130);
    assert.equal(r.stderr, 'waiting\n');
  });

  it('when the command throws an AbortedError, with the E_ABORTED document under --json', async () => {
    const ac = new AbortController();
    const pending = runMainWith(['wait', '--throw', '--json'], { signal: ac.signal });
    setImmediate(() => ac.abort(new Error('received SIGTERM')));
    const r = await pending;
    assert.equal(r.code, 130);
    assert.deepEqual(JSON.parse(r.stdout), { error: { code: 'E_ABORTED', message: 'interrupted' } });
  });
});

describe('main(): output files are checked before the command runs', () => {
  it('exits 2 for a missing directory, a directory target or a path under a file, without running', async () => {
    ran = [];
    await mkdir(join(dir, 'adir'));
    const cases: Array<[string, RegExp]> = [
      [join(dir, 'no-such-dir', 'out.json'), /--out: cannot write .*out\.json: its directory does not exist/],
      [join(dir, 'adir'), /--out: cannot write .*adir: it is a directory/],
      ['/dev/null/x', /--out: cannot write \/dev\/null\/x: a parent of it is not a directory/],
    ];
    for (const [path, message] of cases) {
      const r = await runMainWith(['write', '--out', path]);
      assert.equal(r.code, 2, path);
      assert.match(r.stderr, message);
      const j = await runMainWith(['write', '--out', path, '--json']);
      assert.equal((JSON.parse(j.stdout) as { error: { option: string } }).error.option, '--out');
    }
    assert.deepEqual(ran, []);
  });

  it('runs the command for a writable path, relative to io.cwd', async () => {
    ran = [];
    await writeFile(join(dir, 'existing.json'), '{}');
    assert.equal((await runMainWith(['write', '--out', 'fresh.json'], { cwd: dir })).code, 0);
    assert.equal((await runMainWith(['write', '--out', 'existing.json'], { cwd: dir })).code, 0);
    assert.deepEqual(ran, ['fresh.json', 'existing.json']);
  });
});

describe('main(): a closed stdout', () => {
  /** A stdout whose reader is gone: every write fails with EPIPE, as a pipe into `head` does. */
  const closedPipe = () =>
    new Writable({
      write(_chunk, _encoding, callback) {
        callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });

  it('ends a command quietly with exit 0, and aborts one that keeps writing', async () => {
    for (const argv of [['echo', 'a'], ['flood'], ['echo', 'a', '--json']]) {
      const m = memoryIo({ stdout: closedPipe() });
      assert.equal(await main(argv, m.io, { commands }), 0, argv.join(' '));
      assert.equal(m.stderr, '', argv.join(' '));
    }
  });

  it('keeps the exit code of a failure whose error document can no longer be written', async () => {
    const m = memoryIo({ stdout: closedPipe() });
    assert.equal(await main(['grp', 'fail', '--json'], m.io, { commands }), 6);
    assert.equal(m.stderr, 'marshal: held by pid 1\n  wait for it\n');
  });
});

/** main() from the sources in a real process, with real streams and signals (as bin/ does from dist/). */
const DRIVER = fileURLToPath(new URL('../fixtures/cli/main-driver.ts', import.meta.url));
const driverArgv = (args: string[]) => ['--import', 'tsx', DRIVER, ...args];
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Spawns the driver with stdout a pipe whose read end is closed at once: every write gets EPIPE. */
function runWithClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, driverArgv(args), {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('real processes', () => {
  it('bin/marshal.js prints the package version', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${pkg.version}\n`);
  });

  for (const args of [['--help'], ['train', 'schema']]) {
    it(`ends quietly with exit 0 when stdout is closed early: marshal ${args.join(' ')}`, async () => {
      const r = await runWithClosedStdout(args);
      assert.equal(r.stderr, '');
      assert.equal(r.code, 0);
    });
  }

  it('exits 130 on SIGINT from a long-running command (logs -f)', async () => {
    const ws = await mkdtemp(join(dir, 'ws-'));
    await mkdir(join(ws, '.metadata'));
    await writeFile(join(ws, '.metadata', 'supervisor-switch.log'), 'first line\n');
    const child = spawn(process.execPath, driverArgv(['logs', '-f', '--workspace', ws]), {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    // The first line is printed once the command runs, with the SIGINT handler installed.
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString();
        if (stdout.includes('first line')) resolve();
      });
    });
    child.kill('SIGINT');
    assert.equal(await closed, 130, stderr);
  });
});
