import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
  exports: Record<string, unknown>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

// The subpath exports point at the compiled dist/, which scripts/run-tests.mjs brings up to date
// before any test runs (scripts/build.mjs), so this checks the current code.
before(() => {
  assert.ok(existsSync(join(root, 'dist', 'index.js')), 'dist/ is missing: run npm run build');
});

/** Imports a subpath of this package by name (package self-reference), as a user would. */
async function load(subpath: string): Promise<Record<string, unknown>> {
  const specifier = subpath === '.' ? 'marshal-kit' : `marshal-kit/${subpath.slice(2)}`;
  return (await import(specifier)) as Record<string, unknown>;
}

const expected: Record<string, string[]> = {
  '.': [
    'main',
    'VERSION',
    'MarshalError',
    'loadConfigFile',
    'writeJsonAtomic',
    'acquireLock',
    'spawnProcess',
    'waitHealthy',
  ],
  './agents': ['runHeavy', 'runAgent', 'createOpenAICompatibleModel', 'ToolRegistry', 'createBuiltinTools'],
  './testing': ['startFakeOpenAIServer', 'createScriptedModel'],
  './supervisor': ['startSupervisor', 'findWorkspace', 'loadEnvironment', 'transition'],
  './training': ['shard', 'chunk', 'aggregate', 'buildPlan', 'preflight'],
};

describe('package exports', () => {
  it('declares exactly the documented subpaths', () => {
    assert.deepEqual(
      Object.keys(pkg.exports)
        .filter((k) => k !== './package.json')
        .sort(),
      Object.keys(expected).sort(),
    );
  });

  for (const [subpath, names] of Object.entries(expected)) {
    it(`${subpath} loads from dist and exports its API`, async () => {
      const mod = await load(subpath);
      for (const name of names) assert.ok(name in mod, `${subpath} lacks ${name}`);
    });
  }
});

/** The packages that the TypeScript sources under `dir` import (bare specifiers, no built-ins). */
function importedPackages(dir: string): Set<string> {
  const out = new Set<string>();
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, e.name);
    if (e.isDirectory()) {
      for (const p of importedPackages(full)) out.add(p);
      continue;
    }
    if (!e.name.endsWith('.ts')) continue;
    const text = readFileSync(full, 'utf8');
    for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)'([^'\s]+)'/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('.') || spec.startsWith('node:')) continue;
      out.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return out;
}

describe('package manifest', () => {
  it('is marshal-kit with the marshal binary', () => {
    assert.equal(pkg.name, 'marshal-kit');
    assert.deepEqual(pkg.bin, { marshal: 'bin/marshal.js' });
  });

  it('depends at run time on exactly what src/ imports', () => {
    assert.deepEqual(Object.keys(pkg.dependencies).sort(), [...importedPackages(join(root, 'src'))].sort());
    assert.ok('tsx' in pkg.devDependencies && 'typescript' in pkg.devDependencies);
  });

  it('bin/marshal.js loads dist/, not the sources through a TypeScript loader', () => {
    const bin = readFileSync(join(root, 'bin', 'marshal.js'), 'utf8');
    const staticImports = [...bin.matchAll(/^import\s[^;]*?from\s+'([^']+)'/gm)].map((m) => m[1]);
    const dynamicImports = [...bin.matchAll(/\bimport\(([^)]*)\)/g)].map((m) => m[1]);
    assert.deepEqual(staticImports, ['node:fs']);
    assert.deepEqual(dynamicImports, ['entry.href']);
    assert.match(bin, /new URL\('\.\.\/dist\/cli\/main\.js', import\.meta\.url\)/);
    assert.doesNotMatch(bin, /tsx|\.ts['`]/);
  });

  it('marshal --version loads no module but bin/marshal.js (the start-up fast path)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'marshal-resolved-'));
    try {
      // A resolve hook (module.register) that appends every URL the process resolves to a file.
      const log = join(dir, 'resolved.log');
      const hooks = `import { appendFileSync } from 'node:fs';
        export async function resolve(s, c, next) {
          const r = await next(s, c);
          appendFileSync(${JSON.stringify(log)}, r.url + '\\n');
          return r;
        }`;
      const register = `import { register } from 'node:module';
        register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`;
      const withHook = ['--import', `data:text/javascript,${encodeURIComponent(register)}`];
      for (const flag of ['--version', '-V']) {
        rmSync(log, { force: true });
        const r = spawnSync(process.execPath, [...withHook, join(root, 'bin', 'marshal.js'), flag], {
          encoding: 'utf8',
        });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, `${pkg.version}\n`);
        const resolved = readFileSync(log, 'utf8').split('\n').filter(Boolean);
        assert.deepEqual(
          resolved.filter((u) => !u.startsWith('node:')),
          [pathToFileURL(join(root, 'bin', 'marshal.js')).href],
        );
      }
      // The hook sees what the CLI frame loads, so the check above can fail.
      rmSync(log, { force: true });
      const help = spawnSync(process.execPath, [...withHook, join(root, 'bin', 'marshal.js'), '--help']);
      assert.equal(help.status, 0);
      assert.ok(readFileSync(log, 'utf8').includes('/dist/cli/main.js'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bin/marshal.js without dist/ says so on one line and exits 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'marshal-nodist-'));
    try {
      mkdirSync(join(dir, 'bin'));
      copyFileSync(join(root, 'bin', 'marshal.js'), join(dir, 'bin', 'marshal.js'));
      const r = spawnSync(process.execPath, [join(dir, 'bin', 'marshal.js'), '--version'], {
        cwd: dir,
        encoding: 'utf8',
      });
      assert.equal(r.status, 1);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, 'marshal: dist/ is missing; run npm run build\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
