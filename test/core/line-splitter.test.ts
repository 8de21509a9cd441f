import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLineSplitter } from '../../src/core/line-splitter.ts';

function split(chunks: (string | Buffer)[], max?: number): string[] {
  const lines: string[] = [];
  const s = createLineSplitter((l) => lines.push(l), max);
  for (const c of chunks) s.push(c);
  s.end();
  s.end();
  return lines;
}

describe('createLineSplitter', () => {
  it('splits LF and CRLF across chunks and keeps the partial last line', () => {
    assert.deepEqual(split(['a\r', '\nb', 'c\n\nd']), ['a', 'bc', '', 'd']);
  });

  it('decodes UTF-8 split inside a character', () => {
    const bytes = Buffer.from('é\n', 'utf8');
    assert.deepEqual(split([bytes.subarray(0, 1), bytes.subarray(1)]), ['é']);
  });

  it('truncates an overlong line once and drops its rest', () => {
    assert.deepEqual(split(['abcdef', 'ghij', 'kl\nok\n'], 4), ['abcd', 'ok']);
    assert.deepEqual(split(['abcdefgh'], 4), ['abcd']);
    assert.deepEqual(split(['abcdefgh\n'], 4), ['abcd']);
    assert.deepEqual(split(['abcd\n'], 4), ['abcd']);
  });

  it('ignores pushes after end', () => {
    const lines: string[] = [];
    const s = createLineSplitter((l) => lines.push(l));
    s.push('x');
    s.end();
    s.push('y\n');
    assert.deepEqual(lines, ['x']);
  });
});
