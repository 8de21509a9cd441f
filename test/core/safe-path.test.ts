import assert from 'node:assert/strict';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MarshalError } from '../../src/core/errors.ts';
import { isInside, resolveInside, resolveInsideSync } from '../../src/core/safe-path.ts';

// Layout (all under one mkdtemp):
//   root/            the allowed root; sub/ and file.txt inside
//   root-sibling/    shares the root's name as a prefix: must count as outside
//   outside/         a directory outside the root
let base: string;
let root: string;
let outside: string;
let sibling: string;

before(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'marshal-safe-')));
  root = join(base, 'root');
  outside = join(base, 'outside');
  sibling = join(base, 'root-sibling');
  await mkdir(join(root, 'sub', 'deeper'), { recursive: true });
  await mkdir(outside);
  await mkdir(sibling);
  await writeFile(join(root, 'file.txt'), 'x');
  await writeFile(join(outside, 'secret'), 's');
  await symlink(outside, join(root, 'out')); // absolute link leaving the root
  await symlink('../outside', join(root, 'rel-out')); // relative link leaving the root
  await symlink('/tmp', join(root, 'tmp-link'));
  await symlink('/', join(root, 'slash'));
  await symlink(join(root, 'chain2'), join(root, 'chain1')); // chain1 -> chain2 -> outside
  await symlink(outside, join(root, 'chain2'));
  await symlink(join(outside, 'not-yet'), join(root, 'dangling')); // dangling, target outside
  await symlink(join(root, 'dangling'), join(root, 'dangling-chain'));
  await symlink(join(root, 'loop-b'), join(root, 'loop-a'));
  await symlink(join(root, 'loop-a'), join(root, 'loop-b'));
  await symlink(join(root, 'sub'), join(root, 'in-link')); // stays inside
  await symlink('sub/new-target', join(root, 'in-dangling')); // dangling, target inside
  await symlink(root, join(base, 'root-alias')); // the root reached through a symlink
});

after(async () => {
  await rm(base, { recursive: true, force: true });
});

const attacks: [label: string, path: () => string, reason: RegExp][] = [
  ['parent escape', () => '../etc/passwd', /leaves the root/],
  ['bare ..', () => '..', /leaves the root/],
  ['.. with trailing slash', () => '../', /leaves the root/],
  ['escape after a descent', () => 'a/../../x', /leaves the root/],
  ['deep escape', () => 'sub/deeper/../../../outside/secret', /leaves the root/],
  ['prefix sibling via ..', () => '../root-sibling/x', /leaves the root/],
  ['absolute outside', () => '/etc/passwd', /absolute and outside/],
  ['absolute prefix sibling', () => join(sibling, 'x'), /absolute and outside/],
  ['absolute parent of root', () => base, /absolute and outside/],
  ['NUL byte', () => 'foo\u0000bar', /NUL byte/],
  ['NUL byte after a valid prefix', () => 'file.txt\u0000.json', /NUL byte/],
  ['empty', () => '', /is empty/],
  ['symlink to a dir outside', () => 'out', /through a symlink/],
  ['file through an outside symlink', () => 'out/secret', /through a symlink/],
  ['new file through an outside symlink', () => 'out/new/dir/file', /through a symlink/],
  ['relative symlink outside', () => 'rel-out/secret', /through a symlink/],
  ['symlink to /tmp', () => 'tmp-link/x', /through a symlink/],
  ['symlink to /', () => 'slash/etc/passwd', /through a symlink/],
  ['symlink chain', () => 'chain1/secret', /through a symlink/],
  ['dangling symlink whose target is outside', () => 'dangling', /through a symlink/],
  ['dangling symlink chain', () => 'dangling-chain', /through a symlink/],
  ['symlink loop', () => 'loop-a/x', /symlink loop/],
  [
    'absolute path inside the root but through a symlink',
    () => join(root, 'out', 'secret'),
    /through a symlink/,
  ],
];

