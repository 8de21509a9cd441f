import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readFileTool, writeFileTool } from '../../src/agents/tools/file-tools.ts';
import { MarshalError } from '../../src/core/errors.ts';

let root: string;
let workspace: string;
let outside: string;
const ctx = () => ({ signal: new AbortController().signal, workspace });

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'marshal-file-tools-'));
  workspace = join(root, 'ws');
  outside = join(root, 'outside');
  await mkdir(workspace);
  await mkdir(outside);
  await writeFile(join(outside, 'secret.txt'), 'SECRET');
  await symlink(outside, join(workspace, 'link-out'));
  await symlink(join(outside, 'secret.txt'), join(workspace, 'secret-link.txt'));
  await writeFile(join(workspace, 'lines.txt'), 'one\ntwo\nthree\nfour\nfive');
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function rejectsWith(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof MarshalError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  };
}

describe('read_file', () => {
  const read = () => readFileTool(workspace);

  it('reads UTF-8 text with the original result shape, and head/tail lines', async () => {
    assert.deepEqual(JSON.parse(await read().execute({ path: 'lines.txt' }, ctx())), {
      path: 'lines.txt',
      content: 'one\ntwo\nthree\nfour\nfive',
      success: true,
    });
    assert.equal(JSON.parse(await read().execute({ path: 'lines.txt', head: 2 }, ctx())).content, 'one\ntwo');
    assert.equal(
      JSON.parse(await read().execute({ path: './lines.txt', tail: 2 }, ctx())).content,
      'four\nfive',
    );
    assert.equal(read().parameters.safeParse({ path: 'x', head: 1, tail: 1 }).success, false);
    assert.equal(read().parameters.safeParse({ path: 'x', head: 0 }).success, false);
  });

  for (const [label, path, pattern] of [
    ['..', '../outside/secret.txt', /leaves the workspace/],
    ['absolute', '/etc/passwd', /absolute and outside/],
    ['a symlinked directory', 'link-out/secret.txt', /symlink/],
    ['a symlinked file', 'secret-link.txt', /symlink/],
    ['a NUL byte', 'lines.txt\0', /NUL/],
  ] as const) {
    it(`refuses ${label}`, async () => {
      await assert.rejects(read().execute({ path }, ctx()), rejectsWith('E_PATH_ESCAPE', pattern));
    });
  }

  it('reports missing files, directories and binary files', async () => {
    await assert.rejects(
      read().execute({ path: 'nope.txt' }, ctx()),
      rejectsWith('E_TOOL', /file not found: nope\.txt/),
    );
    await mkdir(join(workspace, 'dir'), { recursive: true });
    await assert.rejects(read().execute({ path: 'dir' }, ctx()), rejectsWith('E_TOOL', /not a regular file/));
    await writeFile(join(workspace, 'bin.dat'), Buffer.from([0xff, 0xfe, 0x00, 0xc3]));
    await assert.rejects(
      read().execute({ path: 'bin.dat' }, ctx()),
      rejectsWith('E_TOOL', /not a UTF-8 text file/),
    );
  });

  it('truncates files over the cap with a note, without breaking a multi-byte character', async () => {
    await writeFile(join(workspace, 'big.txt'), 'ab€€€€');
    const out = JSON.parse(
      await readFileTool(workspace, { maxReadBytes: 4 }).execute({ path: 'big.txt' }, ctx()),
    );
    assert.equal(out.content, 'ab');
    assert.match(out.note, /file is 14 bytes; only the first 4 bytes were read/);
  });
});

describe('write_file', () => {
  const write = (limit?: number) =>
    writeFileTool(workspace, limit === undefined ? {} : { maxWriteBytes: limit });

  it('writes atomically, creating parents, and appends', async () => {
    const out = JSON.parse(await write().execute({ path: 'a/b/c.txt', content: 'héllo' }, ctx()));
    assert.deepEqual(out, { path: 'a/b/c.txt', bytes_written: 6, success: true, message: 'Wrote a/b/c.txt' });
    await write().execute({ path: 'a/b/c.txt', content: ' world', append: true }, ctx());
    assert.equal(await readFile(join(workspace, 'a/b/c.txt'), 'utf8'), 'héllo world');
    await write().execute({ path: 'a/b/c.txt', content: 'replaced' }, ctx());
    assert.equal(await readFile(join(workspace, 'a/b/c.txt'), 'utf8'), 'replaced');
    // No temp files are left behind.
    assert.deepEqual(await readdir(join(workspace, 'a/b')), ['c.txt']);
  });

  it('refuses escapes; nothing is written outside', async () => {
    for (const path of [
      '../outside/x.txt',
      join(outside, 'y.txt'),
      'link-out/z.txt',
      'link-out/new/dir/z.txt',
    ]) {
      await assert.rejects(
        write().execute({ path, content: 'pwned' }, ctx()),
        rejectsWith('E_PATH_ESCAPE', /path/),
      );
    }
    assert.deepEqual((await readdir(outside)).sort(), ['secret.txt']);
    assert.equal(await readFile(join(outside, 'secret.txt'), 'utf8'), 'SECRET');
  });

  it('enforces the size limit, also on append', async () => {
    await assert.rejects(
      write(5).execute({ path: 'big.txt', content: '123456' }, ctx()),
      rejectsWith('E_TOOL', /6 bytes; the limit is 5/),
    );
    await write(5).execute({ path: 'small.txt', content: '123' }, ctx());
    await assert.rejects(
      write(5).execute({ path: 'small.txt', content: '456', append: true }, ctx()),
      rejectsWith('E_TOOL', /would be 6 bytes/),
    );
    assert.equal(await readFile(join(workspace, 'small.txt'), 'utf8'), '123');
  });
});
