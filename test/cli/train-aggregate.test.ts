import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runMain } from '../helpers/run-main.ts';

describe('marshal train aggregate', () => {
  let dir = '';
  const file = (name: string) => join(dir, name);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'marshal-aggregate-'));
    await writeFile(
      file('ok.json'),
      JSON.stringify([
        [1, 2],
        [2, 3],
        [3, 4],
        [4, 5],
        [100, 100],
      ]),
    );
    await writeFile(file('ragged.json'), JSON.stringify([[1, 2], [2, 3], [3]]));
    await writeFile(
      file('text.json'),
      JSON.stringify([
        [1, 2],
        [2, 'x'],
      ]),
    );
    await writeFile(file('object.json'), JSON.stringify({ vectors: [] }));
    await writeFile(file('broken.json'), '[[1, 2], [3');
    await writeFile(file('huge.json'), '[[1, 2], [1e999, 3]]');
    execFileSync('mkfifo', [file('fifo.json')]);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('--json prints one document with the rule, f, result, selection and scores', async () => {
    const r = await runMain(['train', 'aggregate', '--rule', 'krum', '--f', '1', 'ok.json', '--json'], {
      cwd: dir,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      rule: 'krum',
      f: 1,
      result: [2, 3],
      nonFinite: [],
      selected: [1],
      scores: [10, 4, 4, 10, 36866],
    });
  });

  it('--json for a coordinate-wise rule has no selection', async () => {
    const r = await runMain([
      'train',
      'aggregate',
      '--rule',
      'trimmed-mean',
      '--f=1',
      file('ok.json'),
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { rule: 'trimmed-mean', f: 1, result: [3, 4], nonFinite: [] });
  });

  it('prints a short human summary', async () => {
    const r = await runMain(
      ['train', 'aggregate', '--rule', 'multi-krum', '--f', '1', '--m', '2', 'ok.json'],
      {
        cwd: dir,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /multi-krum over 5 vectors of length 2, tolerating f = 1/);
    assert.match(r.stdout, /selected: 1 \(score 4\), 2 \(score 4\)/);
    assert.match(r.stdout, /result: \[2\.5, 3\.5\]/);
    assert.doesNotMatch(r.stdout, /\x1b\[/);
  });

  it('exits 2 naming the option and value for bad numbers and rules', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--rule', 'krum', '--f=-1'], /--f must be an integer >= 0, got "-1"/],
      [['--rule', 'krum', '--f', '-1'], /--f must be an integer >= 0, got "-1"/],
      [['--rule', 'krum', '--f', 'two'], /--f must be an integer >= 0, got "two"/],
      [['--rule', 'krum', '--f', '1.5'], /--f must be an integer >= 0, got "1.5"/],
      [['--rule', 'multi-krum', '--f', '1', '--m', '0'], /--m must be an integer >= 1, got "0"/],
      [['--rule', 'bogus', '--f', '1'], /--rule must be one of mean, median, .*, got "bogus"/],
      [['--f', '1'], /missing --rule/],
      [['--rule', 'krum'], /missing --f/],
    ];
    for (const [args, message] of cases) {
      const r = await runMain(['train', 'aggregate', ...args, 'ok.json'], { cwd: dir });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
  });

  it('refuses a rule-specific option the rule does not read, and --nu 0, naming option and value', async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['--rule', 'mean', '--f', '0', '--nu', '0.1'],
        /--nu applies to geometric-median only, not --rule mean \(got --nu 0\.1\)/,
      ],
      [
        ['--rule', 'krum', '--f', '1', '--tau', '1'],
        /--tau applies to centered-clipping only, not --rule krum/,
      ],
      [
        ['--rule', 'median', '--f', '1', '--iterations', '5'],
        /--iterations applies to geometric-median and centered-clipping only/,
      ],
      [
        ['--rule', 'centered-clipping', '--f', '1', '--tolerance', '0.1'],
        /--tolerance applies to geometric-median only/,
      ],
      [['--rule', 'median', '--f', '1', '--trim', '1'], /--trim applies to trimmed-mean only/],
      [
        ['--rule', 'geometric-median', '--f', '1', '--nu', '0'],
        /--nu must be a positive finite number \(> 0\), got "0"/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await runMain(['train', 'aggregate', ...args, 'ok.json'], { cwd: dir });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
  });

  it('exits 2 naming the rule and condition when a precondition fails', async () => {
    const r = await runMain(['train', 'aggregate', '--rule', 'krum', '--f', '2', 'ok.json', '--json'], {
      cwd: dir,
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /krum: requires n >= 2f \+ 3, got n = 5, f = 2 \(needs n >= 7\)/);
    // --json: the error is the one JSON document on stdout.
    const doc = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    assert.equal(doc.error.code, 'E_AGGREGATION_PRECONDITION');
    assert.match(doc.error.message, /^krum: requires n >= 2f \+ 3/);
  });

  it('exits 2 naming the file, the vector and the problem for bad vector files', {
    timeout: 20_000,
  }, async () => {
    const cases: Array<[string, RegExp]> = [
      ['missing.json', /missing\.json: no such file/],
      ['ragged.json', /ragged\.json: vector 2 has length 1, vector 0 has length 2/],
      ['text.json', /text\.json: vector 1, coordinate 1: expected a number, got "x"/],
      ['object.json', /object\.json: expected a non-empty JSON array of number arrays/],
      ['broken.json', /broken\.json: not valid JSON/],
      // A FIFO is refused, not read (reading it would block until a writer comes).
      ['fifo.json', /fifo\.json: cannot read it \(not a regular file/],
    ];
    for (const [name, message] of cases) {
      const r = await runMain(['train', 'aggregate', '--rule', 'median', '--f', '0', name], { cwd: dir });
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  it('reads the vectors from stdin with -', async () => {
    const r = await runMain(['train', 'aggregate', '--rule', 'median', '--f', '1', '-', '--json'], {
      stdinText: JSON.stringify([[1], [2], [100]]),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).result, [2]);
    const bad = await runMain(['train', 'aggregate', '--rule', 'median', '--f', '1', '-'], {
      stdinText: '[[1], [2',
    });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /stdin: not valid JSON/);
  });

  it('a number outside the float64 range names its vector and coordinate; --strict refuses it', async () => {
    const text = '[[1, 2], [2, 3], [3, 4], [1e400, 5], [4, 5]]';
    const r = await runMain(['train', 'aggregate', '--rule', 'krum', '--f', '1', '-', '--json'], {
      stdinText: text,
    });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(doc.nonFinite, [3]);
    assert.equal(doc.scores[3], null);
    assert.ok(!doc.selected.includes(3));
    assert.match(
      r.stderr,
      /vector 3, coordinate 0: outside the float64 range \(Infinity\); counted as Byzantine/,
    );
    const strict = await runMain(['train', 'aggregate', '--rule', 'krum', '--f', '1', '--strict', '-'], {
      stdinText: text,
    });
    assert.equal(strict.code, 2);
    assert.match(strict.stderr, /stdin: vector 3, coordinate 0: the number is outside the float64 range/);
    const file = await runMain(
      ['train', 'aggregate', '--rule', 'median', '--f', '0', 'huge.json', '--strict'],
      {
        cwd: dir,
      },
    );
    assert.equal(file.code, 2);
    assert.match(file.stderr, /huge\.json: vector 1, coordinate 0: the number is outside the float64 range/);
    const noRoom = await runMain(['train', 'aggregate', '--rule', 'median', '--f', '0', 'huge.json'], {
      cwd: dir,
    });
    assert.equal(noRoom.code, 2);
    assert.match(noRoom.stderr, /median: 1 inputs have non-finite values \(vectors 1\), more than f = 0/);
  });

  it('passes the geometric median and centered clipping parameters through', async () => {
    const gm = await runMain(
      [
        'train',
        'aggregate',
        '--rule',
        'geometric-median',
        '--f',
        '1',
        '--nu',
        '0.5',
        '--iterations',
        '2',
        'ok.json',
        '--json',
      ],
      { cwd: dir },
    );
    assert.equal(gm.code, 0, gm.stderr);
    const g = JSON.parse(gm.stdout);
    assert.equal(g.nu, 0.5);
    assert.equal(g.iterations, 2);
    const cc = await runMain(
      [
        'train',
        'aggregate',
        '--rule',
        'centered-clipping',
        '--f',
        '1',
        '--tau',
        '0.25',
        '--iterations',
        '1',
        'ok.json',
        '--json',
      ],
      { cwd: dir },
    );
    assert.equal(cc.code, 0, cc.stderr);
    const c = JSON.parse(cc.stdout);
    assert.equal(c.tau, 0.25);
    assert.equal(c.iterations, 1);
    const help = await runMain(['train', 'aggregate', '--help']);
    assert.match(help.stdout, /--tolerance <r> .*\(default: 0\.000000001\)/);
    assert.match(help.stdout, /--nu <r>/);
    const bad = await runMain(
      ['train', 'aggregate', '--rule', 'geometric-median', '--f', '1', '--nu', '0', 'ok.json'],
      {
        cwd: dir,
      },
    );
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /nu must be a positive finite number/);
  });
});