const legit: [label: string, path: () => string, expected: () => string][] = [
  ['the root itself (.)', () => '.', () => root],
  ['the root itself (absolute)', () => root, () => root],
  ['existing file', () => 'file.txt', () => join(root, 'file.txt')],
  ['nested new file', () => 'new/dir/deep/file.json', () => join(root, 'new', 'dir', 'deep', 'file.json')],
  ['.. that stays inside', () => 'sub/../file.txt', () => join(root, 'file.txt')],
  ['name starting with ..', () => '..foo', () => join(root, '..foo')],
  ['backslashes are literal on POSIX', () => '..\\..\\x', () => join(root, '..\\..\\x')],
  ['URL-encoded ../ is a literal name', () => '%2e%2e%2f', () => join(root, '%2e%2e%2f')],
  ['double-encoded', () => '%252e%252e%252fetc', () => join(root, '%252e%252e%252fetc')],
  ['redundant separators and dots', () => 'sub/./deeper//x', () => join(root, 'sub', 'deeper', 'x')],
  ['absolute path inside', () => join(root, 'sub', 'new'), () => join(root, 'sub', 'new')],
  ['symlink that stays inside', () => 'in-link/deeper/f', () => join(root, 'in-link', 'deeper', 'f')],
  ['dangling symlink whose target is inside', () => 'in-dangling', () => join(root, 'in-dangling')],
  ['unicode and spaces', () => 'sub/ä b ✓.txt', () => join(root, 'sub', 'ä b ✓.txt')],
];

function isEscape(field: string, shown: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof MarshalError, String(err));
    assert.equal(err.code, 'E_PATH_ESCAPE');
    assert.equal(err.exitCode, 2);
    assert.equal(err.details?.field, field);
    assert.ok(err.message.startsWith(`${field}: path `), err.message);
    assert.ok(err.message.includes(shown), `${err.message} should show ${shown}`);
    return true;
  };
}

for (const [name, resolve] of [
  ['resolveInside', resolveInside],
  ['resolveInsideSync', async (r: string, p: string, o?: { field?: string }) => resolveInsideSync(r, p, o)],
] as const) {
  describe(name, () => {
    for (const [label, path, reason] of attacks) {
      it(`rejects ${label}`, async () => {
        const p = path();
        await assert.rejects(resolve(root, p, { field: 'output' }), (err: unknown) => {
          isEscape('output', JSON.stringify(p).slice(0, 20))(err);
          assert.match((err as Error).message, reason);
          return true;
        });
      });
    }
    for (const [label, path, expected] of legit) {
      it(`accepts ${label}`, async () => {
        assert.equal(await resolve(root, path()), expected());
      });
    }

    it('defaults the field name to "path"', async () => {
      await assert.rejects(resolve(root, '../x'), isEscape('path', '"../x"'));
    });

    it('works when the root itself is reached through a symlink', async () => {
      const alias = join(base, 'root-alias');
      assert.equal(await resolve(alias, 'sub/x'), join(alias, 'sub', 'x'));
      await assert.rejects(resolve(alias, 'out/secret'), /through a symlink/);
    });

    it('works for a root that does not exist yet', async () => {
      const future = join(base, 'future-root');
      assert.equal(await resolve(future, 'a/b'), join(future, 'a', 'b'));
      await assert.rejects(resolve(future, '../root/file.txt'), /leaves the root/);
    });

    it('neutralises control characters in the message (CWE-117)', async () => {
      await assert.rejects(resolve(root, '../\u001b[31mred\nforged log line'), (err: unknown) => {
        assert.ok(err instanceof MarshalError);
        assert.doesNotMatch(err.message, /[\u0000-\u001f]/);
        assert.match(err.message, /\\u001b\[31mred\\nforged/);
        return true;
      });
    });
  });
}

describe('isInside', () => {
  it('is a lexical containment check with segment boundaries', () => {
    assert.equal(isInside('/a/b', '/a/b'), true);
    assert.equal(isInside('/a/b', '/a/b/c/d'), true);
    assert.equal(isInside('/a/b/', '/a/b/c'), true);
    assert.equal(isInside('/a/b', '/a/bc'), false);
    assert.equal(isInside('/a/b', '/a'), false);
    assert.equal(isInside('/a/b', '/a/b/../c'), false);
    assert.equal(isInside('/a/b', '/a/b/..c'), true);
    assert.equal(isInside('/', '/anything'), true);
  });
});
