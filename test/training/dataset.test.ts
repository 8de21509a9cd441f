import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readDataset } from '../../src/training/dataset.ts';

let dir: string;

describe('readDataset', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-dataset-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a positive count', async () => {
    assert.deepEqual(await readDataset('120000', dir), {
      source: '120000',
      kind: 'count',
      file: null,
      count: 120_000,
    });
  });

  it('rejects zero, negative and fractional counts with exit 2 naming the dataset setting, not a flag', async () => {
    for (const bad of ['0', '-100', '1.5', '1e30']) {
      await assert.rejects(readDataset(bad, dir), (e: Error & { exitCode?: number }) => {
        assert.match(e.message, /^dataset: /);
        assert.doesNotMatch(e.message, /--/);
        assert.equal(e.exitCode, 2);
        return true;
      });
    }
  });

  it('names the 2^53 - 1 bound when a count is a positive integer but too large', async () => {
    assert.equal((await readDataset('9007199254740991', dir)).count, Number.MAX_SAFE_INTEGER);
    for (const big of ['9007199254740992', '1e16', '1e300']) {
      await assert.rejects(readDataset(big, dir), (e: Error) => {
        assert.match(
          e.message,
          /^dataset: a positive integer number of examples of at most 9007199254740991 \(2\^53 - 1\)/,
        );
        assert.match(e.message, new RegExp(`got "${big}"`));
        return true;
      });
    }
  });

  it('counts non-empty lines of .jsonl/.txt and the array length of .json', async () => {
    writeFileSync(join(dir, 'd.jsonl'), '{"a":1}\n{"a":2}\n\n{"a":3}\n');
    assert.equal((await readDataset('d.jsonl', dir)).count, 3);
    writeFileSync(join(dir, 'd.txt'), 'x\ny');
    writeFileSync(join(dir, 'crlf.txt'), 'a\r\n \t\r\nb\r\n\r\nc');
    assert.equal((await readDataset('crlf.txt', dir)).count, 3);
    assert.equal((await readDataset('d.txt', dir)).kind, 'lines');
    writeFileSync(join(dir, 'd.json'), '[1,2,3,4]');
    assert.deepEqual(await readDataset('d.json', dir), {
      source: 'd.json',
      kind: 'json-array',
      file: join(dir, 'd.json'),
      count: 4,
    });
  });

  it('rejects empty, non-array, missing, unknown-format and non-regular files', {
    timeout: 20_000,
  }, async () => {
    writeFileSync(join(dir, 'e.jsonl'), '\n\n');
    writeFileSync(join(dir, 'o.json'), '{"a":1}');
    writeFileSync(join(dir, 'x.csv'), 'a\n');
    // A FIFO is refused at once, not read (reading it would block until a writer came).
    execFileSync('mkfifo', [join(dir, 'fifo.jsonl')]);
    execFileSync('mkfifo', [join(dir, 'fifo.json')]);
    for (const bad of ['e.jsonl', 'o.json', 'missing.jsonl', 'x.csv', 'fifo.jsonl', 'fifo.json']) {
      await assert.rejects(readDataset(bad, dir), /dataset: /);
    }
  });
});
