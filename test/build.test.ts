import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { filesUnder, swapIn } from '../scripts/swap-in.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

function tree(dir: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
}
const contents = (dir: string): Record<string, string> =>
  Object.fromEntries(filesUnder(dir).map((rel) => [rel, readFileSync(join(dir, rel), 'utf8')]));

describe('swapIn (scripts/build.mjs puts a new build into dist/ with it)', () => {
  let base = '';
  let from = '';
  let to = '';
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'marshal-swap-'));
    from = join(base, 'next');
    to = join(base, 'dist');
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('leaves exactly the new tree: changed files renamed in, unchanged ones untouched, stale ones gone', () => {
    tree(to, { 'index.js': 'old', 'same.js': 'same', 'gone/stale.js': 'stale', 'cli/main.js': 'old main' });
    tree(from, { 'index.js': 'new', 'same.js': 'same', 'cli/main.js': 'new main', 'cli/added.js': 'added' });
    const newIndexInode = statSync(join(from, 'index.js')).ino;
    const sameInode = statSync(join(to, 'same.js')).ino;

    swapIn(from, to);

    assert.deepEqual(contents(to), {
      'cli/added.js': 'added',
      'cli/main.js': 'new main',
      'index.js': 'new',
      'same.js': 'same',
    });
    // A rename, not a rewrite in place: the file a reader opens is always a complete one.
    assert.equal(statSync(join(to, 'index.js')).ino, newIndexInode);
    assert.equal(statSync(join(to, 'same.js')).ino, sameInode);
    assert.equal(existsSync(join(to, 'gone')), false);
    assert.equal(existsSync(from), false);
  });

  it('lets a reader that opened a file before the swap read the old content in full', () => {
    const old = 'x'.repeat(64 * 1024);
    tree(to, { 'big.js': old });
    tree(from, { 'big.js': 'y'.repeat(10) });
    const fd = openSync(join(to, 'big.js'), 'r');
    try {
      swapIn(from, to);
      const buf = Buffer.alloc(old.length + 1);
      assert.equal(readSync(fd, buf, 0, buf.length, 0), old.length);
      assert.equal(buf.subarray(0, old.length).toString(), old);
    } finally {
      closeSync(fd);
    }
    assert.equal(readFileSync(join(to, 'big.js'), 'utf8'), 'y'.repeat(10));
  });

  it('moves the whole tree when there is no dist/ yet', () => {
    tree(from, { 'index.js': 'first', 'cli/main.js': 'main' });
    swapIn(from, to);
    assert.deepEqual(contents(to), { 'cli/main.js': 'main', 'index.js': 'first' });
    assert.equal(existsSync(from), false);
  });
});

describe('scripts/build.mjs', () => {
  it('refuses an unknown option by name, before any work', () => {
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--fast'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'build: unknown option --fast (expected --force, --allow-type-errors)\n');
  });
});
