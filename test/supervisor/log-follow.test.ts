import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { followLines, readLastLines } from '../../src/supervisor/log-follow.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'marshal-logfollow-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Collects followed lines until `count` arrived, driving `steps` in between. */
async function collect(path: string, count: number, steps: Array<() => Promise<void>>): Promise<string[]> {
  const ac = new AbortController();
  const got: string[] = [];
  const bound = setTimeout(() => ac.abort(), 10_000);
  const reader = (async () => {
    for await (const line of followLines(path, { signal: ac.signal, intervalMs: 20, from: 'end' })) {
      got.push(line);
      if (got.length >= count) ac.abort();
    }
  })();
  for (const step of steps) {
    await new Promise((r) => setTimeout(r, 80));
    await step();
  }
  await reader;
  clearTimeout(bound);
  return got;
}

describe('readLastLines', () => {
  it('returns the last n non-empty lines, [] for a missing file', async () => {
    const path = join(dir, 'tail.log');
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} ${'x'.repeat(40)}`);
    await writeFile(path, `${lines.join('\n')}\n\n`);
    assert.deepEqual(await readLastLines(path, 3), lines.slice(-3));
    assert.deepEqual(await readLastLines(path, 4999), lines.slice(-4999));
    assert.deepEqual(await readLastLines(path, 0), []);
    assert.deepEqual(await readLastLines(join(dir, 'nope.log'), 10), []);
  });

  it('keeps a final line without newline and never returns a cut first line', async () => {
    const path = join(dir, 'partial.log');
    await writeFile(path, 'a\nb\nc');
    assert.deepEqual(await readLastLines(path, 2), ['b', 'c']);
    assert.deepEqual(await readLastLines(path, 10), ['a', 'b', 'c']);
    const big = join(dir, 'big.log');
    await writeFile(big, `${'y'.repeat(100)}\nshort\n`);
    assert.deepEqual(await readLastLines(big, 5, { maxBytes: 20 }), ['short']);
  });
});

describe('followLines', () => {
  it('yields appended lines only once complete, and follows a rotation without losing lines', async () => {
    const path = join(dir, 'rot.log');
    await writeFile(path, 'old line before follow\n');
    const got = await collect(path, 5, [
      () => appendFile(path, 'one\ntw'),
      () => appendFile(path, 'o\n'),
      async () => {
        await appendFile(path, 'three (last of old file)\n');
        await rename(path, `${path}.1`);
        await writeFile(path, 'four\n');
      },
      () => appendFile(path, 'five\n'),
    ]);
    assert.deepEqual(got, ['one', 'two', 'three (last of old file)', 'four', 'five']);
  });

  it('waits for a missing file and rereads a truncated one from its start', async () => {
    const path = join(dir, 'late.log');
    const got = await collect(path, 3, [
      () => writeFile(path, 'first\n'),
      () => appendFile(path, 'second\n'),
      async () => {
        await truncate(path, 0);
        await new Promise((r) => setTimeout(r, 60));
        await appendFile(path, 'after truncate\n');
      },
    ]);
    assert.deepEqual(got, ['first', 'second', 'after truncate']);
  });

  it('returns promptly when the signal aborts', async () => {
    const ac = new AbortController();
    const path = join(dir, 'idle.log');
    await writeFile(path, '');
    const reader = (async () => {
      const out: string[] = [];
      for await (const line of followLines(path, { signal: ac.signal, intervalMs: 5000 })) out.push(line);
      return out;
    })();
    setTimeout(() => ac.abort(), 50);
    assert.deepEqual(await reader, []);
  });
});
