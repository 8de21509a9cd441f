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
    assert.deepEqual(JSON.parse(r.stdout), { rule: 'trimmed-mean', f: 1, result: [3, 4] });
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
      ['text.json', /text\.json: vector 1, coordinate 1: expected a finite number, got "x"/],
      ['object.json', /object\.json: expected a non-empty JSON array of number arrays/],
      ['broken.json', /broken\.json: not valid JSON/],
      ['huge.json', /huge\.json: vector 1, coordinate 0: expected a finite number/],
      // A FIFO is refused, not read (reading it would block until a writer comes).
      ['fifo.json', /fifo\.json: cannot read it \(not a regular file/],
    ];
    for (const [name, message] of cases) {
      const r = await runMain(['train', 'aggregate', '--rule', 'median', '--f', '0', name], { cwd: dir });
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});
